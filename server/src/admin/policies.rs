//! Policies (expression, password, reputation, …; spec §3) and policy bindings: create and
//! edit with the kind's typed configuration (expressions compiled on save, errors with line
//! and column), and bind them to flows and stage bindings.

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{insert_via, model_context, record, require, update_via, versions, Actor, AdminError};
use crate::blueprints::models::{
    policies::{policy_binding_record, policy_record, PolicyBindingStore, PolicyStore},
    Fields, ModelStore,
};
use crate::blueprints::registry;
use crate::events::action;
use crate::store::{begin_write, policy, policy_binding};

/// One policy kind as authentik's API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyKind {
    /// The `PolicyConfig` kind (`policies.kind`); also the path under `/api/v3/policies/`.
    pub kind: &'static str,
    /// authentik's API model (`ExpressionPolicy`, …).
    pub model: &'static str,
    pub component: &'static str,
    pub verbose_name: &'static str,
    /// The configuration attributes authentik's model declares.
    pub fields: &'static [&'static str],
}

impl PolicyKind {
    pub fn meta_model_name(&self) -> &'static str {
        registry::policy_model(self.kind).unwrap_or_default()
    }

    pub fn verbose_name_plural(&self) -> String {
        format!("{}ies", self.verbose_name.trim_end_matches('y'))
    }
}

/// Every policy kind keyflow evaluates, with authentik's names.
pub const POLICY_KINDS: &[PolicyKind] = &[
    PolicyKind {
        kind: "expression",
        model: "ExpressionPolicy",
        component: "ak-policy-expression-form",
        verbose_name: "Expression Policy",
        fields: &["expression"],
    },
    PolicyKind {
        kind: "password",
        model: "PasswordPolicy",
        component: "ak-policy-password-form",
        verbose_name: "Password Policy",
        fields: &[
            "password_field",
            "amount_digits",
            "amount_uppercase",
            "amount_lowercase",
            "amount_symbols",
            "length_min",
            "symbol_charset",
            "error_message",
            "check_static_rules",
            "check_have_i_been_pwned",
            "check_zxcvbn",
            "hibp_allowed_count",
            "zxcvbn_score_threshold",
        ],
    },
    PolicyKind {
        kind: "reputation",
        model: "ReputationPolicy",
        component: "ak-policy-reputation-form",
        verbose_name: "Reputation Policy",
        fields: &["check_ip", "check_username", "threshold"],
    },
    PolicyKind {
        kind: "dummy",
        model: "DummyPolicy",
        component: "ak-policy-dummy-form",
        verbose_name: "Dummy Policy",
        fields: &["result", "wait_min", "wait_max"],
    },
];

pub fn policy_kind(kind: &str) -> Option<&'static PolicyKind> {
    POLICY_KINDS.iter().find(|k| k.kind == kind)
}

/// A policy's configuration attributes (everything but `name` and `execution_logging`).
pub fn policy_config(row: &policy::Model) -> Fields {
    let mut fields = policy_record(row).fields;
    fields.remove("name");
    fields.remove("execution_logging");
    fields
}

/// The attributes of a policy to set (authentik's `<Kind>PolicyRequest`); absent ones keep
/// their value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicyInput {
    pub name: Option<String>,
    pub execution_logging: Option<bool>,
    pub config: Fields,
}

fn policy_fields(input: PolicyInput) -> Fields {
    let mut fields = input.config;
    fields.remove("name");
    fields.remove("execution_logging");
    if let Some(name) = input.name {
        fields.insert("name".into(), Value::String(name));
    }
    if let Some(logging) = input.execution_logging {
        fields.insert("execution_logging".into(), Value::Bool(logging));
    }
    fields
}

fn policy_event(row: &policy::Model) -> Value {
    let (app, model) = policy_kind(&row.kind)
        .map(|k| k.meta_model_name())
        .and_then(|m| m.split_once('.'))
        .unwrap_or(("authentik_policies", "policy"));
    model_context(app, model, &row.id.simple().to_string(), &row.name)
}

/// Policies, of one kind or all, whose name contains `search`; by name.
pub async fn list_policies(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: Option<&str>,
    search: Option<&str>,
) -> Result<Vec<policy::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = policy::Entity::find();
    if let Some(kind) = kind {
        select = select.filter(policy::Column::Kind.eq(kind));
    }
    let mut rows = select.order_by_asc(policy::Column::Name).all(db).await?;
    if let Some(search) = search.map(str::to_lowercase) {
        rows.retain(|p| p.name.to_lowercase().contains(&search));
    }
    Ok(rows)
}

