//! `authentik_core.user` and `authentik_core.group`. Users created by a blueprint have no
//! usable password (a `password` attribute is not applied: set one with the users API).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    ensure_exists, flag, pk_uuid, requested_uuid, text, typed, uuid_field, Fields, ModelStore,
    Record,
};
use crate::blueprints::error::EntryError;
use crate::store::{group, group_member, user};
use crate::users::{path_problem, DEFAULT_PATH, USER_TYPES};

fn yes() -> bool {
    true
}

fn default_path() -> String {
    DEFAULT_PATH.into()
}

fn default_type() -> String {
    "internal".into()
}

#[derive(Serialize, Deserialize)]
struct UserAttrs {
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default = "yes")]
    is_active: bool,
    #[serde(default = "default_path")]
    path: String,
    #[serde(rename = "type", default = "default_type")]
    user_type: String,
    #[serde(default)]
    attributes: Map<String, Value>,
    /// Group ids; the user's direct memberships become exactly these.
    #[serde(default)]
    groups: Vec<Uuid>,
}

async fn user_record(tx: &DatabaseTransaction, row: &user::Model) -> Result<Record, EntryError> {
    let mut groups: Vec<Uuid> = group_member::Entity::find()
        .filter(group_member::Column::UserId.eq(row.id))
        .all(tx)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    groups.sort();
    let fields = json!({
        "username": row.username,
        "name": row.name,
        "email": row.email,
        "is_active": row.is_active,
        "path": row.path,
        "type": row.user_type,
        "attributes": row.attributes,
        "groups": groups,
    });
    Ok(Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    })
}

pub struct UserStore {
    pub now: DateTime<Utc>,
}

async fn set_groups(
    tx: &DatabaseTransaction,
    user_id: i32,
    groups: &[Uuid],
) -> Result<(), EntryError> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(tx)
        .await?;
    for group_id in groups {
        group_member::ActiveModel {
            group_id: Set(*group_id),
            user_id: Set(user_id),
        }
        .insert(tx)
        .await?;
    }
    Ok(())
}

fn user_pk(pk: &Value) -> Result<i32, EntryError> {
    pk.as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| EntryError::field("pk", format!("{pk} is not a user pk")))
}

