//! Invitation: lets a flow continue only with a valid invitation token (the `invitations`
//! table) and merges the invitation's `fixed_data` into `prompt_data`. The configuration is
//! here; the stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InvitationStage {
    pub continue_flow_without_invitation: bool,
}

#[async_trait::async_trait]
impl Stage for InvitationStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("invitation")
    }
}
