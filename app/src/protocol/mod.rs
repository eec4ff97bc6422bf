//! The flow executor's wire format, shared by the server (which emits it) and the browser (which
//! renders it), so the two cannot drift. Names and shapes follow authentik's protocol exactly:
//! existing authentik clients drive keyflow unchanged. Pure serde, no Leptos or server types.

mod challenges;
mod errors;
mod messages;
mod responses;

pub use challenges::*;
pub use errors::*;
pub use messages::*;
pub use responses::*;

/// Component names of the flow executor protocol (the `component` discriminator).
pub mod component {
    pub const IDENTIFICATION: &str = "ak-stage-identification";
    pub const PASSWORD: &str = "ak-stage-password";
    pub const ACCESS_DENIED: &str = "ak-stage-access-denied";
    pub const FLOW_ERROR: &str = "ak-stage-flow-error";
    pub const REDIRECT: &str = "xak-flow-redirect";
    pub const USER_LOGIN: &str = "ak-stage-user-login";
    pub const PROMPT: &str = "ak-stage-prompt";
    pub const EMAIL: &str = "ak-stage-email";
    pub const CAPTCHA: &str = "ak-stage-captcha";
    pub const CONSENT: &str = "ak-stage-consent";
    pub const AUTHENTICATOR_TOTP: &str = "ak-stage-authenticator-totp";
    pub const AUTHENTICATOR_STATIC: &str = "ak-stage-authenticator-static";
    pub const AUTHENTICATOR_WEBAUTHN: &str = "ak-stage-authenticator-webauthn";
    pub const AUTHENTICATOR_VALIDATE: &str = "ak-stage-authenticator-validate";
    pub const AUTHENTICATOR_SMS: &str = "ak-stage-authenticator-sms";
    pub const AUTHENTICATOR_DUO: &str = "ak-stage-authenticator-duo";
    pub const AUTHENTICATOR_EMAIL: &str = "ak-stage-authenticator-email";
}

/// Where the executor API lives for a flow slug; `query` is the page's raw query string.
pub fn executor_url(slug: &str, query: &str) -> String {
    let encoded: String = serde_urlencoded::to_string([("query", query)]).unwrap_or_default();
    format!("/api/v3/flows/executor/{slug}/?{encoded}")
}

/// The browser page of a flow.
pub fn flow_page_url(slug: &str, query: &str) -> String {
    if query.is_empty() {
        format!("/if/flow/{slug}/")
    } else {
        format!("/if/flow/{slug}/?{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executor_url_encodes_the_page_query() {
        assert_eq!(
            executor_url("login", "next=/a&b=c"),
            "/api/v3/flows/executor/login/?query=next%3D%2Fa%26b%3Dc"
        );
        assert_eq!(
            executor_url("login", ""),
            "/api/v3/flows/executor/login/?query="
        );
    }
}
