//! Static files of the site root (`target/site`: the WASM bundle, its JS and CSS, `public/`)
//! and the cache headers of everything the browser loads:
//!
//! - files: the brotli or gzip copy made at build time (`cargo leptos build --release
//!   --precompress` writes `<file>.br` and `<file>.gz`) when `Accept-Encoding` allows it, with
//!   `Vary: Accept-Encoding`;
//! - file names that carry cargo-leptos' content hash (`/pkg/keyflow.<hash>.wasm`, with
//!   `hash-files = true`): `Cache-Control: public, max-age=31536000, immutable`, since a new
//!   build gets new names; every other file: `no-cache` (revalidated with `Last-Modified`);
//! - HTML pages: `no-cache`, so a new build's page (naming the new bundle) is seen at once.

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::AppState;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const REVALIDATE: &str = "no-cache";
/// cargo-leptos' hash: an MD5 digest in unpadded base64url.
const HASH_LEN: usize = 22;

/// Whether `path` names a file in the package directory `pkg_dir` whose name carries a
/// cargo-leptos content hash: `/<pkg_dir>/<stem>.<22 base64url characters>.<extension>`.
pub fn is_hashed_asset(path: &str, pkg_dir: &str) -> bool {
    let pkg = pkg_dir.trim_matches('/');
    let Some(name) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(pkg))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return false;
    };
    let mut parts = name.rsplit('.');
    let (Some(_extension), Some(hash), Some(stem)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !stem.is_empty()
        && !name.contains('/')
        && hash.len() == HASH_LEN
        && hash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The router's fallback: a file of the site root if there is one (precompressed copy chosen by
/// `Accept-Encoding`, cache headers by name), else Leptos' page (its "not found" view).
pub async fn static_or_page(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    // The admin bundle lives in a site root of its own (see `admin_ui::admin_options`).
    let admin;
    let options = if path.starts_with(&format!("/{}/", app::admin::PKG_DIR)) {
        admin = super::admin_ui::admin_options(&state.leptos_options);
        &admin
    } else {
        &state.leptos_options
    };
    let mut file_request = Request::builder()
        .method(request.method().clone())
        .uri(request.uri().clone());
    for name in [
        header::ACCEPT_ENCODING,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::RANGE,
        header::IF_RANGE,
    ] {
        if let Some(value) = request.headers().get(&name) {
            file_request = file_request.header(name, value);
        }
    }
    let served = match file_request.body(Body::empty()) {
        Ok(file_request) => ServeDir::new(&*options.site_root)
            .precompressed_br()
            .precompressed_gzip()
            .append_index_html_on_directories(false)
            .oneshot(file_request)
            .await
            .ok(),
        Err(_) => None,
    };
    if let Some(response) =
        served.filter(|r| r.status().is_success() || r.status() == StatusCode::NOT_MODIFIED)
    {
        let mut response = response.into_response();
        let headers = response.headers_mut();
        let cache = if is_hashed_asset(&path, &options.site_pkg_dir) {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        return response;
    }
    let page = leptos_axum::file_and_error_handler::<AppState, _>(app::shell);
    page(request.uri().clone(), State(state.clone()), request).await
}

/// Middleware: HTML answers without a `Cache-Control` of their own get `no-cache`.
pub async fn html_revalidates(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::is_hashed_asset;

    #[test]
    fn hashed_names_are_recognised_in_the_package_directory_only() {
        let hash = "AbCdEfGhIjKlMnOpQr-_12";
        assert!(is_hashed_asset(&format!("/pkg/keyflow.{hash}.wasm"), "pkg"));
        assert!(is_hashed_asset(&format!("/pkg/keyflow.{hash}.js"), "/pkg/"));
        assert!(!is_hashed_asset("/pkg/keyflow.wasm", "pkg"));
        assert!(!is_hashed_asset(
            &format!("/pkg/keyflow.{hash}x.css"),
            "pkg"
        ));
        assert!(!is_hashed_asset(
            &format!("/static/keyflow.{hash}.css"),
            "pkg"
        ));
        assert!(!is_hashed_asset(&format!("/pkg/.{hash}.css"), "pkg"));
        assert!(!is_hashed_asset(&format!("/pkg/a/b.{hash}.css"), "pkg"));
        assert!(!is_hashed_asset(
            &format!("/pkgx/keyflow.{hash}.css"),
            "pkg"
        ));
    }
}
