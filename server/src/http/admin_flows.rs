//! `/api/v3/flows/instances/…` (authentik's `Flow`, looked up by slug) and
//! `/api/v3/flows/bindings/…` (`FlowStageBinding`), plus keyflow's atomic reorder:
//! `POST /api/v3/flows/instances/{slug}/reorder_bindings/` with `{"bindings": [pk, …]}` (the
//! flow's binding pks, first runs first) answers the bindings in their new order, or 400 when
//! the list is not exactly the flow's bindings (an editor showing a stale flow).
//!
//! Versions (keyflow's own paths): `GET …/instances/{slug}/versions/` (newest first, without
//! snapshots), `GET …/versions/{number}/` (with the blueprint `snapshot`),
//! `GET …/versions/diff/?from=&to=` (`{"from", "to", "diff"}`, a line diff) and
//! `POST …/versions/{number}/rollback/` (the new version).

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::admin_api::{
    actor, answer, api, body_object, created, no_content, ok, page_of, path_uuid, query_uuid,
    refuse, respond, typed, Refused,
};
use super::{executor::parse_body, AppState};
use crate::admin::{
    flows::{self, BindingInput, BindingQuery, FlowInput, FlowQuery},
    versions, AdminError,
};
use crate::store::{flow, flow_stage_binding, flow_version, stage};

const FLOW_KEYS: &[&str] = &[
    "name",
    "slug",
    "title",
    "designation",
    "background",
    "policy_engine_mode",
    "compatibility_mode",
    "layout",
    "denied_action",
    "authentication",
];

const BINDING_KEYS: &[&str] = &[
    "target",
    "stage",
    "evaluate_on_plan",
    "re_evaluate_policies",
    "order",
    "policy_engine_mode",
    "invalid_response_action",
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v3/flows/instances/",
            get(list_flows).post(create_flow),
        )
        .route(
            "/api/v3/flows/instances/{slug}/",
            get(retrieve_flow)
                .patch(update_flow)
                .put(update_flow)
                .delete(destroy_flow),
        )
        .route(
            "/api/v3/flows/instances/{slug}/reorder_bindings/",
            post(reorder_bindings),
        )
        .route("/api/v3/flows/instances/{slug}/export/", get(export_flow))
        .route(
            "/api/v3/flows/instances/{slug}/versions/",
            get(list_versions),
        )
        .route(
            "/api/v3/flows/instances/{slug}/versions/diff/",
            get(diff_versions),
        )
        .route(
            "/api/v3/flows/instances/{slug}/versions/{number}/",
            get(retrieve_version),
        )
        .route(
            "/api/v3/flows/instances/{slug}/versions/{number}/rollback/",
            post(rollback_version),
        )
        .route(
            "/api/v3/flows/bindings/",
            get(list_bindings).post(create_binding),
        )
        .route(
            "/api/v3/flows/bindings/{pk}/",
            get(retrieve_binding)
                .patch(update_binding)
                .put(update_binding)
                .delete(destroy_binding),
        )
}

/// authentik's `Flow`.
pub(crate) async fn flow_json(state: &AppState, row: &flow::Model) -> Result<Value, AdminError> {
    let links = flows::flow_links(&state.services.db, row.id).await?;
    let background_url = if row.background.is_empty() {
        state.services.settings.default_background.clone()
    } else {
        row.background.clone()
    };
    Ok(json!({
        "pk": row.id,
        "policybindingmodel_ptr_id": row.id,
        "name": row.name,
        "slug": row.slug,
        "title": row.title,
        "designation": row.designation,
        "background": row.background,
        "background_url": background_url,
        "background_themed_urls": null,
        "stages": links.stages,
        "policies": links.policies,
        "cache_count": 0,
        "policy_engine_mode": row.policy_engine_mode,
        "compatibility_mode": row.compatibility_mode,
        "export_url": format!("/api/v3/flows/instances/{}/export/", row.slug),
        "layout": row.layout,
        "denied_action": row.denied_action,
        "authentication": row.authentication,
    }))
}

