//! `/api/v3/stages/all/…` (authentik's `Stage`: list, retrieve, delete, `used_by`), the
//! per-kind paths (`/api/v3/stages/identification/`, `/api/v3/stages/authenticator/totp/`, …,
//! one per [`STAGE_KINDS`] entry, with that kind's model) and `/api/v3/stages/prompt/prompts/…`
//! (`Prompt`).
//!
//! Secrets (an email stage's SMTP `password`, a captcha's `private_key`, an SMS stage's `auth`
//! token and `auth_password`, Duo's secret keys) are accepted on write and never sent back; a
//! write without them keeps the stored ones. Deleting a stage still bound in a flow answers 400
//! with the bindings (`used_by`) unless `?force=true`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, Method},
    response::Response,
    routing::get,
    Extension, Router,
};
use serde_json::{json, Map, Value};

use super::admin_api::{
    actor, answer, api, body_object, created, error_response, no_content, ok, page_of, path_uuid,
    query_flag, refuse, respond, Refused,
};
use super::admin_flows::flow_set_json;
use super::{executor::parse_body, AppState};
use crate::admin::{
    error::StageUse,
    stages::{self, public_config, stage_kind, StageInput, StageKind, STAGE_KINDS},
    AdminError,
};
use crate::store::{prompt, stage};

/// Keys of a stage body that are authentik's read-only fields (ignored on write).
const READ_ONLY: &[&str] = &[
    "pk",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "flow_set",
];

const PROMPT_KEYS: &[&str] = &[
    "name",
    "field_key",
    "label",
    "type",
    "required",
    "placeholder",
    "initial_value",
    "order",
    "sub_text",
    "placeholder_expression",
    "initial_value_expression",
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/v3/stages/all/", get(list_all))
        .route(
            "/api/v3/stages/all/{pk}/",
            get(retrieve_any).delete(destroy_any),
        )
        .route("/api/v3/stages/all/{pk}/used_by/", get(used_by))
        .route(
            "/api/v3/stages/prompt/prompts/",
            get(list_prompts).post(create_prompt),
        )
        .route(
            "/api/v3/stages/prompt/prompts/{pk}/",
            get(retrieve_prompt)
                .patch(update_prompt)
                .put(update_prompt)
                .delete(destroy_prompt),
        );
    for kind in STAGE_KINDS {
        router = router
            .route(
                &format!("/api/v3/stages/{}/", kind.path),
                get(list_kind).post(create_kind).layer(Extension(kind)),
            )
            .route(
                &format!("/api/v3/stages/{}/{{pk}}/", kind.path),
                get(retrieve_kind)
                    .patch(update_kind)
                    .put(update_kind)
                    .delete(destroy_kind)
                    .layer(Extension(kind)),
            );
    }
    router
}

/// authentik's `UsedBy` for a binding that uses a stage.
pub(crate) fn used_by_json(binding: &StageUse) -> Value {
    json!({
        "app": "authentik_flows",
        "model_name": "flowstagebinding",
        "pk": binding.binding.to_string(),
        "name": format!("Flow-stage binding #{} to {}", binding.order, binding.flow_slug),
        "action": "cascade",
    })
}

/// authentik's `Stage` (the fields every kind shares).
pub(crate) async fn stage_json(state: &AppState, row: &stage::Model) -> Result<Value, AdminError> {
    let flows = stages::stage_flows(&state.services.db, row.id).await?;
    let flow_set: Vec<Value> = flows.iter().map(|f| flow_set_json(state, f)).collect();
    let (component, verbose_name, plural, meta) = match stage_kind(&row.kind) {
        Some(kind) => (
            kind.component.to_owned(),
            kind.verbose_name.to_owned(),
            kind.verbose_name_plural(),
            kind.meta_model_name().to_owned(),
        ),
        None => (
            String::new(),
            row.kind.clone(),
            row.kind.clone(),
            String::new(),
        ),
    };
    Ok(json!({
        "pk": row.id,
        "name": row.name,
        "component": component,
        "verbose_name": verbose_name,
        "verbose_name_plural": plural,
        "meta_model_name": meta,
        "flow_set": flow_set,
    }))
}

/// The kind's model (`IdentificationStage`, …): the shared fields and the configuration
/// attributes authentik declares for it, secrets left out.
pub(crate) async fn kind_stage_json(
    state: &AppState,
    kind: &StageKind,
    row: &stage::Model,
) -> Result<Value, AdminError> {
    let mut body = stage_json(state, row).await?;
    let config = public_config(row);
    if let Value::Object(map) = &mut body {
        for field in kind.fields {
            match config.get(*field) {
                Some(value) => {
                    map.insert((*field).to_owned(), to_wire(kind, field, value));
                }
                // Objects of WebAuthn device types keyflow does not keep (authentik requires
                // the key; there are none to list).
                None if field.ends_with("_obj") => {
                    map.insert((*field).to_owned(), json!([]));
                }
                None => {}
            }
        }
    }
    Ok(body)
}

/// authentik sends TOTP `digits` as the text `"6"` / `"8"`.
fn to_wire(kind: &StageKind, field: &str, value: &Value) -> Value {
    match (kind.kind, field, value) {
        ("authenticator_totp", "digits", Value::Number(n)) => Value::String(n.to_string()),
        _ => value.clone(),
    }
}

fn from_wire(kind: &StageKind, config: &mut Map<String, Value>) {
    if kind.kind == "authenticator_totp" {
        if let Some(Value::String(text)) = config.get("digits") {
            if let Ok(n) = text.trim().parse::<u64>() {
                config.insert("digits".into(), json!(n));
            }
        }
    }
}

