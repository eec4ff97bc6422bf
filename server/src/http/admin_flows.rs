//! `/api/v3/flows/instances/…` (authentik's `Flow`, looked up by slug) and
//! `/api/v3/flows/bindings/…` (`FlowStageBinding`), plus keyflow's atomic reorder:
//! `POST /api/v3/flows/instances/{slug}/reorder_bindings/` with `{"bindings": [pk, …]}` (the
//! flow's binding pks, first runs first) answers the bindings in their new order, or 400 when
//! the list is not exactly the flow's bindings (an editor showing a stale flow).
//!
//! The flow tools (diagram, simulator, linter, versions) are actions of the flows collection,
//! in [`super::admin_flow_tools`]; only `GET …/versions/{number}/` (one version with its
//! blueprint `snapshot`) is a plain route here.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, State},
    http::{HeaderMap, Method},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde_json::{json, Value};
use uuid::Uuid;

use super::admin_api::{actor, answer, api, ok, refuse, respond, Refused};
use super::admin_flow_tools::{self, tool, version_json};
use super::resource::{
    filter_text, json_rows, typed_input, uuid_filter, uuid_id, ActionAnswer, ActionScope,
    ActionSpec, Body, Cx, ListQuery, Resource,
};
use super::AppState;
use crate::admin::{
    flows::{self, BindingInput, BindingQuery, FlowInput, FlowQuery},
    versions, AdminError,
};
use crate::store::{flow, flow_stage_binding, stage};

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

/// The one version path (flows and bindings themselves are [`FlowsResource`] and
/// [`BindingsResource`]).
pub fn routes() -> Router<AppState> {
    Router::new().route(
        // `{id}`: the name the flows collection's own routes give this segment.
        "/api/v3/flows/instances/{id}/versions/{number}/",
        get(retrieve_version),
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

/// `flows/instances`: authentik's `FlowViewSet`, looked up by slug. List filters: `search`,
/// `designation`, `slug`, `ordering`. Actions: `reorder_bindings` (POST
/// `{"bindings": [pk, …]}`, the flow's binding pks, first runs first: answers the bindings in
/// their new order, or 400 when the list is not exactly the flow's bindings) and `export`
/// (GET, the flow as a blueprint download).
pub struct FlowsResource;

const FLOW_ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "reorder_bindings",
        scope: ActionScope::Object,
        safe: false,
    },
    ActionSpec {
        name: "export",
        scope: ActionScope::Object,
        safe: true,
    },
    tool("diagram", true),
    tool("diagram_model", true),
    tool("lint", true),
    tool("simulate", false),
    tool("versions", true),
    tool("versions/diff", true),
    tool("versions/rollback", false),
];

#[async_trait::async_trait]
impl Resource for FlowsResource {
    fn collection(&self) -> String {
        "flows/instances".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let filters = FlowQuery {
            search: filter_text(query, "search"),
            designation: filter_text(query, "designation"),
            slug: filter_text(query, "slug"),
            ordering: filter_text(query, "ordering"),
        };
        let rows = flows::list_flows(&cx.state.services.db, cx.actor, &filters).await?;
        json_rows(&rows, |row| flow_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, slug: &str) -> Result<Value, AdminError> {
        let row = flows::get_flow(&cx.state.services.db, cx.actor, slug).await?;
        flow_json(cx.state, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let input: FlowInput = typed_input(&body, FLOW_KEYS)?;
        let row = flows::create_flow(&cx.state.services.db, cx.actor, input).await?;
        flow_json(cx.state, &row).await
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        slug: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        let input: FlowInput = typed_input(&body, FLOW_KEYS)?;
        let row = flows::update_flow(&cx.state.services.db, cx.actor, slug, input, partial).await?;
        flow_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, slug: &str, _query: &ListQuery) -> Result<(), AdminError> {
        flows::delete_flow(&cx.state.services.db, cx.actor, slug).await
    }

    fn actions(&self) -> &'static [ActionSpec] {
        FLOW_ACTIONS
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        let slug = id.ok_or(AdminError::NotFound)?;
        match name {
            "reorder_bindings" => {
                #[derive(serde::Deserialize)]
                struct Reorder {
                    bindings: Vec<Uuid>,
                }
                if !body.contains_key(flows::REORDER_FIELD) {
                    return Err(AdminError::field(
                        flows::REORDER_FIELD,
                        "This field is required.",
                    ));
                }
                let input: Reorder = typed_input(&body, &[flows::REORDER_FIELD])?;
                let rows =
                    flows::reorder_bindings(&cx.state.services.db, cx.actor, slug, &input.bindings)
                        .await?;
                Ok(ActionAnswer::Json(Value::Array(
                    json_rows(&rows, |row| binding_json(cx.state, row)).await?,
                )))
            }
            "export" => {
                flows::get_flow(&cx.state.services.db, cx.actor, slug).await?;
                let yaml = crate::blueprints::export_flow(&cx.state.services.db, slug)
                    .await
                    .map_err(|e| AdminError::Internal(e.to_string()))?;
                Ok(ActionAnswer::File {
                    content_type: "application/yaml",
                    filename: format!("flow_{slug}.yaml"),
                    body: yaml,
                })
            }
            tool_name => admin_flow_tools::run(cx, tool_name, slug, body)
                .await
                .unwrap_or(Err(AdminError::NotFound)),
        }
    }
}

/// `flows/bindings`: authentik's `FlowStageBindingViewSet`. List filters: `target`, `stage`,
/// `ordering` (`order` or `-order`).
pub struct BindingsResource;

#[async_trait::async_trait]
impl Resource for BindingsResource {
    fn collection(&self) -> String {
        "flows/bindings".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let filters = BindingQuery {
            target: uuid_filter(query, "target")?,
            stage: uuid_filter(query, "stage")?,
            descending: query.get("ordering").is_some_and(|o| o == "-order"),
        };
        let rows = flows::list_bindings(&cx.state.services.db, cx.actor, &filters).await?;
        json_rows(&rows, |row| binding_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = flows::get_binding(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        binding_json(cx.state, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let input: BindingInput = typed_input(&body, BINDING_KEYS)?;
        let row = flows::create_binding(&cx.state.services.db, cx.actor, input).await?;
        binding_json(cx.state, &row).await
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        let id = uuid_id(id)?;
        let input: BindingInput = typed_input(&body, BINDING_KEYS)?;
        let row =
            flows::update_binding(&cx.state.services.db, cx.actor, id, input, partial).await?;
        binding_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        flows::delete_binding(&cx.state.services.db, cx.actor, uuid_id(id)?).await
    }
}

// --- versions ------------------------------------------------------------------------------

fn version_number(text: &str) -> Result<i32, Refused> {
    text.trim()
        .parse::<i32>()
        .map_err(|_| refuse(super::errors::ApiError::NotFound.into_response()))
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
