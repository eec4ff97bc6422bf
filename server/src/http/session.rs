//! Sessions at the HTTP edge: reading the session cookie, minting one when a flow starts,
//! writing cookies back after the engine changed the session, and the CSRF check.
//!
//! Cookies: `keyflow_session` (HttpOnly, the random token) and `keyflow_csrf` (readable by the
//! page, echoed in `X-CSRF-Token` / `X-authentik-CSRF`; it must equal the session's own CSRF
//! token, checked in constant time).

use axum::http::{header, HeaderMap, HeaderValue};
use chrono::Utc;
use subtle::ConstantTimeEq;

use super::AppState;
use crate::engine::request::RequestInfo;
use crate::engine::EngineResult;
use crate::sessions::{self, ActiveSession};

pub const SESSION_COOKIE: &str = "keyflow_session";
pub const CSRF_COOKIE: &str = "keyflow_csrf";
pub const CSRF_HEADERS: [&str; 2] = ["x-csrf-token", "x-authentik-csrf"];

pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The session the request's cookie points to, if it is live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> EngineResult<Option<ActiveSession>> {
    match cookie_value(headers, SESSION_COOKIE) {
        Some(token) if !token.is_empty() => {
            Ok(sessions::load(&state.services.db, token, Utc::now()).await?)
        }
        _ => Ok(None),
    }
}

/// The current session, or a new anonymous one (flows need somewhere to keep their plan).
pub async fn current_or_new(
    state: &AppState,
    headers: &HeaderMap,
    info: &RequestInfo,
) -> EngineResult<ActiveSession> {
    if let Some(session) = current(state, headers).await? {
        return Ok(session);
    }
    let ttl = state.services.settings.anonymous_session_ttl;
    Ok(sessions::create_anonymous(
        &state.services.db,
        Utc::now(),
        ttl,
        &info.client_ip,
        &info.user_agent,
    )
    .await?)
}

/// `Set-Cookie` headers for a session whose token was minted during this request.
pub fn set_cookie_headers(state: &AppState, session: &ActiveSession) -> Vec<HeaderValue> {
    let Some(token) = &session.new_token else {
        return vec![];
    };
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let lifetime = if session.persistent {
        let seconds = (session.expires_at - Utc::now()).num_seconds().max(0);
        format!("; Max-Age={seconds}")
    } else {
        String::new()
    };
    [
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}{lifetime}"),
        format!(
            "{CSRF_COOKIE}={}; Path=/; SameSite=Lax{secure}{lifetime}",
            session.csrf_token
        ),
    ]
    .into_iter()
    .filter_map(|c| HeaderValue::from_str(&c).ok())
    .collect()
}

/// Whether a state-changing request carries the session's CSRF token (header or form field).
pub fn csrf_ok(session: &ActiveSession, headers: &HeaderMap, form_token: Option<&str>) -> bool {
    let sent = CSRF_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        .or(form_token);
    match sent {
        Some(sent) => bool::from(sent.as_bytes().ct_eq(session.csrf_token.as_bytes())),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; keyflow_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }
}
