//! Deny: ends the flow with "access denied". Usually bound behind a policy so that only some
//! people reach it. The context key `deny_message` overrides the configured message.

use serde::{Deserialize, Serialize};

use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct DenyStage {
    pub deny_message: String,
}

#[async_trait::async_trait]
impl Stage for DenyStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let message = cx
            .context
            .deny_message
            .clone()
            .unwrap_or_else(|| self.deny_message.clone());
        Ok(StageOutcome::Denied(
            Some(message).filter(|m| !m.is_empty()),
        ))
    }
}
