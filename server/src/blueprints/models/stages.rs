//! Every stage model: one store per keyflow stage kind. The attributes (minus `name`)
//! deserialise straight into the kind's typed configuration in [`crate::stages`].

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::{json, Map, Value};

use super::{pk_uuid, requested_uuid, required_name, text, Fields, ModelStore, Record};
use crate::blueprints::error::EntryError;
use crate::stages::StageConfig;
use crate::store::{flow_stage_binding, policy_binding, stage};

/// Stage attributes: `name` plus the kind's configuration.
pub fn stage_record(row: &stage::Model) -> Record {
    let config = match StageConfig::from_row(row) {
        Ok(config) => config.to_columns().1,
        Err(_) => row.config.clone(),
    };
    let mut fields = Map::new();
    fields.insert("name".into(), json!(row.name));
    if let Value::Object(config) = config {
        fields.extend(config);
    }
    Record {
        pk: json!(row.id),
        fields,
    }
}

pub struct StageStore {
    /// The `StageConfig` kind (`password`, `user_write`, ...).
    pub kind: &'static str,
}

impl StageStore {
    /// The typed configuration for `fields` (without `name`).
    fn config(&self, mut fields: Fields) -> Result<StageConfig, EntryError> {
        fields.remove("name");
        let tagged = json!({"kind": self.kind, "config": fields});
        serde_path_to_error::deserialize::<_, StageConfig>(tagged).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            match path.strip_prefix("config.") {
                Some(field) => EntryError::field(field, message),
                None if path == "kind" || message.contains("unknown variant") => {
                    EntryError::Unsupported(format!(
                        "stage kind {} is not available in this keyflow build",
                        self.kind
                    ))
                }
                None => EntryError::entry(message),
            }
        })
    }
}

#[async_trait::async_trait]
impl ModelStore for StageStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        // Names are unique across all kinds, as in authentik: a same-named stage of another
        // kind is a conflict to report, not a different object.
        if let Some(Value::String(name)) = identifiers.get("name") {
            if let Some(other) = stage::Entity::find()
                .filter(stage::Column::Name.eq(name.as_str()))
                .filter(stage::Column::Kind.ne(self.kind))
                .one(tx)
                .await?
            {
                return Err(EntryError::field(
                    "name",
                    format!(
                        "a stage named {name:?} already exists with kind {:?}",
                        other.kind
                    ),
                ));
            }
        }
        let rows = stage::Entity::find()
            .filter(stage::Column::Kind.eq(self.kind))
            .all(tx)
            .await?;
        Ok(rows.iter().map(stage_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let name = required_name(&fields)?;
        let (_, config) = self.config(fields)?.to_columns();
        let mut out = Map::new();
        out.insert("name".into(), json!(name));
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
        let (kind, config) = self.config(fields.clone())?.to_columns();
        let row = stage::ActiveModel {
            id: Set(requested_uuid(pk)?),
            name: Set(text(fields, "name")),
            kind: Set(kind),
            config: Set(config),
        }
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
        let (kind, config) = self.config(fields.clone())?.to_columns();
        stage::ActiveModel {
            id: Set(pk_uuid(pk)?),
            name: Set(text(fields, "name")),
            kind: Set(kind),
            config: Set(config),
        }
        .update(tx)
        .await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        let id = pk_uuid(pk)?;
        let bindings: Vec<_> = flow_stage_binding::Entity::find()
            .filter(flow_stage_binding::Column::StageId.eq(id))
            .all(tx)
            .await?
            .into_iter()
            .map(|b| b.id)
            .collect();
        policy_binding::Entity::delete_many()
            .filter(policy_binding::Column::TargetId.is_in(bindings))
            .exec(tx)
            .await?;
        stage::Entity::delete_by_id(id).exec(tx).await?;
        clear_references_to(tx, id).await
    }
}

/// Removes references to the deleted stage `id` from other stages' configuration (an
/// identification stage's `password_stage`, a validation stage's `configuration_stages`, ...),
/// as authentik's foreign keys do (`SET NULL`, or the id leaves the list). These references
/// live in the JSON `config` column, which no database constraint watches.
async fn clear_references_to(tx: &DatabaseTransaction, id: uuid::Uuid) -> Result<(), EntryError> {
    let is_id = |value: &Value| super::uuid_of(value) == Some(id);
    for row in stage::Entity::find().all(tx).await? {
        let Value::Object(mut config) = row.config.clone() else {
            continue;
        };
        let mut changed = false;
        for value in config.values_mut() {
            if let Value::Array(items) = value {
                let before = items.len();
                items.retain(|item| !is_id(item));
                changed |= items.len() != before;
            } else if is_id(&*value) {
                *value = Value::Null;
                changed = true;
            }
        }
        if changed {
            stage::ActiveModel {
                id: Set(row.id),
                config: Set(Value::Object(config)),
                ..Default::default()
            }
            .update(tx)
            .await?;
        }
    }
    Ok(())
}
