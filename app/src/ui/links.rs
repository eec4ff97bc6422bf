//! URLs the UI puts into `href`, `src` and CSS. They come from the server, but the browser is the
//! last line of defence: nothing that could run script (`javascript:`) or break out of a CSS
//! `url()` is ever rendered.

use crate::protocol::{flow_page_url, FlowInfo};

pub const DEFAULT_BACKGROUND: &str = "/static/flow_background.svg";
pub const DEFAULT_AVATAR: &str = "/static/user_default.svg";
pub const LOGIN_URL: &str = "/flows/-/default/authentication/";
pub const LOGOUT_URL: &str = "/flows/-/default/invalidation/";
const CANCEL_URL: &str = "/flows/-/cancel/";

/// A same-site path (`/…`, not `//host`) or an absolute http(s) URL.
pub fn safe_href(url: &str) -> Option<&str> {
    let lower = url.trim_start().to_ascii_lowercase();
    let relative = url.starts_with('/') && !url.starts_with("//") && !url.starts_with("/\\");
    let absolute = lower.starts_with("https://") || lower.starts_with("http://");
    (relative || absolute).then_some(url)
}

/// `safe_href` plus nothing that could end a quoted CSS `url("…")`.
fn safe_css_url(url: &str) -> Option<&str> {
    safe_href(url).filter(|u| {
        !u.chars().any(|c| {
            c.is_control() || c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '(' | ')')
        })
    })
}

/// Inline style of the page behind the card: the flow's background, else ours.
pub fn background_style(info: Option<&FlowInfo>) -> String {
    let url = info
        .and_then(|i| safe_css_url(&i.background))
        .unwrap_or(DEFAULT_BACKGROUND);
    format!("background-image: url(\"{url}\")")
}

pub fn avatar_src(avatar: &str) -> String {
    safe_css_url(avatar).unwrap_or(DEFAULT_AVATAR).to_owned()
}

/// Abandons the running plan and comes back to a fresh start of the same flow ("Not you?").
pub fn restart_via_cancel(slug: &str, query: &str) -> String {
    let next = flow_page_url(slug, query);
    let encoded = serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default();
    format!("{CANCEL_URL}?{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_urls_are_never_links() {
        assert_eq!(safe_href("javascript:alert(1)"), None);
        assert_eq!(safe_href(" JavaScript:alert(1)"), None);
        assert_eq!(safe_href("//evil.example/"), None);
        assert_eq!(safe_href("/if/flow/x/"), Some("/if/flow/x/"));
        assert_eq!(
            safe_href("https://app.example/cb"),
            Some("https://app.example/cb")
        );
    }

    #[test]
    fn a_background_cannot_escape_css_url() {
        let info = FlowInfo {
            title: "t".into(),
            background: "/a.png\");color:red;(\"".into(),
            background_themed_urls: None,
            cancel_url: CANCEL_URL.into(),
            layout: Default::default(),
        };
        assert_eq!(
            background_style(Some(&info)),
            format!("background-image: url(\"{DEFAULT_BACKGROUND}\")")
        );
    }

    #[test]
    fn not_you_restarts_the_same_flow() {
        assert_eq!(
            restart_via_cancel("login", "next=/app"),
            "/flows/-/cancel/?next=%2Fif%2Fflow%2Flogin%2F%3Fnext%3D%2Fapp"
        );
    }
}
