//! Email authenticator setup: verifies an address with a mailed code. The configuration is
//! here; the stage itself is not implemented yet (see [`super::not_implemented`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::email::{minutes, SmtpSettings};
use super::not_implemented::not_implemented;
use crate::duration::FlowDuration;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthenticatorEmailStage {
    #[serde(flatten)]
    pub smtp: SmtpSettings,
    pub subject: String,
    pub template: String,
    pub token_expiry: FlowDuration,
    pub configure_flow: Option<Uuid>,
    pub friendly_name: String,
}

impl Default for AuthenticatorEmailStage {
    fn default() -> Self {
        Self {
            smtp: SmtpSettings::default(),
            subject: "authentik Sign-in code".into(),
            template: "email/email_otp.html".into(),
            token_expiry: minutes(30),
            configure_flow: None,
            friendly_name: String::new(),
        }
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorEmailStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("authenticator_email")
    }
}