/// authentik's `FlowSet` (a flow as listed in a stage's `flow_set`).
pub(crate) fn flow_set_json(state: &AppState, row: &flow::Model) -> Value {
    let background_url = if row.background.is_empty() {
        state.services.settings.default_background.clone()
    } else {
        row.background.clone()
    };
    json!({
        "pk": row.id,
        "policybindingmodel_ptr_id": row.id,
        "name": row.name,
        "slug": row.slug,
        "title": row.title,
        "designation": row.designation,
        "background_url": background_url,
        "policy_engine_mode": row.policy_engine_mode,
        "compatibility_mode": row.compatibility_mode,
        "export_url": format!("/api/v3/flows/instances/{}/export/", row.slug),
        "layout": row.layout,
        "denied_action": row.denied_action,
    })
}

/// authentik's `FlowStageBinding`.
pub(crate) async fn binding_json(
    state: &AppState,
    row: &flow_stage_binding::Model,
) -> Result<Value, AdminError> {
    use sea_orm::EntityTrait;
    let stage_obj = match stage::Entity::find_by_id(row.stage_id)
        .one(&state.services.db)
        .await?
    {
        Some(stage) => super::admin_stages::stage_json(state, &stage).await?,
        None => Value::Null,
    };
    Ok(json!({
        "pk": row.id,
        "policybindingmodel_ptr_id": row.id,
        "target": row.flow_id,
        "stage": row.stage_id,
        "stage_obj": stage_obj,
        "evaluate_on_plan": row.evaluate_on_plan,
        "re_evaluate_policies": row.re_evaluate_policies,
        "order": row.order,
        "policy_engine_mode": row.policy_engine_mode,
        "invalid_response_action": row.invalid_response_action,
    }))
}

fn non_empty(params: &HashMap<String, String>, key: &str) -> Option<String> {
    params
        .get(key)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `GET /api/v3/flows/instances/?search=&designation=&slug=&ordering=&page=&page_size=`
async fn list_flows(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let query = FlowQuery {
                search: non_empty(&params, "search"),
                designation: non_empty(&params, "designation"),
                slug: non_empty(&params, "slug"),
                ordering: non_empty(&params, "ordering"),
            };
            let rows = answer(flows::list_flows(&state.services.db, &actor, &query).await)?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(flow_json(&state, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

/// `POST /api/v3/flows/instances/`: 201 with the new flow.
async fn create_flow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input: FlowInput = typed(&body, FLOW_KEYS)?;
            let row = answer(flows::create_flow(&state.services.db, &actor, input).await)?;
            Ok(created(answer(flow_json(&state, &row).await)?))
        }
        .await,
    )
}

/// `GET /api/v3/flows/instances/{slug}/`
async fn retrieve_flow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row = answer(flows::get_flow(&state.services.db, &actor, &slug).await)?;
            Ok(ok(answer(flow_json(&state, &row).await)?))
        }
        .await,
    )
}

/// `PATCH` / `PUT /api/v3/flows/instances/{slug}/`
async fn update_flow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &method, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input: FlowInput = typed(&body, FLOW_KEYS)?;
            let partial = method == Method::PATCH;
            let row = answer(
                flows::update_flow(&state.services.db, &actor, &slug, input, partial).await,
            )?;
            Ok(ok(answer(flow_json(&state, &row).await)?))
        }
        .await,
    )
}

/// `DELETE /api/v3/flows/instances/{slug}/`: 204.
async fn destroy_flow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            answer(flows::delete_flow(&state.services.db, &actor, &slug).await)?;
            Ok(no_content())
        }
        .await,
    )
}

