//! Who is calling the REST API, and whether they may administer. This mirrors authentik's DRF
//! set-up: an `Authorization: Bearer <API token>` header is tried first and needs no CSRF token
//! (a foreign page cannot make the browser attach it); otherwise the session cookie counts, and
//! because a browser attaches cookies to any site's requests, a session's unsafe requests must
//! echo the session's CSRF token. Admin endpoints then require a superuser.

use axum::http::{HeaderMap, Method};
use chrono::Utc;
use uuid::Uuid;

use super::{errors::ApiError, session, AppState};
use crate::auth::tokens;
use crate::sessions::ActiveSession;
use crate::store::user;

pub const CSRF_FAILED: &str = "CSRF Failed: CSRF token missing or incorrect.";
pub const NO_PERMISSION: &str = "You do not have permission to perform this action.";

/// An authenticated API caller.
pub enum Caller {
    /// A valid API token of an active user.
    Token(user::Model),
    /// A signed-in browser session.
    Session {
        session: Box<ActiveSession>,
        user: user::Model,
    },
}

impl Caller {
    pub fn user(&self) -> &user::Model {
        match self {
            Caller::Token(user) | Caller::Session { user, .. } => user,
        }
    }

    /// The caller's own session, when they came with one.
    pub fn session_id(&self) -> Option<Uuid> {
        match self {
            Caller::Token(_) => None,
            Caller::Session { session, .. } => Some(session.id),
        }
    }
}

/// GET, HEAD and OPTIONS change nothing, so they need no CSRF token.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The caller, or `None` when the request carries no credentials at all. A bad token is an
/// error rather than anonymous, so a typo in a script fails loudly.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Option<Caller>, ApiError> {
    if let Some(auth) = headers.get(axum::http::header::AUTHORIZATION) {
        let key = auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::Forbidden("Invalid authorization header."))?;
        return match tokens::user_for_key(&state.services.db, key, tokens::INTENT_API, Utc::now())
            .await?
        {
            Some(user) => Ok(Some(Caller::Token(user))),
            None => Err(ApiError::Forbidden("Token invalid/expired")),
        };
    }
    let Some(mut session) = session::current(state, headers).await? else {
        return Ok(None);
    };
    let Some(user) = session.user.take() else {
        return Ok(None);
    };
    if !is_safe(method) && !session::csrf_ok(&session, headers, None) {
        return Err(ApiError::Forbidden(CSRF_FAILED));
    }
    Ok(Some(Caller::Session {
        session: Box::new(session),
        user,
    }))
}

/// The caller, who must be signed in.
pub async fn require_user(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Caller, ApiError> {
    authenticate(state, headers, method)
        .await?
        .ok_or(ApiError::Unauthenticated)
}

/// The caller, who must be a superuser: by the account's own flag or through a superuser group
/// (or one of its ancestors).
pub async fn require_superuser(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Caller, ApiError> {
    let caller = require_user(state, headers, method).await?;
    let user = caller.user();
    if user.is_superuser
        || crate::admin::groups::grants_superuser(&state.services.db, user.id).await?
    {
        Ok(caller)
    } else {
        Err(ApiError::Forbidden(NO_PERMISSION))
    }
}
