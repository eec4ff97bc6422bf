//! Duo authenticator setup: enrolls the user with Duo's Auth API. The configuration is here;
//! the stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorDuoStage {
    pub api_hostname: String,
    pub client_id: String,
    /// Write-only: exports leave it out.
    pub client_secret: String,
    /// Admin API (optional, for device import).
    #[serde(default)]
    pub admin_integration_key: String,
    #[serde(default)]
    pub admin_secret_key: String,
    #[serde(default)]
    pub configure_flow: Option<Uuid>,
    #[serde(default)]
    pub friendly_name: String,
}

#[async_trait::async_trait]
impl Stage for AuthenticatorDuoStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("authenticator_duo")
    }
}
