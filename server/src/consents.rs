//! Remembered consents (authentik's `UserConsent`): what a person agreed to at a consent stage
//! in `permanent` or `expiring` mode, so that the stage is skipped while the consent holds.
//!
//! A consent is keyed by user, flow and stage (authentik keys it by user and application;
//! keyflow has no applications). Giving consent again replaces the row in one upsert, so two
//! browsers confirming at once leave one row. Reads ignore expired rows; housekeeping deletes
//! them ([`purge_expired`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::OnConflict, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, Set,
};
use uuid::Uuid;

use crate::store::user_consent;

/// Who consented to what, where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsentKey {
    pub user_id: i32,
    pub flow_id: Uuid,
    pub stage_id: Uuid,
}

/// A consent that still holds: the permission ids it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidConsent {
    pub permissions: BTreeSet<String>,
    /// `None`: permanent.
    pub expires: Option<DateTime<Utc>>,
}

/// authentik stores permission ids space-separated; an empty string is no permission.
pub fn parse_permissions(stored: &str) -> BTreeSet<String> {
    stored.split_whitespace().map(str::to_owned).collect()
}

/// The consent for `key` that has not expired at `now`, if any.
pub async fn find_valid(
    db: &impl ConnectionTrait,
    key: ConsentKey,
    now: DateTime<Utc>,
) -> Result<Option<ValidConsent>, DbErr> {
    let row = user_consent::Entity::find()
        .filter(user_consent::Column::UserId.eq(key.user_id))
        .filter(user_consent::Column::FlowId.eq(key.flow_id))
        .filter(user_consent::Column::StageId.eq(key.stage_id))
        .filter(
            Condition::any()
                .add(user_consent::Column::Expires.is_null())
                .add(user_consent::Column::Expires.gt(now)),
        )
        .one(db)
        .await?;
    Ok(row.map(|row| ValidConsent {
        permissions: parse_permissions(&row.permissions),
        expires: row.expires,
    }))
}

/// Records (or renews) the consent for `key`: `permissions` are ids, `expires` `None` for a
/// permanent consent.
pub async fn remember(
    db: &impl ConnectionTrait,
    key: ConsentKey,
    permissions: &[String],
    expires: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = user_consent::ActiveModel {
        id: Set(Uuid::new_v4()),
        user_id: Set(key.user_id),
        flow_id: Set(key.flow_id),
        stage_id: Set(key.stage_id),
        permissions: Set(permissions.join(" ")),
        expires: Set(expires),
        created_at: Set(now),
    };
    user_consent::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([
                user_consent::Column::UserId,
                user_consent::Column::FlowId,
                user_consent::Column::StageId,
            ])
            .update_columns([
                user_consent::Column::Permissions,
                user_consent::Column::Expires,
                user_consent::Column::CreatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Deletes consents that expired at or before `now`; returns how many went.
pub async fn purge_expired(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let result = user_consent::Entity::delete_many()
        .filter(user_consent::Column::Expires.lte(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_are_space_separated_ids() {
        assert!(parse_permissions("").is_empty());
        assert_eq!(
            parse_permissions("openid  email profile"),
            ["email", "openid", "profile"]
                .into_iter()
                .map(String::from)
                .collect()
        );
    }
}
