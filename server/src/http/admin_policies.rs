//! `/api/v3/policies/all/…` (authentik's `Policy`: list, retrieve, delete), the per-kind paths
//! (`/api/v3/policies/expression/`, `/password/`, `/reputation/`, `/dummy/`, with that kind's
//! model; an expression that does not compile is a 400 on `expression` naming line and column)
//! and `/api/v3/policies/bindings/…` (`PolicyBinding`; the target is a flow or a stage binding).

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
use sea_orm::EntityTrait;
use serde_json::{json, Map, Value};

use super::admin_api::{
    actor, answer, api, body_object, created, error_response, no_content, ok, page_of,
    partial_group, partial_user, path_uuid, query_uuid, refuse, respond, typed, Refused,
};
use super::{executor::parse_body, AppState};
use crate::admin::{
    policies::{
        self, policy_config, policy_kind, PolicyBindingInput, PolicyBindingQuery, PolicyInput,
        PolicyKind, POLICY_KINDS,
    },
    AdminError,
};
use crate::store::{group, policy, policy_binding, user};

const BINDING_KEYS: &[&str] = &[
    "policy",
    "group",
    "user",
    "target",
    "negate",
    "enabled",
    "order",
    "timeout",
    "failure_result",
];

/// Keys of a policy body that are authentik's read-only fields (ignored on write).
const READ_ONLY: &[&str] = &[
    "pk",
    "component",
    "verbose_name",
    "verbose_name_plural",
    "meta_model_name",
    "bound_to",
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/api/v3/policies/all/", get(list_all))
        .route(
            "/api/v3/policies/all/{pk}/",
            get(retrieve_any).delete(destroy_any),
        )
        .route(
            "/api/v3/policies/bindings/",
            get(list_bindings).post(create_binding),
        )
        .route(
            "/api/v3/policies/bindings/{pk}/",
            get(retrieve_binding)
                .patch(update_binding)
                .put(update_binding)
                .delete(destroy_binding),
        );
    for kind in POLICY_KINDS {
        router = router
            .route(
                &format!("/api/v3/policies/{}/", kind.kind),
                get(list_kind).post(create_kind).layer(Extension(kind)),
            )
            .route(
                &format!("/api/v3/policies/{}/{{pk}}/", kind.kind),
                get(retrieve_kind)
                    .patch(update_kind)
                    .put(update_kind)
                    .delete(destroy_kind)
                    .layer(Extension(kind)),
            );
    }
    router
}

/// authentik's `Policy` (the fields every kind shares).
async fn policy_json(state: &AppState, row: &policy::Model) -> Result<Value, AdminError> {
    let bound_to = policies::bound_to(&state.services.db, row.id).await?;
    let (component, verbose_name, plural, meta) = match policy_kind(&row.kind) {
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
        "execution_logging": row.execution_logging,
        "component": component,
        "verbose_name": verbose_name,
        "verbose_name_plural": plural,
        "meta_model_name": meta,
        "bound_to": bound_to,
    }))
}

/// The kind's model (`ExpressionPolicy`, …).
async fn kind_policy_json(
    state: &AppState,
    kind: &PolicyKind,
    row: &policy::Model,
) -> Result<Value, AdminError> {
    let mut body = policy_json(state, row).await?;
    let config = policy_config(row);
    if let Value::Object(map) = &mut body {
        for field in kind.fields {
            if let Some(value) = config.get(*field) {
                map.insert((*field).to_owned(), value.clone());
            }
        }
    }
    Ok(body)
}

fn policy_input(body: Map<String, Value>) -> Result<PolicyInput, Refused> {
    let mut config = body;
    for key in READ_ONLY {
        config.remove(*key);
    }
    let name = match config.remove("name") {
        None => None,
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => {
            return Err(refuse(error_response(AdminError::field(
                "name",
                "Not a valid string.",
            ))))
        }
    };
    let execution_logging = match config.remove("execution_logging") {
        None => None,
        Some(Value::Bool(flag)) => Some(flag),
        Some(_) => {
            return Err(refuse(error_response(AdminError::field(
                "execution_logging",
                "Must be a valid boolean.",
            ))))
        }
    };
    Ok(PolicyInput {
        name,
        execution_logging,
        config,
    })
}

fn search(params: &HashMap<String, String>) -> Option<String> {
    params
        .get("search")
        .or_else(|| params.get("name"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

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
                policies::list_policies(
                    &state.services.db,
                    &actor,
                    None,
                    search(&params).as_deref(),
                )
                .await,
            )?;
            let (request, count, rows) = page_of(&params, rows)?;
            let mut results = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push(answer(policy_json(&state, row).await)?);
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
            let row = answer(
                policies::get_policy(&state.services.db, &actor, path_uuid(&pk)?, None).await,
            )?;
            Ok(ok(answer(policy_json(&state, &row).await)?))
        }
        .await,
    )
}

