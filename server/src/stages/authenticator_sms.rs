//! SMS authenticator setup: verifies a phone number with a texted code. The configuration is
//! here; the stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsProvider {
    Twilio,
    Generic,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SmsAuthType {
    #[default]
    Basic,
    Bearer,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorSmsStage {
    pub provider: SmsProvider,
    pub from_number: String,
    /// Twilio: the account SID. Generic: the URL to POST to.
    pub account_sid: String,
    /// Twilio: the auth token. Generic: username or bearer token. Write-only.
    pub auth: String,
    #[serde(default)]
    pub auth_password: String,
    #[serde(default)]
    pub auth_type: SmsAuthType,
    /// Store only a hash of the number (it then cannot be used for MFA).
    #[serde(default)]
    pub verify_only: bool,
    /// A webhook mapping that rewrites the payload.
    #[serde(default)]
    pub mapping: Option<Uuid>,
    #[serde(default)]
    pub configure_flow: Option<Uuid>,
    #[serde(default)]
    pub friendly_name: String,
}

#[async_trait::async_trait]
impl Stage for AuthenticatorSmsStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("authenticator_sms")
    }
}
