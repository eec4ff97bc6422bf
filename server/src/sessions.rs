//! Server-side browser sessions. The cookie carries a random token; the database keeps only its
//! sha256, so a leaked table yields no usable sessions. Login gives the session a NEW token (no
//! session fixation) while its row, and so the running flow plan, stays; logout destroys the row.

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{session, user};

/// The session of the request being handled.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    pub id: Uuid,
    /// The signed-in user (active users only).
    pub user: Option<user::Model>,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    /// Cookie with an explicit expiry (true) or ending with the browser (false).
    pub persistent: bool,
    /// A token minted during this request: the web layer must send it as the new cookie.
    pub new_token: Option<String>,
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The live session behind a cookie token, if any.
pub async fn load(
    db: &DatabaseConnection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<ActiveSession>, sea_orm::DbErr> {
    let Some(row) = session::Entity::find()
        .filter(session::Column::TokenHash.eq(hash_token(token)))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.expires_at <= now {
        session::Entity::delete_by_id(row.id).exec(db).await?;
        return Ok(None);
    }
    let user = match row.user_id {
        Some(id) => user::Entity::find_by_id(id)
            .one(db)
            .await?
            .filter(|u| u.is_active),
        None => None,
    };
    Ok(Some(ActiveSession {
        id: row.id,
        user,
        csrf_token: row.csrf_token,
        expires_at: row.expires_at,
        persistent: row.persistent,
        new_token: None,
    }))
}

/// A fresh anonymous session (its token is in `new_token`).
pub async fn create_anonymous(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    ttl: Duration,
    client_ip: &str,
    user_agent: &str,
) -> Result<ActiveSession, sea_orm::DbErr> {
    let token = random_token();
    let row = session::ActiveModel {
        id: Set(Uuid::new_v4()),
        token_hash: Set(hash_token(&token)),
        user_id: Set(None),
        csrf_token: Set(random_token()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + ttl),
        persistent: Set(false),
        last_ip: Set(client_ip.to_owned()),
        user_agent: Set(user_agent.chars().take(512).collect()),
    }
    .insert(db)
    .await?;
    Ok(ActiveSession {
        id: row.id,
        user: None,
        csrf_token: row.csrf_token,
        expires_at: row.expires_at,
        persistent: false,
        new_token: Some(token),
    })
}

/// Attaches `user` to the session under a new token and a new CSRF token.
pub async fn login(
    db: &DatabaseConnection,
    active: &mut ActiveSession,
    user: user::Model,
    expires_at: DateTime<Utc>,
    persistent: bool,
    client_ip: &str,
) -> Result<(), sea_orm::DbErr> {
    let token = random_token();
    let csrf = random_token();
    session::ActiveModel {
        id: Set(active.id),
        token_hash: Set(hash_token(&token)),
        user_id: Set(Some(user.id)),
        csrf_token: Set(csrf.clone()),
        expires_at: Set(expires_at),
        persistent: Set(persistent),
        last_ip: Set(client_ip.to_owned()),
        ..Default::default()
    }
    .update(db)
    .await?;
    active.user = Some(user);
    active.csrf_token = csrf;
    active.expires_at = expires_at;
    active.persistent = persistent;
    active.new_token = Some(token);
    Ok(())
}

/// Destroys the session (and with it any stored plan) and replaces it by a new anonymous one.
pub async fn logout(
    db: &DatabaseConnection,
    active: &mut ActiveSession,
    now: DateTime<Utc>,
    ttl: Duration,
    client_ip: &str,
    user_agent: &str,
) -> Result<(), sea_orm::DbErr> {
    session::Entity::delete_by_id(active.id).exec(db).await?;
    *active = create_anonymous(db, now, ttl, client_ip, user_agent).await?;
    Ok(())
}

/// Ends every other session of a user (user login's `terminate_other_sessions`).
pub async fn delete_other_sessions(
    db: &DatabaseConnection,
    user_id: i32,
    keep: Uuid,
) -> Result<u64, sea_orm::DbErr> {
    let result = session::Entity::delete_many()
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::Id.ne(keep))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}
