//! `/api/v3/stages/all/…` (authentik's `Stage`: list, retrieve, delete, `used_by`), the
//! per-kind paths (`/api/v3/stages/identification/`, `/api/v3/stages/authenticator/totp/`, …,
//! one per [`STAGE_KINDS`] entry, with that kind's model) and `/api/v3/stages/prompt/prompts/…`
//! (`Prompt`).
//!
//! Secrets (an email stage's SMTP `password`, a captcha's `private_key`, an SMS stage's `auth`
//! token and `auth_password`, Duo's secret keys) are accepted on write and never sent back; a
//! write without them keeps the stored ones. Deleting a stage still bound in a flow answers 400
//! with the bindings (`used_by`) unless `?force=true`.

use serde_json::{json, Map, Value};

use super::admin_flows::flow_set_json;
use super::resource::{
    filter_text, json_rows, query_flag, uuid_id, ActionAnswer, ActionScope, ActionSpec, Body, Cx,
    ListQuery, Resource,
};
use super::AppState;
use crate::admin::{
    error::StageUse,
    forms,
    stages::{self, public_config, stage_kind, StageInput, StageKind, PROMPT_KEYS, STAGE_KINDS},
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

/// Every stage collection: `stages/all`, one per kind, and the prompt fields.
pub fn resources() -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> = vec![Box::new(StagesResource), Box::new(PromptsResource)];
    all.extend(
        STAGE_KINDS
            .iter()
            .map(|kind| Box::new(StageKindResource(kind)) as Box<dyn Resource>),
    );
    all
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
fn stage_input(kind: &StageKind, body: Map<String, Value>) -> Result<StageInput, AdminError> {
    let mut config = body;
    for key in READ_ONLY {
        config.remove(*key);
    }
    let name = match config.remove("name") {
        None => None,
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(Value::Null) => return Err(AdminError::field("name", "This field may not be null.")),
        Some(_) => return Err(AdminError::field("name", "Not a valid string.")),
    };
    from_wire(kind, &mut config);
    Ok(StageInput { name, config })
}

/// `search`, or authentik's `name` filter.
fn search(query: &ListQuery) -> Option<String> {
    filter_text(query, "search").or_else(|| filter_text(query, "name"))
}

const ALL_ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "used_by",
        scope: ActionScope::Object,
        safe: true,
    },
    ActionSpec {
        name: "types",
        scope: ActionScope::Collection,
        safe: true,
    },
    ActionSpec {
        name: "kinds",
        scope: ActionScope::Collection,
        safe: true,
    },
];

/// keyflow's `form` action (GET, on a kind's collection): the kind's form, derived from its
/// typed configuration (`admin::forms`).
const FORM_ACTIONS: &[ActionSpec] = &[ActionSpec {
    name: "form",
    scope: ActionScope::Collection,
    safe: true,
}];

/// A form as an action's answer.
fn form_answer(
    form: Option<app::admin::config_form::FormDescriptor>,
) -> Result<ActionAnswer, AdminError> {
    let form = form.ok_or(AdminError::NotFound)?;
    Ok(ActionAnswer::Json(
        serde_json::to_value(form).map_err(|e| AdminError::Internal(format!("form: {e}")))?,
    ))
}

/// `stages/all`: every stage as authentik's `Stage` (list, retrieve, delete; created and
/// edited through its kind's collection). Actions: `used_by` (`[UsedBy]`) and `types`
/// (`[TypeCreate]`, the kinds one can create).
pub struct StagesResource;

