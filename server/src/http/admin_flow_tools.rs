//! Flow tools for administrators (issue #14), all superuser-only (writes also need the CSRF
//! token, see `admin`):
//! - `GET /api/v3/flows/instances/{slug}/diagram/`: authentik's `FlowDiagram`
//!   (`{"diagram": "<mermaid>"}`); `diagram_model/` gives keyflow's node/edge model.
//! - `POST /api/v3/flows/instances/{slug}/simulate/`: a dry run (`admin::simulate`); the body
//!   is a [`SimulationInput`], the answer a `Simulation`. POST because it runs policies, though
//!   it writes nothing.
//! - `GET /api/v3/flows/instances/{slug}/lint/`: the linter's report (`admin::lint`).

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::json;

use super::{admin, errors::ApiError, AppState};
use crate::admin::{
    diagram::{self, DiagramError},
    lint,
    simulate::{self, SimulateError, SimulationInput},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v3/flows/instances/{slug}/diagram/", get(diagram))
        .route(
            "/api/v3/flows/instances/{slug}/diagram_model/",
            get(diagram_model),
        )
        .route("/api/v3/flows/instances/{slug}/simulate/", post(simulate))
        .route("/api/v3/flows/instances/{slug}/lint/", get(lint))
}

impl From<DiagramError> for ApiError {
    fn from(error: DiagramError) -> Self {
        match error {
            DiagramError::FlowNotFound => ApiError::NotFound,
            DiagramError::Engine(e) => e.into(),
        }
    }
}

async fn diagram(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    let model = diagram::for_flow(&state.services, &slug).await?;
    Ok(Json(json!({ "diagram": diagram::mermaid(&model) })).into_response())
}

async fn diagram_model(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    Ok(Json(diagram::for_flow(&state.services, &slug).await?).into_response())
}

async fn lint(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    Ok(Json(lint::lint_flow(&state.services, &slug).await?).into_response())
}

fn field_error(field: &str, message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ field: [message] }))).into_response()
}

async fn simulate(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::POST).await?;
    let input: SimulationInput = if body.iter().all(u8::is_ascii_whitespace) {
        SimulationInput::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("JSON parse error - {e}")))?
    };
    match simulate::simulate(&state.services, &slug, input).await {
        Ok(simulation) => Ok(Json(simulation).into_response()),
        Err(SimulateError::FlowNotFound) => Err(ApiError::NotFound),
        Err(error @ SimulateError::UserNotFound(_)) => Ok(field_error("user", error.to_string())),
        Err(error @ SimulateError::InvalidContext(_)) => {
            Ok(field_error("context", error.to_string()))
        }
        Err(SimulateError::Engine(error)) => Err(error.into()),
    }
}
