//! `POST /api/v3/managed/blueprints/apply/`: applies a blueprint sent by an administrator (API
//! token, or session with its CSRF token). The body is the YAML itself (`?dry_run=true` for a
//! preview) or JSON `{"content": "<yaml>", "dry_run": bool}`. The answer is the change list;
//! an invalid blueprint is a 400 naming the entry and field, and changes nothing.

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{admin, errors::ApiError, AppState};
use crate::blueprints::ApplyError;

#[derive(Debug, Default, Deserialize)]
pub struct ApplyQuery {
    #[serde(default)]
    dry_run: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApplyBody {
    content: String,
    #[serde(default)]
    dry_run: bool,
}

fn is_true(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

fn field_error(field: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ field: [message] }))).into_response()
}

pub async fn apply_blueprint(
    State(state): State<AppState>,
    Query(query): Query<ApplyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::POST).await?;
    let author = crate::admin::Actor {
        user_id: caller.user().id,
        username: caller.user().username.clone(),
        // `require_superuser` let the caller in: a superuser by its own flag or a group's.
        is_superuser: true,
        client_ip: String::new(),
        session: caller.session_id(),
        origin: super::admin_api::origin(&state, &headers),
    };
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let (content, dry_run) = if mime == "application/json" {
        let body: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?;
        match body.get("content") {
            None => return Ok(field_error("content", "This field is required.")),
            Some(Value::String(_)) => {}
            Some(_) => return Ok(field_error("content", "Not a valid string.")),
        }
        match serde_json::from_value::<ApplyBody>(body) {
            Ok(parsed) => (parsed.content, parsed.dry_run),
            Err(_) => return Ok(field_error("dry_run", "Must be a valid boolean.")),
        }
    } else {
        let Ok(text) = String::from_utf8(body.to_vec()) else {
            return Err(ApiError::BadRequest(
                "The blueprint must be UTF-8 text.".into(),
            ));
        };
        (text, query.dry_run.as_deref().is_some_and(is_true))
    };
    if content.trim().is_empty() {
        return Ok(field_error("content", "This field may not be blank."));
    }
    let applied =
        crate::admin::versions::apply_upload(&state.services.db, &author, "api", content, dry_run)
            .await;
    match applied {
        Ok(report) => Ok((StatusCode::OK, Json(report)).into_response()),
        Err(ApplyError::Invalid(error)) => Ok((
            StatusCode::BAD_REQUEST,
            Json(json!({"detail": error.to_string(), "error": error})),
        )
            .into_response()),
        Err(ApplyError::Database(e)) => Err(e.into()),
    }
}
