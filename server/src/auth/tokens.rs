//! API tokens: `Authorization: Bearer <key>`. Only a sha256 of the key is stored; lookups go by
//! hash, and expired tokens are ignored.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::sessions::hash_token;
use crate::store::{token, user};

pub const INTENT_API: &str = "api";
pub const INTENT_APP_PASSWORD: &str = "app_password";

/// The active user owning a valid token with `intent`, if any.
pub async fn user_for_key(
    db: &DatabaseConnection,
    key: &str,
    intent: &str,
    now: DateTime<Utc>,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    let Some(row) = token::Entity::find()
        .filter(token::Column::KeyHash.eq(hash_token(key)))
        .filter(token::Column::Intent.eq(intent))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.expires.is_some_and(|expires| expires <= now) {
        return Ok(None);
    }
    Ok(user::Entity::find_by_id(row.user_id)
        .one(db)
        .await?
        .filter(|u| u.is_active))
}

/// Stores a token for `user_id` whose secret is `key` (kept only as a hash).
pub async fn create(
    db: &DatabaseConnection,
    identifier: &str,
    key: &str,
    user_id: i32,
    intent: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<token::Model, sea_orm::DbErr> {
    token::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(identifier.to_owned()),
        key_hash: Set(hash_token(key)),
        user_id: Set(user_id),
        intent: Set(intent.to_owned()),
        expires: Set(None),
        description: Set(description.to_owned()),
        created_at: Set(now),
    }
    .insert(db)
    .await
}
