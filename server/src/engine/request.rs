//! What the engine knows about the HTTP request, without knowing HTTP.

/// Facts about the request that stages and policies may use.
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub client_ip: String,
    /// Host as the browser sent it, with port (`localhost:3000`).
    pub host: String,
    /// `http` or `https`.
    pub scheme: String,
    pub user_agent: String,
    /// The executor request's own query (not the nested `query`): used for denied handling.
    pub own_params: Vec<(String, String)>,
    /// Path of the HTTP request (`/api/v3/flows/executor/<slug>/`) and its method.
    pub path: String,
    pub method: String,
    /// Request headers (names lower-case) without credentials (cookies, authorization).
    pub headers: Vec<(String, String)>,
    /// The clock policies read (`None`: the system clock); set by tests.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

impl RequestInfo {
    /// `scheme://host[:port]`, the origin WebAuthn and absolute links use.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The host without port: the WebAuthn relying-party id.
    pub fn host_without_port(&self) -> &str {
        match self.host.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => &self.host,
        }
    }

    pub fn own_param(&self, key: &str) -> Option<&str> {
        self.own_params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The page query a flow runs with (`next`, `flow_token`, `itoken`, …), parsed once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowQuery {
    pub raw: String,
    pub params: Vec<(String, String)>,
}

impl FlowQuery {
    pub fn parse(raw: &str) -> Self {
        let params = serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default();
        Self {
            raw: raw.to_owned(),
            params,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A `next` target is only followed when it stays on this origin: a path starting with one `/`.
/// Anything else (absolute URLs, `//host`, `/\host`, control characters) is refused.
pub fn is_safe_relative_redirect(target: &str) -> bool {
    target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.chars().any(|c| c.is_control() || c == '\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_origin_paths_are_safe_redirects() {
        assert!(is_safe_relative_redirect("/"));
        assert!(is_safe_relative_redirect("/if/user/?a=b"));
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "evil",
            "",
            "/a\nb",
            "javascript:alert(1)",
        ] {
            assert!(!is_safe_relative_redirect(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn host_without_port_strips_only_a_numeric_port() {
        let mut info = RequestInfo {
            host: "localhost:3000".into(),
            ..Default::default()
        };
        assert_eq!(info.host_without_port(), "localhost");
        info.host = "example.com".into();
        assert_eq!(info.host_without_port(), "example.com");
    }

    #[test]
    fn flow_query_parses_next() {
        let query = FlowQuery::parse("next=%2Fapp%3Fx%3D1&foo=bar");
        assert_eq!(query.get("next"), Some("/app?x=1"));
        assert_eq!(query.get("foo"), Some("bar"));
        assert_eq!(query.get("nope"), None);
    }
}