async fn find_policy<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: Uuid,
    kind: Option<&str>,
) -> Result<policy::Model, AdminError> {
    policy::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|row| kind.is_none_or(|k| row.kind == k))
        .ok_or(AdminError::NotFound)
}

pub async fn get_policy(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    kind: Option<&str>,
) -> Result<policy::Model, AdminError> {
    actor.ensure_superuser()?;
    find_policy(db, id, kind).await
}

/// How many bindings use the policy (authentik's `bound_to`).
pub async fn bound_to(db: &DatabaseConnection, id: Uuid) -> Result<u64, AdminError> {
    Ok(policy_binding::Entity::find()
        .filter(policy_binding::Column::PolicyId.eq(id))
        .count(db)
        .await?)
}

async fn ensure_policy_name_free<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), AdminError> {
    match policy::Entity::find()
        .filter(policy::Column::Name.eq(name))
        .one(db)
        .await?
    {
        Some(other) if Some(other.id) != except => Err(AdminError::field(
            "name",
            "policy with this name already exists.",
        )),
        _ => Ok(()),
    }
}

/// Creates a policy of `kind`. The configuration is checked as the engine will read it
/// (expressions compiled: a syntax error names its line and column under `expression`).
pub async fn create_policy(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: &str,
    input: PolicyInput,
) -> Result<policy::Model, AdminError> {
    actor.ensure_superuser()?;
    let kind = policy_kind(kind).ok_or(AdminError::NotFound)?;
    let fields = policy_fields(input);
    require(&fields, &["name"])?;
    if kind.kind == "expression" {
        require(&fields, &["expression"])?;
    }
    let tx = begin_write(db).await?;
    ensure_policy_name_free(&tx, &crate::blueprints::models::text(&fields, "name"), None).await?;
    let pk = insert_via(&tx, &PolicyStore { kind: kind.kind }, fields).await?;
    tx.commit().await?;
    let row = find_policy(db, super::uuid_of(&pk).unwrap_or_default(), None).await?;
    record(db, actor, action::MODEL_CREATED, policy_event(&row)).await?;
    Ok(row)
}

pub async fn update_policy(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: &str,
    id: Uuid,
    input: PolicyInput,
    partial: bool,
) -> Result<policy::Model, AdminError> {
    actor.ensure_superuser()?;
    let kind = policy_kind(kind).ok_or(AdminError::NotFound)?;
    let fields = policy_fields(input);
    if !partial {
        require(&fields, &["name"])?;
    }
    let tx = begin_write(db).await?;
    let current = find_policy(&tx, id, Some(kind.kind)).await?;
    if let Some(Value::String(name)) = fields.get("name") {
        ensure_policy_name_free(&tx, name, Some(id)).await?;
    }
    update_via(
        &tx,
        &PolicyStore { kind: kind.kind },
        policy_record(&current),
        fields,
    )
    .await?;
    tx.commit().await?;
    let row = find_policy(db, id, None).await?;
    record(db, actor, action::MODEL_UPDATED, policy_event(&row)).await?;
    // Flows that bind this policy behave differently now: each gets a version.
    let summary = format!("Policy {:?} edited", row.name);
    for binding in policy_binding::Entity::find()
        .filter(policy_binding::Column::PolicyId.eq(id))
        .all(db)
        .await?
    {
        if let Some(flow_id) = versions::flow_of_target(db, binding.target_id).await? {
            versions::record_version(db, flow_id, Some(actor), &summary, false).await?;
        }
    }
    Ok(row)
}

/// Deletes a policy; its bindings go with it (as in authentik).
pub async fn delete_policy(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    kind: Option<&str>,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = find_policy(&tx, id, kind).await?;
    policy_binding::Entity::delete_many()
        .filter(policy_binding::Column::PolicyId.eq(id))
        .exec(&tx)
        .await?;
    policy::Entity::delete_by_id(id).exec(&tx).await?;
    tx.commit().await?;
    record(db, actor, action::MODEL_DELETED, policy_event(&current)).await?;
    Ok(())
}

// --- policy bindings -----------------------------------------------------------------------

/// `Some(None)` for an explicit `null`, so "clear" and "leave as is" differ.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The attributes of a policy binding to set (authentik's `PolicyBindingRequest`). Exactly one
/// of `policy`, `group` and `user` must end up set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBindingInput {
    /// A flow or a flow-stage binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Uuid>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub policy: Option<Option<Uuid>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub group: Option<Option<Uuid>>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<Option<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_result: Option<bool>,
}

