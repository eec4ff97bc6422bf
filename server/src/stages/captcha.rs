//! Captcha: verifies a reCAPTCHA / hCaptcha / Turnstile token with the provider. The
//! configuration is here; the stage itself is not implemented yet (see
//! [`super::not_implemented`]).

use serde::{Deserialize, Serialize};

use super::not_implemented::not_implemented;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};

fn default_js_url() -> String {
    "https://www.recaptcha.net/recaptcha/api.js".into()
}

fn default_api_url() -> String {
    "https://www.recaptcha.net/recaptcha/api/siteverify".into()
}

fn half() -> f64 {
    0.5
}

fn one() -> f64 {
    1.0
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaptchaStage {
    /// The site key shown to the browser.
    pub public_key: String,
    /// The secret sent to the provider; write-only (exports leave it out).
    pub private_key: String,
    #[serde(default = "default_js_url")]
    pub js_url: String,
    #[serde(default = "default_api_url")]
    pub api_url: String,
    #[serde(default)]
    pub interactive: bool,
    #[serde(default = "half")]
    pub score_min_threshold: f64,
    #[serde(default = "one")]
    pub score_max_threshold: f64,
    #[serde(default = "yes")]
    pub error_on_invalid_score: bool,
}

#[async_trait::async_trait]
impl Stage for CaptchaStage {
    async fn challenge(&self, _cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        not_implemented("captcha")
    }
}
