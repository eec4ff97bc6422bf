//! Static files and cache headers over HTTP, against a site root made here: the brotli or gzip
//! copy made at build time is chosen by `Accept-Encoding` (with `Vary: Accept-Encoding`),
//! hashed bundle names are immutable for a year, other files and HTML pages are `no-cache`.

use std::path::Path;

use crate::common::*;
use reqwest::{header, StatusCode};

const HASH: &str = "Xy3_Q0-abcdefghijklmno";
const PLAIN: &[u8] = b"\0asm plain bytes of the bundle";
const BROTLI: &[u8] = b"brotli copy";
const GZIP: &[u8] = b"gzip copy";

fn write(root: &Path, name: &str, bytes: &[u8]) {
    let path = root.join(name);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

struct Answer {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn get(server: &TestServer, path: &str, accept_encoding: Option<&str>) -> Answer {
    let mut request = server.bare_client().get(format!("{}{path}", server.base));
    if let Some(value) = accept_encoding {
        request = request.header(header::ACCEPT_ENCODING, value);
    }
    let response = request.send().await.expect("GET");
    Answer {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}

#[tokio::test]
async fn precompressed_files_and_cache_headers() {
    let site = tempfile::tempdir().expect("temp dir");
    let hashed = format!("pkg/keyflow.{HASH}.wasm");
    write(site.path(), &hashed, PLAIN);
    write(site.path(), &format!("{hashed}.br"), BROTLI);
    write(site.path(), &format!("{hashed}.gz"), GZIP);
    write(site.path(), "pkg/keyflow.wasm", PLAIN);
    write(site.path(), "favicon.ico", b"icon");
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("keyflow")
        .site_root(site.path().to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .build();
    let server = TestServer::start_with_options(Db::Sqlite, &[], options).await;
    let url = format!("/{hashed}");

    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), BROTLI),
        (Some("br;q=0.5, gzip"), Some("gzip"), GZIP),
        (Some("gzip"), Some("gzip"), GZIP),
        (Some("identity"), None, PLAIN),
        (None, None, PLAIN),
    ] {
        let answer = get(&server, &url, accept).await;
        assert_eq!(answer.status, StatusCode::OK, "{accept:?}");
        assert_eq!(
            answer.header(header::CONTENT_ENCODING),
            encoding,
            "{accept:?}"
        );
        assert_eq!(answer.body, body, "{accept:?}");
        assert_eq!(
            answer.header(header::CONTENT_TYPE),
            Some("application/wasm")
        );
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            Some("public, max-age=31536000, immutable"),
            "{accept:?}"
        );
        assert_eq!(
            answer.header(header::VARY).map(|v| v.to_ascii_lowercase()),
            Some("accept-encoding".to_owned())
        );
    }

    // Names without a content hash may change content: revalidated every time.
    for path in ["/pkg/keyflow.wasm", "/favicon.ico"] {
        let answer = get(&server, path, Some("br, gzip")).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            Some("no-cache"),
            "{path}"
        );
        assert_eq!(answer.header(header::CONTENT_ENCODING), None, "{path}");
    }

    // HTML pages (a flow page, the not-found page) are revalidated too.
    for (path, status) in [
        ("/if/flow/default-authentication-flow/", StatusCode::OK),
        ("/no/such/page", StatusCode::NOT_FOUND),
    ] {
        let answer = get(&server, path, Some("br, gzip")).await;
        assert_eq!(answer.status, status, "{path}");
        assert!(
            answer
                .header(header::CONTENT_TYPE)
                .is_some_and(|t| t.starts_with("text/html")),
            "{path}"
        );
        assert_eq!(
            answer.header(header::CACHE_CONTROL),
            Some("no-cache"),
            "{path}"
        );
    }
}