/// A stage body as the service layer's input.
fn stage_input(kind: &StageKind, body: Map<String, Value>) -> Result<StageInput, Refused> {
    let mut config = body;
    for key in READ_ONLY {
        config.remove(*key);
    }
    let name = match config.remove("name") {
        None => None,
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(Value::Null) => {
            return Err(refuse(error_response(AdminError::field(
                "name",
                "This field may not be null.",
            ))))
        }
        Some(_) => {
            return Err(refuse(error_response(AdminError::field(
                "name",
                "Not a valid string.",
            ))))
        }
    };
    from_wire(kind, &mut config);
    Ok(StageInput { name, config })
}

fn search(params: &HashMap<String, String>) -> Option<String> {
    params
        .get("search")
        .or_else(|| params.get("name"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `GET /api/v3/stages/all/?search=&page=&page_size=`: every stage, as `Stage`.
async fn list_all(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let rows = answer(
                stages::list_stages(&state.services.db, &actor, None, search(&params).as_deref())
                    .await,
            )?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(stage_json(&state, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

async fn retrieve_any(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row =
                answer(stages::get_stage(&state.services.db, &actor, path_uuid(&pk)?, None).await)?;
            Ok(ok(answer(stage_json(&state, &row).await)?))
        }
        .await,
    )
}

/// `DELETE /api/v3/stages/all/{pk}/[?force=true]`
async fn destroy_any(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            let force = query_flag(&params, "force");
            answer(
                stages::delete_stage(&state.services.db, &actor, path_uuid(&pk)?, None, force)
                    .await,
            )?;
            Ok(no_content())
        }
        .await,
    )
}

/// `GET /api/v3/stages/all/{pk}/used_by/`: the bindings that use the stage (`[UsedBy]`).
async fn used_by(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let uses = answer(stages::used_by(&state.services.db, &actor, path_uuid(&pk)?).await)?;
            Ok(ok(Value::Array(uses.iter().map(used_by_json).collect())))
        }
        .await,
    )
}

/// `GET /api/v3/stages/<kind>/?search=&page=&page_size=`
async fn list_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static StageKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let rows = answer(
                stages::list_stages(
                    &state.services.db,
                    &actor,
                    Some(kind.kind),
                    search(&params).as_deref(),
                )
                .await,
            )?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(kind_stage_json(&state, kind, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

/// `POST /api/v3/stages/<kind>/`: 201 with the new stage.
async fn create_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static StageKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input = stage_input(kind, body)?;
            let row =
                answer(stages::create_stage(&state.services.db, &actor, kind.kind, input).await)?;
            Ok(created(answer(kind_stage_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

async fn retrieve_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static StageKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row = answer(
                stages::get_stage(&state.services.db, &actor, path_uuid(&pk)?, Some(kind.kind))
                    .await,
            )?;
            Ok(ok(answer(kind_stage_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

/// `PATCH` / `PUT /api/v3/stages/<kind>/{pk}/`
async fn update_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static StageKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &method, peer).await)?;
            let id = path_uuid(&pk)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input = stage_input(kind, body)?;
            let partial = method == Method::PATCH;
            let row = answer(
                stages::update_stage(&state.services.db, &actor, kind.kind, id, input, partial)
                    .await,
            )?;
            Ok(ok(answer(kind_stage_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

async fn destroy_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static StageKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            let force = query_flag(&params, "force");
            answer(
                stages::delete_stage(
                    &state.services.db,
                    &actor,
                    path_uuid(&pk)?,
                    Some(kind.kind),
                    force,
                )
                .await,
            )?;
            Ok(no_content())
        }
        .await,
    )
}

// --- prompt fields -------------------------------------------------------------------------

/// authentik's `Prompt`, with the prompt stages that show it.
async fn prompt_json(state: &AppState, row: &prompt::Model) -> Result<Value, AdminError> {
    let mut stages_obj = Vec::new();
    if let Some(kind) = stage_kind("prompt") {
        for stage in stages::prompt_stages(&state.services.db, row.id).await? {
            stages_obj.push(kind_stage_json(state, kind, &stage).await?);
        }
    }
    Ok(json!({
        "pk": row.id,
        "name": row.name,
        "field_key": row.field_key,
        "label": row.label,
        "type": row.kind,
        "required": row.required,
        "placeholder": row.placeholder,
        "initial_value": row.initial_value,
        "order": row.order,
        "prompt_stages_obj": stages_obj,
        "sub_text": row.sub_text,
        "placeholder_expression": row.placeholder_expression,
        "initial_value_expression": row.initial_value_expression,
    }))
}

fn prompt_fields(body: &Map<String, Value>) -> Map<String, Value> {
    PROMPT_KEYS
        .iter()
        .filter_map(|k| body.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

async fn list_prompts(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let rows = answer(
                stages::list_prompts(&state.services.db, &actor, search(&params).as_deref()).await,
            )?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(prompt_json(&state, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

async fn create_prompt(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let row = answer(
                stages::create_prompt(&state.services.db, &actor, prompt_fields(&body)).await,
            )?;
            Ok(created(answer(prompt_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn retrieve_prompt(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row =
                answer(stages::get_prompt(&state.services.db, &actor, path_uuid(&pk)?).await)?;
            Ok(ok(answer(prompt_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn update_prompt(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &method, peer).await)?;
            let id = path_uuid(&pk)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let partial = method == Method::PATCH;
            let row = answer(
                stages::update_prompt(
                    &state.services.db,
                    &actor,
                    id,
                    prompt_fields(&body),
                    partial,
                )
                .await,
            )?;
            Ok(ok(answer(prompt_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn destroy_prompt(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            answer(stages::delete_prompt(&state.services.db, &actor, path_uuid(&pk)?).await)?;
            Ok(no_content())
        }
        .await,
    )
}
