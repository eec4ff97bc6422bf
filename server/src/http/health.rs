//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode};

use super::AppState;

pub async fn live() -> StatusCode {
    StatusCode::OK
}

/// Ready when the database answers.
pub async fn ready(State(state): State<AppState>) -> StatusCode {
    match state.services.db.ping().await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
