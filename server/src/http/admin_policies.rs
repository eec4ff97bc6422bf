//! `/api/v3/policies/all/…` (authentik's `Policy`: list, retrieve, delete; action `types`,
//! authentik's `TypeCreate` list of the kinds one can create), the per-kind collections (`/api/v3/policies/expression/`,
//! `/password/`, `/reputation/`, `/dummy/`, with that kind's model; an expression that does not
//! compile is a 400 on `expression` naming line and column) and `/api/v3/policies/bindings/…`
//! (`PolicyBinding`; the target is a flow or a stage binding). All are [`Resource`]s.
//!
//! keyflow's own action `POST /api/v3/policies/expression/check/` with `{"expression": …}`
//! compiles without saving (the editor's check as one types): `{"valid": true}` or
//! `{"valid": false, "message", "line", "column"}` (1-based; `null` when not a syntax error).

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use super::admin_api::{partial_group, partial_user};
use super::resource::{
    filter_text, json_rows, query_flag, typed_input, uuid_filter, uuid_id, ActionAnswer,
    ActionScope, ActionSpec, Body, Cx, ListQuery, Resource,
};
use super::AppState;
use crate::admin::{
    policies::{
        self, policy_config, policy_kind, PolicyBindingInput, PolicyBindingQuery, PolicyInput,
        PolicyKind, POLICY_KINDS,
    },
    AdminError,
};
use crate::policies::expression::{self, ExpressionError};
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

/// The policy collections: all, one per kind, and the bindings.
pub fn resources() -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> =
        vec![Box::new(PoliciesResource), Box::new(PolicyBindingsResource)];
    all.extend(
        POLICY_KINDS
            .iter()
            .map(|kind| Box::new(PolicyKindResource(kind)) as Box<dyn Resource>),
    );
    all
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

fn policy_input(body: Body) -> Result<PolicyInput, AdminError> {
    let mut config = body;
    for key in READ_ONLY {
        config.remove(*key);
    }
    let name = match config.remove("name") {
        None => None,
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => return Err(AdminError::field("name", "Not a valid string.")),
    };
    let execution_logging = match config.remove("execution_logging") {
        None => None,
        Some(Value::Bool(flag)) => Some(flag),
        Some(_) => {
            return Err(AdminError::field(
                "execution_logging",
                "Must be a valid boolean.",
            ))
        }
    };
    Ok(PolicyInput {
        name,
        execution_logging,
        config,
    })
}

/// `search`, or authentik's exact `name` filter, as a search.
fn search(query: &ListQuery) -> Option<String> {
    filter_text(query, "search").or_else(|| filter_text(query, "name"))
}

const POLICY_ACTIONS: &[ActionSpec] = &[ActionSpec {
    name: "types",
    scope: ActionScope::Collection,
    safe: true,
}];

/// `policies/all`: every policy as authentik's `Policy`; created and edited through its kind.
pub struct PoliciesResource;

#[async_trait::async_trait]
impl Resource for PoliciesResource {
    fn collection(&self) -> String {
        "policies/all".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let rows = policies::list_policies(
            &cx.state.services.db,
            cx.actor,
            None,
            search(query).as_deref(),
        )
        .await?;
        json_rows(&rows, |row| policy_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = policies::get_policy(&cx.state.services.db, cx.actor, uuid_id(id)?, None).await?;
        policy_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        policies::delete_policy(&cx.state.services.db, cx.actor, uuid_id(id)?, None).await
    }

    fn actions(&self) -> &'static [ActionSpec] {
        POLICY_ACTIONS
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        _body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        match (name, id) {
            ("types", None) => {
                cx.actor.ensure_superuser()?;
                Ok(ActionAnswer::Json(Value::Array(
                    POLICY_KINDS.iter().map(type_json).collect(),
                )))
            }
            _ => Err(AdminError::NotFound),
        }
    }
}

/// authentik's `TypeCreate` for a policy kind (its collection is `policies/<kind>`, the kind
/// being the middle of `component`: `ak-policy-<kind>-form`).
fn type_json(kind: &PolicyKind) -> Value {
    json!({
        "name": kind.verbose_name,
        "description": "",
        "component": kind.component,
        "model_name": kind.meta_model_name(),
        "requires_enterprise": false,
    })
}

