//! Flow tokens (spec §1.5): a frozen plan behind a link. The email stage stores the plan it is
//! running (with a consent step in front) and mails `?flow_token=<key>`; opening the link
//! restores that plan in whichever browser opens it.
//!
//! Only the sha256 of the key is stored (the key has 256 random bits, so a fast hash is
//! enough). A token is *spent* by a conditional `DELETE`: whichever request deletes the row
//! wins, every other request sees zero affected rows — so one link works exactly once, even
//! with two browsers racing on two keyflow instances.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::plan::FlowPlan;
use crate::sessions::{hash_token, random_token};
use crate::store::flow_token;

/// Plan-context key naming the token a plan was restored from (authentik's `is_restored`).
pub const IS_RESTORED: &str = "is_restored";
/// Query parameter carrying the key.
pub const QUERY_KEY: &str = "flow_token";

/// What the plan context remembers of the token it was restored from (`is_restored`). The row
/// itself may be gone by the time later stages look (consent spends it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredToken {
    pub id: Uuid,
    pub identifier: String,
    /// The user the link was made for.
    pub user: i32,
}

/// A token to store: the plan to freeze and who and what it is for.
pub struct NewFlowToken<'a> {
    pub identifier: String,
    pub user_id: i32,
    pub plan: &'a FlowPlan,
    pub expires: DateTime<Utc>,
    pub revoke_on_execution: bool,
}

/// Stores the token and returns the key to put in the link (shown nowhere else).
pub async fn create(
    db: &impl ConnectionTrait,
    token: NewFlowToken<'_>,
    now: DateTime<Utc>,
) -> Result<(String, flow_token::Model), DbErr> {
    let key = random_token();
    let plan = serde_json::to_value(token.plan).map_err(|e| DbErr::Json(e.to_string()))?;
    let row = flow_token::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(token.identifier),
        key_hash: Set(hash_token(&key)),
        user_id: Set(token.user_id),
        flow_id: Set(token.plan.flow_id),
        plan: Set(plan),
        expires: Set(token.expires),
        revoke_on_execution: Set(token.revoke_on_execution),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok((key, row))
}

/// Restores the plan behind `key` for `flow_id`: `None` when the key is unknown, expired, for
/// another flow, or its plan is unreadable. The token is deleted here only when it has
/// `revoke_on_execution`; the returned plan's context carries [`IS_RESTORED`].
pub async fn restore(
    db: &impl ConnectionTrait,
    key: &str,
    flow_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<FlowPlan>, DbErr> {
    let Some(row) = flow_token::Entity::find()
        .filter(flow_token::Column::KeyHash.eq(hash_token(key)))
        .filter(flow_token::Column::Expires.gt(now))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if row.flow_id != flow_id {
        return Ok(None);
    }
    let mut plan = match serde_json::from_value::<FlowPlan>(row.plan.clone()) {
        Ok(plan) if plan.flow_id == flow_id => plan,
        Ok(_) => return Ok(None),
        Err(error) => {
            tracing::warn!(%error, token = %row.identifier, "flow token holds an unreadable plan");
            return Ok(None);
        }
    };
    if row.revoke_on_execution && !spend(db, row.id, now).await? {
        // Another request restored it first.
        return Ok(None);
    }
    plan.context.set_extra(
        IS_RESTORED,
        RestoredToken {
            id: row.id,
            identifier: row.identifier,
            user: row.user_id,
        },
    );
    Ok(Some(plan))
}

/// Whether the token still exists and has not expired.
pub async fn is_live(
    db: &impl ConnectionTrait,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    Ok(flow_token::Entity::find_by_id(id)
        .filter(flow_token::Column::Expires.gt(now))
        .one(db)
        .await?
        .is_some())
}

/// Deletes the token if it is still live; `true` only for the one caller that deleted it.
pub async fn spend(db: &impl ConnectionTrait, id: Uuid, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let result = flow_token::Entity::delete_many()
        .filter(flow_token::Column::Id.eq(id))
        .filter(flow_token::Column::Expires.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes expired tokens (they are ignored by reads anyway); returns how many went.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = flow_token::Entity::delete_many()
        .filter(flow_token::Column::Expires.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Django's `slugify` for ASCII: letters and digits lower-cased, `_` kept, runs of spaces and
/// `-` become one `-`, anything else is dropped; no `-` or `_` at either end. (Non-ASCII letters
/// are dropped rather than transliterated: identifiers only need to be readable and unique.)
pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c.to_ascii_lowercase());
        } else if (c.is_whitespace() || c == '-') && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches(|c| c == '-' || c == '_').to_owned()
}

/// How long a link made now with `expiry` is valid: authentik adds one minute of grace.
pub fn link_expiry(now: DateTime<Utc>, expiry: Duration) -> DateTime<Utc> {
    now + expiry + Duration::minutes(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_keeps_words_and_collapses_the_rest() {
        assert_eq!(
            slugify("ak-email-stage-Default Recovery Email-1b2c"),
            "ak-email-stage-default-recovery-email-1b2c"
        );
        assert_eq!(slugify("  a//b -- c!_ "), "ab-c");
        assert_eq!(slugify("Ünïcode stage"), "ncode-stage");
    }

    #[test]
    fn links_get_one_minute_of_grace() {
        let now = Utc::now();
        assert_eq!(
            link_expiry(now, Duration::minutes(30)),
            now + Duration::minutes(31)
        );
    }
}
