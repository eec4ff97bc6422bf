//! Reputation per (identifier, client IP): failed identification, password and MFA attempts
//! lower it, successful logins raise it. Reputation policies read it.
//!
//! Scores decay: every [`DECAY_PERIOD`] since a row last changed moves its score one point back
//! towards 0, so a burst of failures is forgotten after a few hours. Decay is applied when a
//! score is read ([`effective_score`]) and folded into the row before it next changes.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    sea_query::{CaseStatement, Expr, OnConflict},
    ColumnTrait, Condition, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::store::reputation;

/// Scores stay within these bounds (authentik's defaults).
pub const SCORE_MIN: i32 = -5;
pub const SCORE_MAX: i32 = 5;
/// One point of decay towards 0 per this much time without change.
pub const DECAY_PERIOD: Duration = Duration::hours(1);

/// `score` after decaying since `updated_at`.
pub fn decayed(score: i32, updated_at: DateTime<Utc>, now: DateTime<Utc>) -> i32 {
    let periods = (now - updated_at).num_seconds() / DECAY_PERIOD.num_seconds();
    let steps = i32::try_from(periods.max(0)).unwrap_or(i32::MAX);
    if score < 0 {
        (score.saturating_add(steps)).min(0)
    } else {
        (score.saturating_sub(steps)).max(0)
    }
}

/// The summed, decayed score of every row for `identifier` or `ip` (either may be left out),
/// as authentik's reputation policy sums them. No rows means 0.
pub async fn effective_score(
    db: &sea_orm::DatabaseConnection,
    identifier: Option<&str>,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<i32, sea_orm::DbErr> {
    let mut any = Condition::any();
    if let Some(identifier) = identifier {
        any = any.add(reputation::Column::Identifier.eq(identifier.to_lowercase()));
    }
    if let Some(ip) = ip {
        any = any.add(reputation::Column::Ip.eq(ip));
    }
    if identifier.is_none() && ip.is_none() {
        return Ok(0);
    }
    let rows = reputation::Entity::find().filter(any).all(db).await?;
    Ok(rows
        .iter()
        .map(|r| decayed(r.score, r.updated_at, now))
        .fold(0i32, i32::saturating_add))
}

pub async fn adjust(
    db: &sea_orm::DatabaseConnection,
    identifier: &str,
    ip: &str,
    delta: i32,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let identifier = identifier.to_lowercase();
    fold_in_decay(db, &identifier, ip, now).await?;
    let initial = delta.clamp(SCORE_MIN, SCORE_MAX);
    let row = reputation::ActiveModel {
        id: Set(Uuid::new_v4()),
        identifier: Set(identifier),
        ip: Set(ip.to_owned()),
        score: Set(initial),
        updated_at: Set(now),
    };
    // One statement, so concurrent failures are all counted. Typed expressions (not custom
    // SQL with placeholders): SQLite stored the placeholder form's result as text.
    use sea_orm::sea_query::ExprTrait;
    let score = Expr::col((reputation::Entity, reputation::Column::Score));
    let clamped = CaseStatement::new()
        .case(score.clone().add(delta).gt(SCORE_MAX), SCORE_MAX)
        .case(score.clone().add(delta).lt(SCORE_MIN), SCORE_MIN)
        .finally(score.add(delta));
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

/// Writes the decay an existing row has accrued, so the next change starts from it. Only
/// rewrites a row still holding the score that was read: a concurrent change wins.
async fn fold_in_decay(
    db: &sea_orm::DatabaseConnection,
    identifier: &str,
    ip: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let Some(row) = reputation::Entity::find()
        .filter(reputation::Column::Identifier.eq(identifier))
        .filter(reputation::Column::Ip.eq(ip))
        .one(db)
        .await?
    else {
        return Ok(());
    };
    let current = decayed(row.score, row.updated_at, now);
    if current == row.score {
        return Ok(());
    }
    reputation::Entity::update_many()
        .col_expr(reputation::Column::Score, Expr::value(current))
        .col_expr(reputation::Column::UpdatedAt, Expr::value(now))
        .filter(reputation::Column::Id.eq(row.id))
        .filter(reputation::Column::Score.eq(row.score))
        .exec(db)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_drift_back_to_zero_one_point_per_period() {
        let t0 = Utc::now();
        assert_eq!(decayed(-5, t0, t0), -5);
        assert_eq!(decayed(-5, t0, t0 + Duration::minutes(59)), -5);
        assert_eq!(decayed(-5, t0, t0 + Duration::hours(2)), -3);
        assert_eq!(decayed(-5, t0, t0 + Duration::days(3)), 0);
        assert_eq!(decayed(4, t0, t0 + Duration::hours(1)), 3);
        assert_eq!(decayed(4, t0, t0 + Duration::days(3)), 0);
        // A clock that went backwards does not add reputation.
        assert_eq!(decayed(-2, t0, t0 - Duration::hours(5)), -2);
    }

    async fn sqlite() -> (sea_orm::DatabaseConnection, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        (crate::store::connect_and_migrate(&url).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn failures_add_up_clamp_and_decay_before_the_next_change() {
        let (db, _dir) = sqlite().await;
        let t0 = Utc::now();
        adjust(&db, "Alice", "192.0.2.1", -1, t0).await.unwrap();
        adjust(&db, "alice", "192.0.2.1", -1, t0).await.unwrap();
        assert_eq!(
            effective_score(&db, Some("ALICE"), None, t0).await.unwrap(),
            -2
        );
        for _ in 0..10 {
            adjust(&db, "alice", "192.0.2.1", -1, t0).await.unwrap();
        }
        assert_eq!(
            effective_score(&db, None, Some("192.0.2.1"), t0)
                .await
                .unwrap(),
            SCORE_MIN
        );
        // Another identifier from the same IP counts towards the IP, once per row.
        adjust(&db, "bob", "192.0.2.1", -1, t0).await.unwrap();
        let both = effective_score(&db, Some("alice"), Some("192.0.2.1"), t0).await;
        assert_eq!(both.unwrap(), SCORE_MIN - 1);
        // Three hours later alice's row has decayed to -2; one more failure makes it -3.
        let later = t0 + Duration::hours(3);
        adjust(&db, "alice", "192.0.2.1", -1, later).await.unwrap();
        assert_eq!(
            effective_score(&db, Some("alice"), None, later)
                .await
                .unwrap(),
            -3
        );
    }
}