const EXPRESSION_ACTIONS: &[ActionSpec] = &[ActionSpec {
    name: "check",
    scope: ActionScope::Collection,
    safe: false,
}];

/// `policies/<kind>`: one kind's policies with its own fields.
pub struct PolicyKindResource(&'static PolicyKind);

#[async_trait::async_trait]
impl Resource for PolicyKindResource {
    fn collection(&self) -> String {
        format!("policies/{}", self.0.kind)
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let rows = policies::list_policies(
            &cx.state.services.db,
            cx.actor,
            Some(self.0.kind),
            search(query).as_deref(),
        )
        .await?;
        json_rows(&rows, |row| kind_policy_json(cx.state, self.0, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = policies::get_policy(
            &cx.state.services.db,
            cx.actor,
            uuid_id(id)?,
            Some(self.0.kind),
        )
        .await?;
        kind_policy_json(cx.state, self.0, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let input = policy_input(body)?;
        let row =
            policies::create_policy(&cx.state.services.db, cx.actor, self.0.kind, input).await?;
        kind_policy_json(cx.state, self.0, &row).await
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        let id = uuid_id(id)?;
        let input = policy_input(body)?;
        let row = policies::update_policy(
            &cx.state.services.db,
            cx.actor,
            self.0.kind,
            id,
            input,
            partial,
        )
        .await?;
        kind_policy_json(cx.state, self.0, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        policies::delete_policy(
            &cx.state.services.db,
            cx.actor,
            uuid_id(id)?,
            Some(self.0.kind),
        )
        .await
    }

    fn actions(&self) -> &'static [ActionSpec] {
        if self.0.kind == "expression" {
            EXPRESSION_ACTIONS
        } else {
            &[]
        }
    }

    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        if (name, id, self.0.kind) != ("check", None, "expression") {
            return Err(AdminError::NotFound);
        }
        cx.actor.ensure_superuser()?;
        let code = match body.get("expression") {
            Some(Value::String(code)) => code,
            Some(_) => return Err(AdminError::field("expression", "Not a valid string.")),
            None => return Err(AdminError::field("expression", "This field is required.")),
        };
        Ok(ActionAnswer::Json(check_json(expression::check(code))))
    }
}

/// The `check` action's answer.
fn check_json(result: Result<(), ExpressionError>) -> Value {
    match result {
        Ok(()) => json!({ "valid": true }),
        Err(ExpressionError::Compile {
            line,
            column,
            message,
        }) => json!({ "valid": false, "message": message, "line": line, "column": column }),
        Err(other) => json!({
            "valid": false,
            "message": other.to_string(),
            "line": null,
            "column": null,
        }),
    }
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

/// `policies/bindings`: authentik's `PolicyBindingViewSet`. List filters: `target`, `policy`,
/// `enabled`.
pub struct PolicyBindingsResource;

#[async_trait::async_trait]
impl Resource for PolicyBindingsResource {
    fn collection(&self) -> String {
        "policies/bindings".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let filters = PolicyBindingQuery {
            target: uuid_filter(query, "target")?,
            policy: uuid_filter(query, "policy")?,
            enabled: query
                .contains_key("enabled")
                .then(|| query_flag(query, "enabled")),
        };
        let rows =
            policies::list_policy_bindings(&cx.state.services.db, cx.actor, &filters).await?;
        json_rows(&rows, |row| binding_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row =
            policies::get_policy_binding(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        binding_json(cx.state, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        let input: PolicyBindingInput = typed_input(&body, BINDING_KEYS)?;
        let row = policies::create_policy_binding(&cx.state.services.db, cx.actor, input).await?;
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
        let input: PolicyBindingInput = typed_input(&body, BINDING_KEYS)?;
        let row =
            policies::update_policy_binding(&cx.state.services.db, cx.actor, id, input, partial)
                .await?;
        binding_json(cx.state, &row).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        policies::delete_policy_binding(&cx.state.services.db, cx.actor, uuid_id(id)?).await
    }
}
