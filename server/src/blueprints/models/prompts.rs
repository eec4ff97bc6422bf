//! `authentik_stages_prompt.prompt`: prompt fields, referenced by prompt stages' `fields`.

use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{flag, number, pk_uuid, requested_uuid, text, typed, Fields, ModelStore, Record};
use crate::blueprints::error::EntryError;
use crate::stages::prompt::PromptField;
use crate::store::prompt;

pub fn prompt_record(row: &prompt::Model) -> Record {
    let fields = json!({
        "name": row.name,
        "field_key": row.field_key,
        "label": row.label,
        "type": row.kind,
        "required": row.required,
        "placeholder": row.placeholder,
        "initial_value": row.initial_value,
        "sub_text": row.sub_text,
        "order": row.order,
        "placeholder_expression": row.placeholder_expression,
        "initial_value_expression": row.initial_value_expression,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

fn active(id: Uuid, fields: &Fields) -> prompt::ActiveModel {
    prompt::ActiveModel {
        id: Set(id),
        name: Set(text(fields, "name")),
        field_key: Set(text(fields, "field_key")),
        label: Set(text(fields, "label")),
        kind: Set(text(fields, "type")),
        required: Set(flag(fields, "required")),
        placeholder: Set(text(fields, "placeholder")),
        initial_value: Set(text(fields, "initial_value")),
        sub_text: Set(text(fields, "sub_text")),
        order: Set(number(fields, "order")),
        placeholder_expression: Set(flag(fields, "placeholder_expression")),
        initial_value_expression: Set(flag(fields, "initial_value_expression")),
    }
}

pub struct PromptStore;

#[async_trait::async_trait]
impl ModelStore for PromptStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = prompt::Entity::find();
        if let Some(Value::String(name)) = identifiers.get("name") {
            query = query.filter(prompt::Column::Name.eq(name.as_str()));
        }
        Ok(query.all(tx).await?.iter().map(prompt_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        Ok(typed::<PromptField>(fields)?.1)
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = active(requested_uuid(pk)?, fields).insert(tx).await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        active(pk_uuid(pk)?, fields).update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        prompt::Entity::delete_by_id(pk_uuid(pk)?).exec(tx).await?;
        Ok(())
    }
}
