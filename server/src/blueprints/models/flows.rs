//! `authentik_flows.flow` and `authentik_flows.flowstagebinding`.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    check_slug, ensure_exists, flag, number, pk_uuid, requested_uuid, text, typed, uuid_field,
    Fields, ModelStore, Record,
};
use crate::blueprints::error::EntryError;
use crate::flows::{
    AuthenticationRequirement, DeniedAction, FlowDesignation, FlowLayout, InvalidResponseAction,
    PolicyEngineMode,
};
use crate::store::{flow, flow_stage_binding, policy_binding, stage};

/// A flow's attributes, named as authentik names them.
#[derive(Serialize, Deserialize)]
struct FlowAttrs {
    name: String,
    slug: String,
    title: String,
    designation: FlowDesignation,
    #[serde(default)]
    authentication: AuthenticationRequirement,
    #[serde(default)]
    policy_engine_mode: PolicyEngineMode,
    #[serde(default)]
    layout: FlowLayout,
    #[serde(default)]
    denied_action: DeniedAction,
    #[serde(default)]
    background: String,
    #[serde(default)]
    compatibility_mode: bool,
}

pub fn flow_record(row: &flow::Model) -> Record {
    let fields = json!({
        "name": row.name,
        "slug": row.slug,
        "title": row.title,
        "designation": row.designation,
        "authentication": row.authentication,
        "policy_engine_mode": row.policy_engine_mode,
        "layout": row.layout,
        "denied_action": row.denied_action,
        "background": row.background,
        "compatibility_mode": row.compatibility_mode,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

pub struct FlowStore;

#[async_trait::async_trait]
impl ModelStore for FlowStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = flow::Entity::find();
        if let Some(Value::String(slug)) = identifiers.get("slug") {
            query = query.filter(flow::Column::Slug.eq(slug.as_str()));
        }
        Ok(query.all(tx).await?.iter().map(flow_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let (_, fields) = typed::<FlowAttrs>(fields)?;
        check_slug(&fields, "slug")?;
        Ok(fields)
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        if flow::Entity::find()
            .filter(flow::Column::Slug.eq(text(fields, "slug")))
            .one(tx)
            .await?
            .is_some()
        {
            return Err(EntryError::field(
                "slug",
                format!(
                    "another flow already has the slug {:?}",
                    text(fields, "slug")
                ),
            ));
        }
        let row = flow_active(requested_uuid(pk)?, fields).insert(tx).await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        flow_active(pk_uuid(pk)?, fields).update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        let id = pk_uuid(pk)?;
        // Policy bindings have no foreign key to their target (it may be a flow or a stage
        // binding), so they are removed by hand; stage bindings go with the flow (cascade).
        let mut targets: Vec<Uuid> = flow_stage_binding::Entity::find()
            .filter(flow_stage_binding::Column::FlowId.eq(id))
            .all(tx)
            .await?
            .into_iter()
            .map(|b| b.id)
            .collect();
        targets.push(id);
        policy_binding::Entity::delete_many()
            .filter(policy_binding::Column::TargetId.is_in(targets))
            .exec(tx)
            .await?;
        flow::Entity::delete_by_id(id).exec(tx).await?;
        Ok(())
    }
}

fn flow_active(id: Uuid, fields: &Fields) -> flow::ActiveModel {
    flow::ActiveModel {
        id: Set(id),
        slug: Set(text(fields, "slug")),
        name: Set(text(fields, "name")),
        title: Set(text(fields, "title")),
        designation: Set(text(fields, "designation")),
        authentication: Set(text(fields, "authentication")),
        policy_engine_mode: Set(text(fields, "policy_engine_mode")),
        layout: Set(text(fields, "layout")),
        denied_action: Set(text(fields, "denied_action")),
        background: Set(text(fields, "background")),
        compatibility_mode: Set(flag(fields, "compatibility_mode")),
    }
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct BindingAttrs {
    /// The flow.
    target: Uuid,
    stage: Uuid,
    order: i32,
    #[serde(default)]
    evaluate_on_plan: bool,
    #[serde(default = "yes")]
    re_evaluate_policies: bool,
    #[serde(default)]
    invalid_response_action: InvalidResponseAction,
    #[serde(default)]
    policy_engine_mode: PolicyEngineMode,
}

pub fn binding_record(row: &flow_stage_binding::Model) -> Record {
    let fields = json!({
        "target": row.flow_id,
        "stage": row.stage_id,
        "order": row.order,
        "evaluate_on_plan": row.evaluate_on_plan,
        "re_evaluate_policies": row.re_evaluate_policies,
        "invalid_response_action": row.invalid_response_action,
        "policy_engine_mode": row.policy_engine_mode,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

pub struct BindingStore;

#[async_trait::async_trait]
impl ModelStore for BindingStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query =
            flow_stage_binding::Entity::find().order_by_asc(flow_stage_binding::Column::Order);
        if let Ok(Some(flow_id)) = uuid_field(identifiers, "target") {
            query = query.filter(flow_stage_binding::Column::FlowId.eq(flow_id));
        }
        Ok(query.all(tx).await?.iter().map(binding_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        Ok(typed::<BindingAttrs>(fields)?.1)
    }

    async fn check(&self, tx: &DatabaseTransaction, fields: &Fields) -> Result<(), EntryError> {
        let flow_id = uuid_field(fields, "target")?.unwrap_or_default();
        ensure_exists::<flow::Entity, _>(tx, flow_id, "target", "flow has id").await?;
        let stage_id = uuid_field(fields, "stage")?.unwrap_or_default();
        ensure_exists::<stage::Entity, _>(tx, stage_id, "stage", "stage has id").await?;
        Ok(())
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = binding_active(requested_uuid(pk)?, fields)?
            .insert(tx)
            .await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        binding_active(pk_uuid(pk)?, fields)?.update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        let id = pk_uuid(pk)?;
        policy_binding::Entity::delete_many()
            .filter(policy_binding::Column::TargetId.eq(id))
            .exec(tx)
            .await?;
        flow_stage_binding::Entity::delete_by_id(id)
            .exec(tx)
            .await?;
        Ok(())
    }
}

fn binding_active(
    id: Uuid,
    fields: &Fields,
) -> Result<flow_stage_binding::ActiveModel, EntryError> {
    Ok(flow_stage_binding::ActiveModel {
        id: Set(id),
        flow_id: Set(uuid_field(fields, "target")?.unwrap_or_default()),
        stage_id: Set(uuid_field(fields, "stage")?.unwrap_or_default()),
        order: Set(number(fields, "order")),
        evaluate_on_plan: Set(flag(fields, "evaluate_on_plan")),
        re_evaluate_policies: Set(flag(fields, "re_evaluate_policies")),
        invalid_response_action: Set(text(fields, "invalid_response_action")),
        policy_engine_mode: Set(text(fields, "policy_engine_mode")),
    })
}
