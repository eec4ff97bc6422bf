//! User delete: deletes the pending (or signed-in) user. No configuration; the stage itself is
//! not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserDeleteStage {}

#[async_trait::async_trait]
impl Stage for UserDeleteStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("user_delete")
    }
}
