//! The one place engine and API errors become HTTP responses. Internals are logged with a
//! request id; only superusers see the error text in a flow-error challenge.

use app::protocol::{Challenge, ChallengeKind, FlowErrorChallenge};
use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use crate::engine::EngineError;

#[derive(Debug)]
pub enum ApiError {
    NotFound,
    BadRequest(String),
    Unauthenticated,
    Forbidden(&'static str),
    UnsupportedMediaType,
    /// Overloaded for a moment (every password-hashing slot busy): 503, try again.
    Unavailable(&'static str),
    Internal(String),
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::FlowNotFound => ApiError::NotFound,
            EngineError::Busy => ApiError::Unavailable(crate::engine::executor::TRY_AGAIN),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(error: sea_orm::DbErr) -> Self {
        ApiError::Internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "Not found.".to_owned()),
            ApiError::BadRequest(detail) => (StatusCode::BAD_REQUEST, detail),
            ApiError::Unauthenticated => (
                StatusCode::FORBIDDEN,
                "Authentication credentials were not provided.".to_owned(),
            ),
            ApiError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail.to_owned()),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type in request.".to_owned(),
            ),
            ApiError::Unavailable(detail) => (StatusCode::SERVICE_UNAVAILABLE, detail.to_owned()),
            ApiError::Internal(error) => {
                let request_id = uuid::Uuid::new_v4().simple().to_string();
                tracing::error!(%request_id, %error, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Internal error (request id {request_id})."),
                )
            }
        };
        (status, Json(json!({ "detail": detail }))).into_response()
    }
}

/// A flow that failed unexpectedly: logged in full, shown as a flow-error challenge (HTTP 200,
/// as authentik does) with the error text only for superusers.
pub fn flow_error_challenge(error: &EngineError, is_superuser: bool) -> Challenge {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    tracing::error!(%request_id, %error, "flow execution failed");
    Challenge::bare(ChallengeKind::FlowError(FlowErrorChallenge {
        request_id,
        error: is_superuser.then(|| error.to_string()),
    }))
}
