//! Reputation per (identifier, client IP): failed identification, password and MFA attempts
//! lower it, successful logins raise it. Reputation policies (issue #3) read it.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, OnConflict},
    EntityTrait, Set,
};
use uuid::Uuid;

use crate::store::reputation;

/// Scores stay within these bounds (authentik's defaults).
pub const SCORE_MIN: i32 = -5;
pub const SCORE_MAX: i32 = 5;

pub async fn adjust(
    db: &sea_orm::DatabaseConnection,
    identifier: &str,
    ip: &str,
    delta: i32,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let identifier = identifier.to_lowercase();
    let initial = delta.clamp(SCORE_MIN, SCORE_MAX);
    let row = reputation::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(identifier),
        ip: Set(ip.to_owned()),
        score: Set(initial),
        updated_at: Set(now),
    };
    // One statement, so concurrent failures are all counted.
    let clamped = Expr::cust_with_values(
        "CASE WHEN reputations.score + $1 > $2 THEN $2 WHEN reputations.score + $1 < $3 THEN $3 ELSE reputations.score + $1 END",
        [delta, SCORE_MAX, SCORE_MIN],
    );
    reputation::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([reputation::Column::Identifier, reputation::Column::Ip])
                .value(reputation::Column::Score, clamped)
                .value(reputation::Column::UpdatedAt, now)
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}