async fn destroy_any(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            answer(
                policies::delete_policy(&state.services.db, &actor, path_uuid(&pk)?, None).await,
            )?;
            Ok(no_content())
        }
        .await,
    )
}

async fn list_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static PolicyKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let rows = answer(
                policies::list_policies(
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
                results.push(answer(kind_policy_json(&state, kind, row).await)?);
            }
            Ok(request.respond(count, results))
        }
        .await,
    )
}

async fn create_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static PolicyKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::POST, peer).await)?;
            let body = body_object(api(parse_body(&headers, &body))?)?;
            let input = policy_input(body)?;
            let row = answer(
                policies::create_policy(&state.services.db, &actor, kind.kind, input).await,
            )?;
            Ok(created(answer(kind_policy_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

async fn retrieve_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static PolicyKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let row = answer(
                policies::get_policy(&state.services.db, &actor, path_uuid(&pk)?, Some(kind.kind))
                    .await,
            )?;
            Ok(ok(answer(kind_policy_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

async fn update_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static PolicyKind>,
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
            let input = policy_input(body)?;
            let partial = method == Method::PATCH;
            let row = answer(
                policies::update_policy(&state.services.db, &actor, kind.kind, id, input, partial)
                    .await,
            )?;
            Ok(ok(answer(kind_policy_json(&state, kind, &row).await)?))
        }
        .await,
    )
}

async fn destroy_kind(
    State(state): State<AppState>,
    Extension(kind): Extension<&'static PolicyKind>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::DELETE, peer).await)?;
            answer(
                policies::delete_policy(
                    &state.services.db,
                    &actor,
                    path_uuid(&pk)?,
                    Some(kind.kind),
                )
                .await,
            )?;
            Ok(no_content())
        }
        .await,
    )
}

// --- policy bindings -----------------------------------------------------------------------

/// authentik's `PolicyBinding`. keyflow's bindings never expire (`expiring` false).
async fn binding_json(state: &AppState, row: &policy_binding::Model) -> Result<Value, AdminError> {
    let db = &state.services.db;
    let policy_obj = match row.policy_id {
        Some(id) => match policy::Entity::find_by_id(id).one(db).await? {
            Some(policy) => policy_json(state, &policy).await?,
            None => Value::Null,
        },
        None => Value::Null,
    };
    let group_obj = match row.group_id {
        Some(id) => group::Entity::find_by_id(id)
            .one(db)
            .await?
            .map_or(Value::Null, |g| partial_group(&g)),
        None => Value::Null,
    };
    let user_obj = match row.user_id {
        Some(id) => user::Entity::find_by_id(id)
            .one(db)
            .await?
            .map_or(Value::Null, |u| partial_user(&u)),
        None => Value::Null,
    };
    Ok(json!({
        "pk": row.id,
        "policy": row.policy_id,
        "group": row.group_id,
        "user": row.user_id,
        "policy_obj": policy_obj,
        "group_obj": group_obj,
        "user_obj": user_obj,
        "target": row.target_id,
        "negate": row.negate,
        "enabled": row.enabled,
        "order": row.order,
        "timeout": row.timeout,
        "failure_result": row.failure_result,
        "expires": null,
        "expiring": false,
    }))
}

/// `GET /api/v3/policies/bindings/?target=&policy=&enabled=`
async fn list_bindings(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    respond(
        async {
            let actor = api(actor(&state, &headers, &Method::GET, peer).await)?;
            let query = PolicyBindingQuery {
                target: query_uuid(&params, "target")?,
                policy: query_uuid(&params, "policy")?,
                enabled: params.get("enabled").map(|v| v == "true" || v == "True"),
            };
            let rows =
                answer(policies::list_policy_bindings(&state.services.db, &actor, &query).await)?;
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
            let input: PolicyBindingInput = typed(&body, BINDING_KEYS)?;
            let row =
                answer(policies::create_policy_binding(&state.services.db, &actor, input).await)?;
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
            let row = answer(
                policies::get_policy_binding(&state.services.db, &actor, path_uuid(&pk)?).await,
            )?;
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
            let input: PolicyBindingInput = typed(&body, BINDING_KEYS)?;
            let partial = method == Method::PATCH;
            let row = answer(
                policies::update_policy_binding(&state.services.db, &actor, id, input, partial)
                    .await,
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
            answer(
                policies::delete_policy_binding(&state.services.db, &actor, path_uuid(&pk)?).await,
            )?;
            Ok(no_content())
        }
        .await,
    )
}
