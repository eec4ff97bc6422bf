//! The flow tools for administrators (issue #14), as actions of `flows/instances` (so the REST
//! paths and the admin UI's server functions answer through the same code; superuser-only, and
//! the POSTs need the CSRF token, like every [`super::resource`] route):
//! - `GET …/{slug}/diagram/`: authentik's `FlowDiagram` (`{"diagram": "<mermaid>"}`);
//!   `diagram_model/` gives keyflow's node/edge model.
//! - `POST …/{slug}/simulate/`: a dry run (`admin::simulate`); the body is a
//!   [`SimulationInput`], the answer a `Simulation`. POST because it runs policies, though it
//!   writes nothing.
//! - `GET …/{slug}/lint/`: the linter's report (`admin::lint`).
//! - `GET …/{slug}/versions/` (newest first, without snapshots), `GET …/versions/diff/?from=&to=`
//!   (`{"from", "to", "diff"}`, a line diff) and `POST …/versions/rollback/` with
//!   `{"number": N}` (answers the new version). `GET …/versions/{number}/` (with the blueprint
//!   `snapshot`) is a plain route in `admin_flows`.

use serde_json::{json, Value};

use super::resource::{typed_input, ActionAnswer, ActionScope, ActionSpec, Body, Cx};

use crate::admin::{
    diagram::{self, DiagramError},
    lint,
    simulate::{self, SimulateError, SimulationInput},
    versions, AdminError, FieldErrors,
};
use crate::store::flow_version;

/// A tool's action spec (every tool works on one flow); `safe` ones are GETs.
pub const fn tool(name: &'static str, safe: bool) -> ActionSpec {
    ActionSpec {
        name,
        scope: ActionScope::Object,
        safe,
    }
}

const SIMULATE_KEYS: &[&str] = &["user", "context", "client_ip", "user_agent"];

impl From<DiagramError> for AdminError {
    fn from(error: DiagramError) -> Self {
        match error {
            DiagramError::FlowNotFound => AdminError::NotFound,
            DiagramError::Engine(e) => AdminError::Internal(e.to_string()),
        }
    }
}

impl From<SimulateError> for AdminError {
    fn from(error: SimulateError) -> Self {
        match error {
            SimulateError::FlowNotFound => AdminError::NotFound,
            SimulateError::UserNotFound(_) => AdminError::field("user", error.to_string()),
            SimulateError::InvalidContext(_) => AdminError::field("context", error.to_string()),
            SimulateError::Engine(e) => AdminError::Internal(e.to_string()),
        }
    }
}

/// A flow version as the API shows it; `with_snapshot` adds the blueprint text.
pub fn version_json(row: &flow_version::Model, with_snapshot: bool) -> Value {
    let mut body = json!({
        "number": row.number,
        "author": row.author_name,
        "author_id": row.author_id,
        "created": super::admin_api::api_time(row.created_at),
        "summary": row.summary,
    });
    if with_snapshot {
        body["snapshot"] = Value::String(row.snapshot.clone());
    }
    body
}

/// Runs tool `name` on flow `slug`; `None` when `name` is not a tool.
pub async fn run(
    cx: &Cx<'_>,
    name: &str,
    slug: &str,
    body: Body,
) -> Option<Result<ActionAnswer, AdminError>> {
    let services = &cx.state.services;
    let answer = match name {
        "diagram" => diagram::for_flow(services, slug)
            .await
            .map(|model| json!({ "diagram": diagram::mermaid(&model) }))
            .map_err(AdminError::from),
        "diagram_model" => json_of(diagram::for_flow(services, slug).await),
        "lint" => json_of(lint::lint_flow(services, slug).await),
        "simulate" => simulate_flow(cx, slug, &body).await,
        "versions" => versions::list_versions(&services.db, cx.actor, slug)
            .await
            .map(|rows| rows.iter().map(|v| version_json(v, false)).collect()),
        "versions/diff" => diff(cx, slug, &body).await,
        "versions/rollback" => rollback(cx, slug, &body).await,
        _ => return None,
    };
    Some(answer.map(ActionAnswer::Json))
}

fn json_of<T: serde::Serialize, E: Into<AdminError>>(
    result: Result<T, E>,
) -> Result<Value, AdminError> {
    let value = result.map_err(Into::into)?;
    serde_json::to_value(value).map_err(|e| AdminError::Internal(e.to_string()))
}

async fn simulate_flow(cx: &Cx<'_>, slug: &str, body: &Body) -> Result<Value, AdminError> {
    let unknown: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|key| !SIMULATE_KEYS.contains(key))
        .collect();
    if !unknown.is_empty() {
        return Err(AdminError::field(
            crate::admin::error::NON_FIELD_ERRORS,
            format!("Unknown field(s): {}.", unknown.join(", ")),
        ));
    }
    let input: SimulationInput = typed_input(body, SIMULATE_KEYS)?;
    json_of(simulate::simulate(&cx.state.services, slug, input).await)
}

/// A version number from a body value (a number, or text from a query string).
fn number_of(body: &Body, key: &str, errors: &mut FieldErrors) -> i32 {
    let parsed = match body.get(key) {
        None | Some(Value::Null) => {
            errors.add(key, "This field is required.");
            return 0;
        }
        Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse::<i32>().ok(),
        Some(_) => None,
    };
    parsed.unwrap_or_else(|| {
        errors.add(key, "A valid integer is required.");
        0
    })
}

async fn diff(cx: &Cx<'_>, slug: &str, body: &Body) -> Result<Value, AdminError> {
    let mut errors = FieldErrors::default();
    let (from, to) = (
        number_of(body, "from", &mut errors),
        number_of(body, "to", &mut errors),
    );
    errors.into_result()?;
    let diff = versions::diff_versions(&cx.state.services.db, cx.actor, slug, from, to).await?;
    Ok(json!({ "from": from, "to": to, "diff": diff }))
}

async fn rollback(cx: &Cx<'_>, slug: &str, body: &Body) -> Result<Value, AdminError> {
    let mut errors = FieldErrors::default();
    let number = number_of(body, "number", &mut errors);
    errors.into_result()?;
    let row = versions::rollback(&cx.state.services.db, cx.actor, slug, number).await?;
    Ok(version_json(&row, false))
}
