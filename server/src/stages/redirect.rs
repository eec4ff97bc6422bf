//! Redirect: sends the browser to a URL or into another flow. The configuration is here; the
//! stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RedirectMode {
    #[default]
    Static,
    Flow,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct RedirectStage {
    pub mode: RedirectMode,
    pub target_static: String,
    pub target_flow: Option<Uuid>,
    pub keep_context: bool,
}

impl Default for RedirectStage {
    fn default() -> Self {
        Self {
            mode: RedirectMode::Static,
            target_static: String::new(),
            target_flow: None,
            keep_context: true,
        }
    }
}

#[async_trait::async_trait]
impl Stage for RedirectStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("redirect")
    }
}