/// Which policy bindings to list; ordered by target, then `order`.
#[derive(Clone, Debug, Default)]
pub struct PolicyBindingQuery {
    pub target: Option<Uuid>,
    pub policy: Option<Uuid>,
    pub enabled: Option<bool>,
}

fn binding_fields(input: &PolicyBindingInput) -> Fields {
    match serde_json::to_value(input) {
        Ok(Value::Object(map)) => map,
        _ => Fields::new(),
    }
}

fn policy_binding_event(row: &policy_binding::Model) -> Value {
    model_context(
        "authentik_policies",
        "policybinding",
        &row.id.simple().to_string(),
        &format!("Binding from {} #{}", row.target_id, row.order),
    )
}

pub async fn list_policy_bindings(
    db: &DatabaseConnection,
    actor: &Actor,
    query: &PolicyBindingQuery,
) -> Result<Vec<policy_binding::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = policy_binding::Entity::find();
    if let Some(target) = query.target {
        select = select.filter(policy_binding::Column::TargetId.eq(target));
    }
    if let Some(policy) = query.policy {
        select = select.filter(policy_binding::Column::PolicyId.eq(policy));
    }
    if let Some(enabled) = query.enabled {
        select = select.filter(policy_binding::Column::Enabled.eq(enabled));
    }
    Ok(select
        .order_by_asc(policy_binding::Column::TargetId)
        .order_by_asc(policy_binding::Column::Order)
        .order_by_asc(policy_binding::Column::Id)
        .all(db)
        .await?)
}

pub async fn get_policy_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<policy_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    policy_binding::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// Binds a policy, group or user to a flow or stage binding. Required: `target`, `order`.
pub async fn create_policy_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    input: PolicyBindingInput,
) -> Result<policy_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = binding_fields(&input);
    require(&fields, &["target", "order"])?;
    let tx = begin_write(db).await?;
    let pk = insert_via(&tx, &PolicyBindingStore, fields).await?;
    tx.commit().await?;
    let row = policy_binding::Entity::find_by_id(super::uuid_of(&pk).unwrap_or_default())
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_CREATED, policy_binding_event(&row)).await?;
    if let Some(flow_id) = versions::flow_of_target(db, row.target_id).await? {
        versions::record_version(db, flow_id, Some(actor), "Policy bound", false).await?;
    }
    Ok(row)
}

pub async fn update_policy_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    input: PolicyBindingInput,
    partial: bool,
) -> Result<policy_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = binding_fields(&input);
    if !partial {
        require(&fields, &["target", "order"])?;
    }
    let tx = begin_write(db).await?;
    let current = policy_binding::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    update_via(
        &tx,
        &PolicyBindingStore,
        policy_binding_record(&current),
        fields,
    )
    .await?;
    tx.commit().await?;
    let row = policy_binding::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_UPDATED, policy_binding_event(&row)).await?;
    for target in [current.target_id, row.target_id] {
        if let Some(flow_id) = versions::flow_of_target(db, target).await? {
            versions::record_version(db, flow_id, Some(actor), "Policy binding edited", false)
                .await?;
        }
    }
    Ok(row)
}

pub async fn delete_policy_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = policy_binding::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    PolicyBindingStore.delete(&tx, &json!(id)).await?;
    tx.commit().await?;
    record(
        db,
        actor,
        action::MODEL_DELETED,
        policy_binding_event(&current),
    )
    .await?;
    if let Some(flow_id) = versions::flow_of_target(db, current.target_id).await? {
        versions::record_version(db, flow_id, Some(actor), "Policy binding removed", false).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_kind_has_an_api_entry() {
        for (model, kind) in crate::policies::BLUEPRINT_MODELS {
            let entry = policy_kind(kind).unwrap_or_else(|| panic!("{kind}"));
            assert_eq!(entry.meta_model_name(), *model);
        }
        assert_eq!(
            policy_kind("expression").unwrap().verbose_name_plural(),
            "Expression Policies"
        );
    }

    #[test]
    fn binding_input_tells_null_from_absent() {
        let input: PolicyBindingInput =
            serde_json::from_value(json!({"policy": null, "order": 3})).unwrap();
        assert_eq!(input.policy, Some(None));
        assert_eq!(input.group, None);
        let fields = binding_fields(&input);
        assert_eq!(fields.get("policy"), Some(&Value::Null));
        assert!(!fields.contains_key("group"));
        assert!(serde_json::from_value::<PolicyBindingInput>(json!({"surprise": 1})).is_err());
    }
}
