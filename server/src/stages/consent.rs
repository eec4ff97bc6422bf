//! Consent: asks the user to agree before an application gets their data. The configuration is
//! here; the stage itself is not implemented yet (see [`super::not_implemented`]).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::not_implemented::not_implemented;
use crate::duration::FlowDuration;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    #[default]
    AlwaysRequire,
    Permanent,
    Expiring,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentStage {
    pub mode: ConsentMode,
    /// How long an `expiring` consent lasts.
    pub consent_expire_in: FlowDuration,
}

impl Default for ConsentStage {
    fn default() -> Self {
        Self {
            mode: ConsentMode::AlwaysRequire,
            consent_expire_in: FlowDuration {
                text: "weeks=4".into(),
                value: Duration::weeks(4),
            },
        }
    }
}

#[async_trait::async_trait]
impl Stage for ConsentStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("consent")
    }
}
