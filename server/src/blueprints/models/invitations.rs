//! `authentik_stages_invitation.invitation`: invitations to enrollment flows.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    check_slug, ensure_exists, flag, pk_uuid, requested_uuid, text, typed, uuid_field, Fields,
    ModelStore, Record,
};
use crate::blueprints::error::EntryError;
use crate::store::{flow, invitation, user};

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize)]
struct InvitationAttrs {
    name: String,
    #[serde(default)]
    expires: Option<DateTime<Utc>>,
    #[serde(default = "yes")]
    expiring: bool,
    /// When set, only this flow accepts the invitation.
    #[serde(default)]
    flow: Option<Uuid>,
    #[serde(default)]
    single_use: bool,
    #[serde(default)]
    fixed_data: Map<String, Value>,
    #[serde(default)]
    created_by: Option<i32>,
}

pub fn invitation_record(row: &invitation::Model) -> Record {
    let fields = json!({
        "name": row.name,
        "expires": row.expires,
        "expiring": row.expiring,
        "flow": row.flow_id,
        "single_use": row.single_use,
        "fixed_data": row.fixed_data,
        "created_by": row.created_by_id,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

fn active(id: Uuid, fields: &Fields) -> Result<invitation::ActiveModel, EntryError> {
    let (attrs, _) = typed::<InvitationAttrs>(fields.clone())?;
    Ok(invitation::ActiveModel {
        id: Set(id),
        name: Set(text(fields, "name")),
        expires: Set(attrs.expires),
        expiring: Set(flag(fields, "expiring")),
        flow_id: Set(attrs.flow),
        single_use: Set(flag(fields, "single_use")),
        fixed_data: Set(Value::Object(attrs.fixed_data)),
        created_by_id: Set(attrs.created_by),
    })
}

pub struct InvitationStore;

#[async_trait::async_trait]
impl ModelStore for InvitationStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = invitation::Entity::find();
        if let Some(Value::String(name)) = identifiers.get("name") {
            query = query.filter(invitation::Column::Name.eq(name.as_str()));
        }
        Ok(query.all(tx).await?.iter().map(invitation_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let (_, fields) = typed::<InvitationAttrs>(fields)?;
        check_slug(&fields, "name")?;
        Ok(fields)
    }

    async fn check(&self, tx: &DatabaseTransaction, fields: &Fields) -> Result<(), EntryError> {
        if let Some(id) = uuid_field(fields, "flow")? {
            ensure_exists::<flow::Entity, _>(tx, id, "flow", "flow has id").await?;
        }
        if let Some(id) = fields.get("created_by").and_then(Value::as_i64) {
            let id = i32::try_from(id).unwrap_or_default();
            ensure_exists::<user::Entity, _>(tx, id, "created_by", "user has pk").await?;
        }
        Ok(())
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = active(requested_uuid(pk)?, fields)?.insert(tx).await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        active(pk_uuid(pk)?, fields)?.update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        invitation::Entity::delete_by_id(pk_uuid(pk)?)
            .exec(tx)
            .await?;
        Ok(())
    }
}
