//! Periodic clean-up: expired sessions, flow plans, flow tokens (email links) and remembered
//! consents are deleted so the tables stay small. Reads already ignore expired rows; this only
//! reclaims space.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use crate::store::{flow_plan, session};
use crate::{consents, flow_tokens};

/// How many expired rows one purge deleted, per table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub sessions: u64,
    pub plans: u64,
    pub flow_tokens: u64,
    pub consents: u64,
}

impl Purged {
    pub fn total(&self) -> u64 {
        self.sessions + self.plans + self.flow_tokens + self.consents
    }
}

/// Deletes every row that expired at or before `now`.
pub async fn purge_expired(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<Purged, sea_orm::DbErr> {
    let plans = flow_plan::Entity::delete_many()
        .filter(flow_plan::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    let sessions = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(Purged {
        sessions: sessions.rows_affected,
        plans: plans.rows_affected,
        flow_tokens: flow_tokens::purge_expired(db, now).await?,
        consents: consents::purge_expired(db, now).await?,
    })
}

/// Runs [`purge_expired`] every `every` until the process ends.
pub fn spawn(db: DatabaseConnection, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        loop {
            ticker.tick().await;
            match purge_expired(&db, Utc::now()).await {
                Ok(purged) if purged.total() > 0 => {
                    tracing::debug!(
                        sessions = purged.sessions,
                        plans = purged.plans,
                        flow_tokens = purged.flow_tokens,
                        consents = purged.consents,
                        "purged expired rows"
                    )
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "purging expired rows failed"),
            }
        }
    });
}
