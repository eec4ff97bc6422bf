//! Policy models (`authentik_policies_*.…policy`, mapped by [`crate::policies::BLUEPRINT_MODELS`])
//! and `authentik_policies.policybinding`. Policies are validated when applied (expressions are
//! compiled), so a broken expression fails the blueprint rather than someone's login later.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    ensure_exists, flag, number, pk_uuid, requested_uuid, required_name, text, typed, uuid_field,
    Fields, ModelStore, Record,
};
use crate::blueprints::error::EntryError;
use crate::policies::PolicyConfig;
use crate::store::{flow, flow_stage_binding, group, policy, policy_binding, user};

pub fn policy_record(row: &policy::Model) -> Record {
    let config = match PolicyConfig::from_row(row) {
        Ok(config) => config.to_columns().1,
        Err(_) => row.config.clone(),
    };
    let mut fields = Map::new();
    fields.insert("name".into(), json!(row.name));
    fields.insert("execution_logging".into(), json!(row.execution_logging));
    if let Value::Object(config) = config {
        fields.extend(config);
    }
    Record {
        pk: json!(row.id),
        fields,
    }
}

pub struct PolicyStore {
    pub kind: &'static str,
}

impl PolicyStore {
    fn config(&self, mut fields: Fields) -> Result<PolicyConfig, EntryError> {
        fields.remove("name");
        fields.remove("execution_logging");
        let tagged = json!({"kind": self.kind, "config": fields});
        let config = serde_path_to_error::deserialize::<_, PolicyConfig>(tagged).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            match path.strip_prefix("config.") {
                Some(field) => EntryError::field(field, message),
                None => EntryError::entry(message),
            }
        })?;
        config.validate().map_err(|errors| {
            // The first problem names the field; any others are listed with theirs.
            let field = errors.first().map(|(field, _)| field.clone());
            let message = errors
                .iter()
                .enumerate()
                .map(|(i, (field, why))| {
                    if i == 0 {
                        why.clone()
                    } else {
                        format!("{field}: {why}")
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
            EntryError::Invalid { field, message }
        })?;
        Ok(config)
    }

    fn active(&self, id: Uuid, fields: &Fields) -> Result<policy::ActiveModel, EntryError> {
        let (kind, config) = self.config(fields.clone())?.to_columns();
        Ok(policy::ActiveModel {
            id: Set(id),
            name: Set(text(fields, "name")),
            kind: Set(kind),
            config: Set(config),
            execution_logging: Set(flag(fields, "execution_logging")),
        })
    }
}

#[async_trait::async_trait]
impl ModelStore for PolicyStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        if let Some(Value::String(name)) = identifiers.get("name") {
            if let Some(other) = policy::Entity::find()
                .filter(policy::Column::Name.eq(name.as_str()))
                .filter(policy::Column::Kind.ne(self.kind))
                .one(tx)
                .await?
            {
                return Err(EntryError::field(
                    "name",
                    format!(
                        "a policy named {name:?} already exists with kind {:?}",
                        other.kind
                    ),
                ));
            }
        }
        let rows = policy::Entity::find()
            .filter(policy::Column::Kind.eq(self.kind))
            .all(tx)
            .await?;
        Ok(rows.iter().map(policy_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let name = required_name(&fields)?;
        let logging = flag(&fields, "execution_logging");
        let (_, config) = self.config(fields)?.to_columns();
        let mut out = Map::new();
        out.insert("name".into(), json!(name));
        out.insert("execution_logging".into(), json!(logging));
        if let Value::Object(config) = config {
            out.extend(config);
        }
        Ok(out)
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = self.active(requested_uuid(pk)?, fields)?.insert(tx).await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        self.active(pk_uuid(pk)?, fields)?.update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        let id = pk_uuid(pk)?;
        policy::Entity::delete_by_id(id).exec(tx).await?;
        Ok(())
    }
}

fn yes() -> bool {
    true
}

fn thirty() -> i32 {
    30
}

#[derive(Serialize, Deserialize)]
struct PolicyBindingAttrs {
    /// A flow or a flow-stage binding.
    target: Uuid,
    #[serde(default)]
    policy: Option<Uuid>,
    #[serde(default)]
    group: Option<Uuid>,
    #[serde(default)]
    user: Option<i32>,
    #[serde(default)]
    negate: bool,
    #[serde(default = "yes")]
    enabled: bool,
    order: i32,
    #[serde(default = "thirty")]
    timeout: i32,
    #[serde(default)]
    failure_result: bool,
}

pub fn policy_binding_record(row: &policy_binding::Model) -> Record {
    let fields = json!({
        "target": row.target_id,
        "policy": row.policy_id,
        "group": row.group_id,
        "user": row.user_id,
        "negate": row.negate,
        "enabled": row.enabled,
        "order": row.order,
        "timeout": row.timeout,
        "failure_result": row.failure_result,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

pub struct PolicyBindingStore;

#[async_trait::async_trait]
impl ModelStore for PolicyBindingStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = policy_binding::Entity::find();
        if let Ok(Some(target)) = uuid_field(identifiers, "target") {
            query = query.filter(policy_binding::Column::TargetId.eq(target));
        }
        Ok(query
            .all(tx)
            .await?
            .iter()
            .map(policy_binding_record)
            .collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let (attrs, fields) = typed::<PolicyBindingAttrs>(fields)?;
        let set = [
            attrs.policy.is_some(),
            attrs.group.is_some(),
            attrs.user.is_some(),
        ]
        .into_iter()
        .filter(|s| *s)
        .count();
        if set != 1 {
            return Err(EntryError::entry(
                "exactly one of policy, group or user must be set",
            ));
        }
        Ok(fields)
    }

    async fn check(&self, tx: &DatabaseTransaction, fields: &Fields) -> Result<(), EntryError> {
        let target = uuid_field(fields, "target")?.unwrap_or_default();
        let is_flow = flow::Entity::find_by_id(target).one(tx).await?.is_some();
        let is_binding = flow_stage_binding::Entity::find_by_id(target)
            .one(tx)
            .await?
            .is_some();
        if !is_flow && !is_binding {
            return Err(EntryError::field(
                "target",
                format!("{target} is neither a flow nor a flow-stage binding"),
            ));
        }
        if let Some(id) = uuid_field(fields, "policy")? {
            ensure_exists::<policy::Entity, _>(tx, id, "policy", "policy has id").await?;
        }
        if let Some(id) = uuid_field(fields, "group")? {
            ensure_exists::<group::Entity, _>(tx, id, "group", "group has id").await?;
        }
        if let Some(id) = fields.get("user").and_then(Value::as_i64) {
            let id = i32::try_from(id).unwrap_or_default();
            ensure_exists::<user::Entity, _>(tx, id, "user", "user has pk").await?;
        }
        Ok(())
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = policy_binding_active(requested_uuid(pk)?, fields)?
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
        policy_binding_active(pk_uuid(pk)?, fields)?
            .update(tx)
            .await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        policy_binding::Entity::delete_by_id(pk_uuid(pk)?)
            .exec(tx)
            .await?;
        Ok(())
    }
}

fn policy_binding_active(
    id: Uuid,
    fields: &Fields,
) -> Result<policy_binding::ActiveModel, EntryError> {
    Ok(policy_binding::ActiveModel {
        id: Set(id),
        target_id: Set(uuid_field(fields, "target")?.unwrap_or_default()),
        policy_id: Set(uuid_field(fields, "policy")?),
        group_id: Set(uuid_field(fields, "group")?),
        user_id: Set(fields
            .get("user")
            .and_then(Value::as_i64)
            .and_then(|n| i32::try_from(n).ok())),
        negate: Set(flag(fields, "negate")),
        enabled: Set(flag(fields, "enabled")),
        order: Set(number(fields, "order")),
        timeout: Set(number(fields, "timeout")),
        failure_result: Set(flag(fields, "failure_result")),
    })
}
