//! Plans live in the database keyed by session, with a time-to-live, so that any keyflow instance
//! can continue a flow another one started.

use chrono::{DateTime, Utc};
use sea_orm::{sea_query::OnConflict, EntityTrait, Set};
use uuid::Uuid;

use super::{plan::FlowPlan, EngineResult, EngineServices};
use crate::store::flow_plan;

/// The session's running plan for `flow_id`. A plan for another flow, or an expired one, is
/// dropped: opening a different flow cancels the one in progress.
pub async fn load(
    services: &EngineServices,
    session_id: Uuid,
    flow_id: Uuid,
    now: DateTime<Utc>,
) -> EngineResult<Option<FlowPlan>> {
    let Some(row) = flow_plan::Entity::find_by_id(session_id)
        .one(&services.db)
        .await?
    else {
        return Ok(None);
    };
    if row.flow_id != flow_id || row.expires_at <= now {
        delete(services, session_id).await?;
        return Ok(None);
    }
    match serde_json::from_value::<FlowPlan>(row.plan) {
        Ok(plan) => Ok(Some(plan)),
        Err(error) => {
            // A plan from an incompatible older version: start over rather than fail forever.
            tracing::warn!(%error, "discarding an unreadable flow plan");
            delete(services, session_id).await?;
            Ok(None)
        }
    }
}

pub async fn save(
    services: &EngineServices,
    session_id: Uuid,
    plan: &FlowPlan,
    query: &str,
    now: DateTime<Utc>,
) -> EngineResult<()> {
    let row = flow_plan::ActiveModel {
        session_id: Set(session_id),
        flow_id: Set(plan.flow_id),
        plan: Set(serde_json::to_value(plan)?),
        query: Set(query.to_owned()),
        updated_at: Set(now),
        expires_at: Set(now + services.settings.plan_ttl),
    };
    flow_plan::Entity::insert(row)
        .on_conflict(
            OnConflict::column(flow_plan::Column::SessionId)
                .update_columns([
                    flow_plan::Column::FlowId,
                    flow_plan::Column::Plan,
                    flow_plan::Column::Query,
                    flow_plan::Column::UpdatedAt,
                    flow_plan::Column::ExpiresAt,
                ])
                .to_owned(),
        )
        .exec(&services.db)
        .await?;
    Ok(())
}

pub async fn delete(services: &EngineServices, session_id: Uuid) -> EngineResult<()> {
    flow_plan::Entity::delete_by_id(session_id)
        .exec(&services.db)
        .await?;
    Ok(())
}