#[async_trait::async_trait]
impl ModelStore for UserStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = user::Entity::find().order_by_asc(user::Column::Id);
        if let Some(Value::String(username)) = identifiers.get("username") {
            query = query.filter(user::Column::Username.eq(username.as_str()));
        } else if let Some(Value::String(email)) = identifiers.get("email") {
            query = query.filter(user::Column::Email.eq(email.as_str()));
        } else if let Some(pk) = identifiers.get("pk").and_then(Value::as_i64) {
            query = query.filter(user::Column::Id.eq(pk));
        }
        let mut records = Vec::new();
        for row in query.all(tx).await? {
            records.push(user_record(tx, &row).await?);
        }
        Ok(records)
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let (mut attrs, _) = typed::<UserAttrs>(fields)?;
        if attrs.username.is_empty() {
            return Err(EntryError::field("username", "may not be blank"));
        }
        if let Some(problem) = path_problem(&attrs.path) {
            return Err(EntryError::field("path", problem));
        }
        if !USER_TYPES.contains(&attrs.user_type.as_str()) {
            return Err(EntryError::field(
                "type",
                format!(
                    "{:?} is not one of {}",
                    attrs.user_type,
                    USER_TYPES.join(", ")
                ),
            ));
        }
        attrs.groups.sort();
        attrs.groups.dedup();
        match serde_json::to_value(&attrs) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(EntryError::entry("cannot represent the user")),
        }
    }

    async fn check(&self, tx: &DatabaseTransaction, fields: &Fields) -> Result<(), EntryError> {
        let (attrs, _) = typed::<UserAttrs>(fields.clone())?;
        for id in attrs.groups {
            ensure_exists::<group::Entity, _>(tx, id, "groups", "group has id").await?;
        }
        Ok(())
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        _pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let (attrs, _) = typed::<UserAttrs>(fields.clone())?;
        let row = user::ActiveModel {
            uuid: Set(Uuid::new_v4()),
            username: Set(attrs.username),
            email: Set(attrs.email),
            name: Set(attrs.name),
            password: Set(String::new()),
            is_active: Set(attrs.is_active),
            is_superuser: Set(false),
            attributes: Set(Value::Object(attrs.attributes)),
            path: Set(attrs.path),
            user_type: Set(attrs.user_type),
            last_login: Set(None),
            date_joined: Set(self.now),
            password_change_date: Set(None),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        set_groups(tx, row.id, &attrs.groups).await?;
        Ok(json!(row.id))
    }

    async fn update(
        &self,
        tx: &DatabaseTransaction,
        pk: &Value,
        fields: &Fields,
    ) -> Result<(), EntryError> {
        let id = user_pk(pk)?;
        let (attrs, _) = typed::<UserAttrs>(fields.clone())?;
        user::ActiveModel {
            id: Set(id),
            username: Set(attrs.username),
            email: Set(attrs.email),
            name: Set(attrs.name),
            is_active: Set(attrs.is_active),
            attributes: Set(Value::Object(attrs.attributes)),
            path: Set(attrs.path),
            user_type: Set(attrs.user_type),
            ..Default::default()
        }
        .update(tx)
        .await?;
        set_groups(tx, id, &attrs.groups).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        user::Entity::delete_by_id(user_pk(pk)?).exec(tx).await?;
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct GroupAttrs {
    name: String,
    #[serde(default)]
    is_superuser: bool,
    #[serde(default)]
    parent: Option<Uuid>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

pub fn group_record(row: &group::Model) -> Record {
    let fields = json!({
        "name": row.name,
        "is_superuser": row.is_superuser,
        "parent": row.parent_id,
        "attributes": row.attributes,
    });
    Record {
        pk: json!(row.id),
        fields: fields.as_object().cloned().unwrap_or_default(),
    }
}

pub struct GroupStore;

fn group_active(id: Uuid, fields: &Fields) -> Result<group::ActiveModel, EntryError> {
    Ok(group::ActiveModel {
        id: Set(id),
        name: Set(text(fields, "name")),
        is_superuser: Set(flag(fields, "is_superuser")),
        parent_id: Set(uuid_field(fields, "parent")?),
        attributes: Set(fields.get("attributes").cloned().unwrap_or(json!({}))),
    })
}

#[async_trait::async_trait]
impl ModelStore for GroupStore {
    async fn rows(
        &self,
        tx: &DatabaseTransaction,
        identifiers: &Fields,
    ) -> Result<Vec<Record>, EntryError> {
        let mut query = group::Entity::find();
        if let Some(Value::String(name)) = identifiers.get("name") {
            query = query.filter(group::Column::Name.eq(name.as_str()));
        }
        Ok(query.all(tx).await?.iter().map(group_record).collect())
    }

    fn normalise(&self, fields: Fields) -> Result<Fields, EntryError> {
        let (_, fields) = typed::<GroupAttrs>(fields)?;
        if text(&fields, "name").is_empty() {
            return Err(EntryError::field("name", "may not be blank"));
        }
        Ok(fields)
    }

    async fn check(&self, tx: &DatabaseTransaction, fields: &Fields) -> Result<(), EntryError> {
        if let Some(id) = uuid_field(fields, "parent")? {
            ensure_exists::<group::Entity, _>(tx, id, "parent", "group has id").await?;
        }
        Ok(())
    }

    async fn insert(
        &self,
        tx: &DatabaseTransaction,
        pk: Option<&Value>,
        fields: &Fields,
    ) -> Result<Value, EntryError> {
        let row = group_active(requested_uuid(pk)?, fields)?
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
        group_active(pk_uuid(pk)?, fields)?.update(tx).await?;
        Ok(())
    }

    async fn delete(&self, tx: &DatabaseTransaction, pk: &Value) -> Result<(), EntryError> {
        group::Entity::delete_by_id(pk_uuid(pk)?).exec(tx).await?;
        Ok(())
    }
}