/// `POST /api/v3/flows/instances/{slug}/reorder_bindings/` with `{"bindings": [pk, …]}`.
async fn reorder_bindings(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    #[derive(serde::Deserialize)]
    struct Reorder {
        bindings: Vec<Uuid>,
    }
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            if !body.contains_key(flows::REORDER_FIELD) {
                return Err(refuse(super::admin_api::error_response(AdminError::field(
                    flows::REORDER_FIELD,
                    "This field is required.",
                ))));
            }
            let input: Reorder = typed(&body, &[flows::REORDER_FIELD])?;
            let rows = answer(
                flows::reorder_bindings(&state.services.db, &actor, &slug, &input.bindings).await,
            )?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(binding_json(&state, row).await)?);
            }
            Ok(ok(Value::Array(results)))
        }
        .await,
    )
}

/// `GET /api/v3/flows/instances/{slug}/export/`: the flow as a blueprint download.
async fn export_flow(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            answer(flows::get_flow(&state.services.db, &actor, &slug).await)?;
            let yaml = crate::blueprints::export_flow(&state.services.db, &slug)
                .await
                .map_err(|e| {
                    refuse(super::errors::ApiError::Internal(e.to_string()).into_response())
                })?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/yaml".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!("attachment; filename=\"flow_{slug}.yaml\""),
                    ),
                ],
                yaml,
            )
                .into_response())
        }
        .await,
    )
}

/// `GET /api/v3/flows/bindings/?target=&stage=&ordering=order|-order`
async fn list_bindings(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let query = BindingQuery {
                target: query_uuid(&params, "target")?,
                stage: query_uuid(&params, "stage")?,
                descending: params.get("ordering").is_some_and(|o| o == "-order"),
            };
            let rows = answer(flows::list_bindings(&state.services.db, &actor, &query).await)?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(binding_json(&state, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

async fn create_binding(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input: BindingInput = typed(&body, BINDING_KEYS)?;
            let row = answer(flows::create_binding(&state.services.db, &actor, input).await)?;
            Ok(created(answer(binding_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn retrieve_binding(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row =
                answer(flows::get_binding(&state.services.db, &actor, path_uuid(&pk)?).await)?;
            Ok(ok(answer(binding_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn update_binding(
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
            let input: BindingInput = typed(&body, BINDING_KEYS)?;
            let partial = method == Method::PATCH;
            let row = answer(
                flows::update_binding(&state.services.db, &actor, id, input, partial).await,
            )?;
            Ok(ok(answer(binding_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn destroy_binding(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            answer(flows::delete_binding(&state.services.db, &actor, path_uuid(&pk)?).await)?;
            Ok(no_content())
        }
        .await,
    )
}

// --- versions ------------------------------------------------------------------------------

fn version_json(row: &flow_version::Model, with_snapshot: bool) -> Value {
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

fn version_number(text: &str) -> Result<i32, Refused> {
    text.trim()
        .parse::<i32>()
        .map_err(|_| refuse(super::errors::ApiError::NotFound.into_response()))
}

async fn list_versions(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let rows = answer(versions::list_versions(&state.services.db, &actor, &slug).await)?;
            Ok(ok(Value::Array(
                rows.iter().map(|v| version_json(v, false)).collect(),
            )))
        }
        .await,
    )
}

async fn retrieve_version(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((slug, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let number = version_number(&number)?;
            let row =
                answer(versions::get_version(&state.services.db, &actor, &slug, number).await)?;
            Ok(ok(version_json(&row, true)))
        }
        .await,
    )
}

async fn diff_versions(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let mut errors = crate::admin::FieldErrors::default();
            let mut number = |key: &str| match params.get(key).map(|v| v.trim().parse::<i32>()) {
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    errors.add(key, "A valid integer is required.");
                    0
                }
                None => {
                    errors.add(key, "This field is required.");
                    0
                }
            };
            let (from, to) = (number("from"), number("to"));
            answer(errors.into_result())?;
            let diff =
                answer(versions::diff_versions(&state.services.db, &actor, &slug, from, to).await)?;
            Ok(ok(json!({"from": from, "to": to, "diff": diff})))
        }
        .await,
    )
}

async fn rollback_version(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path((slug, number)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let number = version_number(&number)?;
            let row = answer(versions::rollback(&state.services.db, &actor, &slug, number).await)?;
            Ok(ok(version_json(&row, false)))
        }
        .await,
    )
}
