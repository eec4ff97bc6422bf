//! authentik's admin REST paths for flows, stage bindings, stages, prompt fields, policies and
//! policy bindings, answered by the admin service layer ([`crate::admin`]). This module holds
//! what they share (who is calling, errors, typed bodies, paging) and [`routes`]; the shapes
//! are in [`super::admin_flows`], [`super::admin_stages`] and [`super::admin_policies`].
//!
//! Every path is for superusers (Bearer API token, or a session whose writes carry the CSRF
//! token); errors are DRF's: 400 `{"field": ["message"]}`, 403/404 `{"detail": …}`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::{
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use serde_json::{json, Value};

use super::resource::Registry;
use super::{
    admin::{self, Caller, NO_PERMISSION},
    errors::ApiError,
    pagination::PageRequest,
    AppState,
};
use crate::admin::{Actor, AdminError};
use crate::store::{group, user};

/// Every admin collection served as a [`Resource`](super::resource::Resource): the REST paths
/// and the admin UI's server functions both dispatch through it.
pub fn registry() -> Registry {
    Registry::default()
        .with(super::admin_flows::FlowsResource)
        .with(super::admin_flows::BindingsResource)
        .with_all(super::admin_stages::resources())
        .with_all(super::admin_policies::resources())
        .with(super::users::UsersResource)
        .with(super::groups::GroupsResource)
        .with(super::invitations::InvitationsResource)
        .with(super::admin_events::EventsResource)
        .with_all(super::admin_security::resources())
}

/// Every admin object route, merged into the application router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(registry().routes())
        .merge(super::admin_flows::routes())
}

/// The superuser calling, as the service layer's [`Actor`].
pub(crate) async fn actor(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    peer: SocketAddr,
) -> Result<Actor, ApiError> {
    let caller: Caller = admin::require_superuser(state, headers, method).await?;
    let user = caller.user();
    Ok(Actor {
        user_id: user.id,
        username: user.username.clone(),
        // `require_superuser` let the caller in: a superuser by its own flag or a group's.
        is_superuser: true,
        client_ip: peer.ip().to_string(),
        session: caller.session_id(),
        origin: origin(state, headers),
    })
}

/// `<scheme>://<host>` of this request (https when keyflow is configured for TLS).
pub(crate) fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if state.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// A service-layer error as DRF answers it.
pub(crate) fn error_response(error: AdminError) -> Response {
    match error {
        AdminError::Forbidden => ApiError::Forbidden(NO_PERMISSION).into_response(),
        AdminError::NotFound => ApiError::NotFound.into_response(),
        AdminError::MethodNotAllowed(_) => (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({"detail": error.to_string()})),
        )
            .into_response(),
        AdminError::Invalid(errors) => {
            (StatusCode::BAD_REQUEST, Json(json!(errors))).into_response()
        }
        AdminError::StageInUse { ref used_by, .. } => {
            let used_by: Vec<Value> = used_by
                .iter()
                .map(super::admin_stages::used_by_json)
                .collect();
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"detail": error.to_string(), "used_by": used_by})),
            )
                .into_response()
        }
        AdminError::Password(error) => ApiError::from(error).into_response(),
        AdminError::Database(error) => ApiError::from(error).into_response(),
        AdminError::Internal(message) => ApiError::Internal(message).into_response(),
    }
}

/// An error answer, boxed (a `Response` is large; handlers pass it up with `?`).
pub(crate) type Refused = Box<Response>;

/// A handler's result: the answer either way.
pub(crate) type Answer = Result<Response, Refused>;

pub(crate) fn refuse(response: Response) -> Refused {
    Box::new(response)
}

pub(crate) fn answer<T>(result: Result<T, AdminError>) -> Result<T, Refused> {
    result.map_err(|e| refuse(error_response(e)))
}

pub(crate) fn api<T>(result: Result<T, ApiError>) -> Result<T, Refused> {
    result.map_err(|e| refuse(e.into_response()))
}

/// The page of `rows` the query asks for, with the total count (or DRF's invalid-page answer).
pub(crate) fn page_of<T>(
    params: &HashMap<String, String>,
    rows: Vec<T>,
) -> Result<(PageRequest, u64, Vec<T>), Refused> {
    let request = PageRequest::from_query(params).map_err(|e| refuse(e.into_response()))?;
    let count = rows.len() as u64;
    request
        .check(count)
        .map_err(|e| refuse(e.into_response()))?;
    let skip = usize::try_from((request.page - 1) * request.page_size).unwrap_or(usize::MAX);
    let take = usize::try_from(request.page_size).unwrap_or(usize::MAX);
    Ok((
        request,
        count,
        rows.into_iter().skip(skip).take(take).collect(),
    ))
}

/// API timestamps, as authentik writes them.
pub(crate) fn api_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// authentik's `PartialUser`.
pub(crate) fn partial_user(account: &user::Model) -> Value {
    json!({
        "pk": account.id,
        "username": account.username,
        "name": account.name,
        "is_active": account.is_active,
        "last_login": account.last_login.map(api_time),
        "email": account.email,
        "attributes": account.attributes,
        "uid": account.uuid.simple().to_string(),
    })
}

/// authentik's `PartialGroup` (`num_pk`: the first five digits of the UUID as an integer).
pub(crate) fn partial_group(row: &group::Model) -> Value {
    let digits = row.id.as_u128().to_string();
    let num_pk: i32 = digits[..digits.len().min(5)].parse().unwrap_or_default();
    json!({
        "pk": row.id,
        "num_pk": num_pk,
        "name": row.name,
        "is_superuser": row.is_superuser,
        "attributes": row.attributes,
    })
}

/// 201 with the created object.
pub(crate) fn created(body: Value) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

pub(crate) fn ok(body: Value) -> Response {
    Json(body).into_response()
}

pub(crate) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Flattens a handler's `Answer` (both arms are responses).
pub(crate) fn respond(answer: Answer) -> Response {
    match answer {
        Ok(response) => response,
        Err(response) => *response,
    }
}
