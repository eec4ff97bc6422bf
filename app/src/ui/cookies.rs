//! The CSRF cookie, read wherever the page is rendered: from the request's `Cookie` header on the
//! server, from `document.cookie` in the browser. The server sets it next to the (HttpOnly)
//! session cookie and leaves it readable on purpose, so its presence also tells the UI, on both
//! sides alike, whether a session exists at all.

const CSRF_COOKIE: &str = "keyflow_csrf";

/// The CSRF token of the current session, if there is one.
pub fn csrf_token() -> Option<String> {
    find_cookie(&cookie_header()?, CSRF_COOKIE)
}

fn find_cookie(header: &str, name: &str) -> Option<String> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

#[cfg(feature = "ssr")]
fn cookie_header() -> Option<String> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let values: Vec<&str> = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Some(values.join("; "))
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
fn cookie_header() -> Option<String> {
    use wasm_bindgen::JsCast;
    leptos::prelude::document()
        .dyn_into::<web_sys::HtmlDocument>()
        .ok()?
        .cookie()
        .ok()
}

#[cfg(not(any(feature = "ssr", feature = "hydrate")))]
fn cookie_header() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_csrf_cookie_among_others() {
        let header = "a=1; keyflow_csrf=tok; keyflow_session=s";
        assert_eq!(find_cookie(header, CSRF_COOKIE).as_deref(), Some("tok"));
        assert_eq!(find_cookie("keyflow_csrf=", CSRF_COOKIE), None);
        assert_eq!(find_cookie("", CSRF_COOKIE), None);
    }
}
