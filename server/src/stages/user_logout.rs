//! User logout: ends the signed-in session (the server-side row is destroyed) and continues the
//! flow in a fresh anonymous session.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::events;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserLogoutStage {}

#[async_trait::async_trait]
impl Stage for UserLogoutStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if let Some(user) = cx.session.user.clone() {
            events::record(
                cx.db(),
                events::NewEvent {
                    action: events::action::LOGOUT,
                    user: Some((user.id, &user.username)),
                    client_ip: &cx.request.client_ip,
                    context: json!({}),
                    now: cx.now,
                },
            )
            .await?;
        }
        cx.log_out().await?;
        Ok(StageOutcome::Passed)
    }
}