#[async_trait::async_trait]
impl Resource for StagesResource {
    fn collection(&self) -> String {
        "stages/all".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let rows = stages::list_stages(
            &cx.state.services.db,
            cx.actor,
            None,
            search(query).as_deref(),
        )
        .await?;
        json_rows(&rows, |row| stage_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = stages::get_stage(&cx.state.services.db, cx.actor, uuid_id(id)?, None).await?;
        stage_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, query: &ListQuery) -> Result<(), AdminError> {
        let force = query_flag(query, "force");
        stages::delete_stage(&cx.state.services.db, cx.actor, uuid_id(id)?, None, force).await
    }

    fn actions(&self) -> &'static [ActionSpec] {
        ALL_ACTIONS
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        _body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        match (name, id) {
            ("used_by", Some(id)) => {
                let uses = stages::used_by(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
                Ok(ActionAnswer::Json(Value::Array(
                    uses.iter().map(used_by_json).collect(),
                )))
            }
            ("types", None) => {
                cx.actor.ensure_superuser()?;
                Ok(ActionAnswer::Json(Value::Array(
                    STAGE_KINDS.iter().map(type_json).collect(),
                )))
            }
            ("kinds", None) => {
                cx.actor.ensure_superuser()?;
                Ok(ActionAnswer::Json(Value::Array(
                    STAGE_KINDS.iter().map(kind_json).collect(),
                )))
            }
            _ => Err(AdminError::NotFound),
        }
    }
}

/// authentik's `TypeCreate` for a stage kind.
fn type_json(kind: &StageKind) -> Value {
    json!({
        "name": kind.verbose_name,
        "description": "",
        "component": kind.component,
        "model_name": kind.meta_model_name(),
        "requires_enterprise": false,
    })
}

/// keyflow's `kinds` answer for a stage kind: authentik's names and the collection that
/// creates and edits it.
fn kind_json(kind: &StageKind) -> Value {
    json!({
        "name": kind.verbose_name,
        "component": kind.component,
        "model_name": kind.meta_model_name(),
        "collection": format!("stages/{}", kind.path),
    })
}

/// `stages/<kind>`: one kind's stages, as its model (`IdentificationStage`, …).
pub struct StageKindResource(pub &'static StageKind);

#[async_trait::async_trait]
impl Resource for StageKindResource {
    fn collection(&self) -> String {
        format!("stages/{}", self.0.path)
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let kind = self.0;
        let rows = stages::list_stages(
            &cx.state.services.db,
            cx.actor,
            Some(kind.kind),
            search(query).as_deref(),
        )
        .await?;
        json_rows(&rows, |row| kind_stage_json(cx.state, kind, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let kind = self.0;
        let row = stages::get_stage(
            &cx.state.services.db,
            cx.actor,
            uuid_id(id)?,
            Some(kind.kind),
        )
        .await?;
        kind_stage_json(cx.state, kind, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let kind = self.0;
        let input = stage_input(kind, body)?;
        let row = stages::create_stage(&cx.state.services.db, cx.actor, kind.kind, input).await?;
        kind_stage_json(cx.state, kind, &row).await
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        let kind = self.0;
        let id = uuid_id(id)?;
        let input = stage_input(kind, body)?;
        let row = stages::update_stage(
            &cx.state.services.db,
            cx.actor,
            kind.kind,
            id,
            input,
            partial,
        )
        .await?;
        kind_stage_json(cx.state, kind, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, query: &ListQuery) -> Result<(), AdminError> {
        let force = query_flag(query, "force");
        stages::delete_stage(
            &cx.state.services.db,
            cx.actor,
            uuid_id(id)?,
            Some(self.0.kind),
            force,
        )
        .await
    }
    fn actions(&self) -> &'static [ActionSpec] {
        FORM_ACTIONS
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        _body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        cx.actor.ensure_superuser()?;
        match (name, id) {
            ("form", None) => form_answer(forms::stage_form(self.0)),
            _ => Err(AdminError::NotFound),
        }
    }
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

fn prompt_fields(body: &Body) -> Body {
    PROMPT_KEYS
        .iter()
        .filter_map(|k| body.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// `stages/prompt/prompts`: prompt fields (authentik's `Prompt`).
pub struct PromptsResource;

#[async_trait::async_trait]
impl Resource for PromptsResource {
    fn collection(&self) -> String {
        "stages/prompt/prompts".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let rows =
            stages::list_prompts(&cx.state.services.db, cx.actor, search(query).as_deref()).await?;
        json_rows(&rows, |row| prompt_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = stages::get_prompt(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        prompt_json(cx.state, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let row =
            stages::create_prompt(&cx.state.services.db, cx.actor, prompt_fields(&body)).await?;
        prompt_json(cx.state, &row).await
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        let row = stages::update_prompt(
            &cx.state.services.db,
            cx.actor,
            uuid_id(id)?,
            prompt_fields(&body),
            partial,
        )
        .await?;
        prompt_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        stages::delete_prompt(&cx.state.services.db, cx.actor, uuid_id(id)?).await
    }
    fn actions(&self) -> &'static [ActionSpec] {
        FORM_ACTIONS
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        _body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        cx.actor.ensure_superuser()?;
        match (name, id) {
            ("form", None) => form_answer(Some(forms::prompt_form())),
            _ => Err(AdminError::NotFound),
        }
    }
}
