//! Email: sends a link (a flow token) and continues when it is clicked. The configuration,
//! including the SMTP settings shared with the email authenticator, is here; the stage itself
//! is not implemented yet (see [`super::not_implemented`]).

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::not_implemented::not_implemented;
use crate::duration::FlowDuration;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

/// A duration default written the way authentik writes it (`minutes=30`).
pub(crate) fn minutes(n: i64) -> FlowDuration {
    FlowDuration {
        text: format!("minutes={n}"),
        value: Duration::minutes(n),
    }
}

/// How to reach the mail server. `password` is write-only: exports leave it out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SmtpSettings {
    /// Use the install-wide `email.*` settings instead of the fields below.
    pub use_global_settings: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub use_tls: bool,
    pub use_ssl: bool,
    /// Seconds.
    pub timeout: u32,
    pub from_address: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            use_global_settings: false,
            host: "localhost".into(),
            port: 25,
            username: String::new(),
            password: String::new(),
            use_tls: false,
            use_ssl: false,
            timeout: 10,
            from_address: "system@authentik.local".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailStage {
    #[serde(flatten)]
    pub smtp: SmtpSettings,
    pub token_expiry: FlowDuration,
    pub subject: String,
    pub template: String,
    pub activate_user_on_success: bool,
    pub recovery_max_attempts: u32,
    pub recovery_cache_timeout: FlowDuration,
}

impl Default for EmailStage {
    fn default() -> Self {
        Self {
            smtp: SmtpSettings::default(),
            token_expiry: minutes(30),
            subject: "authentik".into(),
            template: "email/password_reset.html".into(),
            activate_user_on_success: false,
            recovery_max_attempts: 5,
            recovery_cache_timeout: minutes(5),
        }
    }
}

#[async_trait::async_trait]
impl Stage for EmailStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("email")
    }
}
