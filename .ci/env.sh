# Sourced by .ci/serve and .ci/test after `cd` to the repository root: the tool PATH.
# npm's wasm-opt (binaryen 132) must come BEFORE any /usr/bin/wasm-opt: cargo-leptos takes the
# first wasm-opt / wasm-bindgen it finds on PATH, with no version check (Debian's binaryen 108
# builds a .wasm that fails to hydrate).
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# The release site (JS/WASM/CSS) goes to its own directory, read by both cargo-leptos and the
# server: a `cargo leptos watch`/`build` running at the same time (target/site) cannot empty it
# under a running test.
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site-release}"
