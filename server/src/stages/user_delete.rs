//! User delete (spec §4.17): deletes the pending user (or else the signed-in user), ends every
//! session of theirs in every browser, signs this browser out and removes `pending_user`; the
//! flow continues in a fresh anonymous session. No user: denied [`NO_PENDING_USER`].

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::events;
use crate::store::{session, user};

pub const NO_PENDING_USER: &str = "No Pending User.";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserDeleteStage {}

#[async_trait::async_trait]
impl Stage for UserDeleteStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let Some(account) = cx.pending_or_session_user().await? else {
            return Ok(StageOutcome::denied(NO_PENDING_USER));
        };
        // This browser first: its session row goes away with the user's below, and the flow
        // must go on in a session that still exists.
        cx.log_out().await?;
        let txn = crate::store::begin_write(cx.db()).await?;
        // Every other browser: explicitly, not only through the foreign key's cascade.
        session::Entity::delete_many()
            .filter(session::Column::UserId.eq(account.id))
            .exec(&txn)
            .await?;
        user::Entity::delete_by_id(account.id).exec(&txn).await?;
        txn.commit().await?;
        cx.context.pending_user = None;
        events::record(
            cx.db(),
            events::NewEvent {
                action: events::action::MODEL_DELETED,
                user: None,
                client_ip: &cx.request.client_ip,
                context: json!({"model": {
                    "app": "authentik_core",
                    "model_name": "user",
                    "pk": account.id,
                    "name": account.username,
                }}),
                now: cx.now,
            },
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}
