//! Embeds every blueprint under `blueprints/default/` into the binary, in file-name order, so a
//! new YAML dropped there is picked up by the next build without touching any code.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints/default");
    // A directory here means "any file in it changed, or a file was added or removed".
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        // A build without its default flows would start a server nobody can log in to.
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    files.sort();
    let mut code = String::from("&[\n");
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("]\n");
    let out = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    if let Err(e) = std::fs::write(Path::new(&out).join("default_blueprints.rs"), code) {
        println!("cargo:warning=cannot write the embedded blueprint list: {e}");
    }
}
