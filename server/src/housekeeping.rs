//! Periodic clean-up: expired sessions and flow plans are deleted so the tables stay small.
//! Reads already ignore expired rows; this only reclaims space.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::store::{flow_plan, session};

/// Deletes expired rows; returns how many sessions and plans went.
pub async fn purge_expired(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<(u64, u64), sea_orm::DbErr> {
    let plans = flow_plan::Entity::delete_many()
        .filter(flow_plan::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok((sessions.rows_affected, plans.rows_affected))
}

/// Runs [`purge_expired`] every `every` until the process ends.
pub fn spawn(db: DatabaseConnection, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            match purge_expired(&db, Utc::now()).await {
                Ok((sessions, plans)) if sessions + plans > 0 => {
                    tracing::debug!(sessions, plans, "purged expired rows")
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "purging expired rows failed"),
            }
        }
    });
}
