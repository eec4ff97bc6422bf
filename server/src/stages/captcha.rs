//! Captcha (spec §4.10, component `ak-stage-captcha`): the browser solves the provider's
//! widget (reCAPTCHA v2/v3, hCaptcha, Turnstile: all loaded from `js_url`) and sends back its
//! token; the server asks the provider's `api_url` with the secret, the token and the client
//! IP. Only a verdict the provider gave passes: an unreachable, slow or garbled verifier is
//! "Failed to validate token", never a pass.
//!
//! ```text
//! GET ─▶ {site_key, js_url, interactive}
//! POST {token} ─▶ siteverify ─┬─ no verdict ─────────────────────▶ token: "Failed to validate token"
//!                             ├─ error_on_invalid_score = false ─▶ pass
//!                             ├─ success false ──────────────────▶ token: "Invalid captcha response[. Retrying…]"
//!                             ├─ score outside [min, max] ───────▶ token: "Invalid captcha response"
//!                             └─ otherwise ──────────────────────▶ context.captcha = verdict, pass
//! ```

use app::protocol::{CaptchaChallenge, ChallengeKind, ResponseErrors};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::outbound::captcha::Verdict;

/// Context keys that override the configured keys for one flow (set by a policy or a
/// preceding stage, e.g. to pick a site per brand).
pub const SITE_KEY_OVERRIDE: &str = "goauthentik.io/stages/captcha/site_key";
pub const PRIVATE_KEY_OVERRIDE: &str = "goauthentik.io/stages/captcha/private_key";
/// Where a passed captcha leaves the provider's verdict (`{"response", "stage"}`).
pub const CONTEXT_KEY: &str = "captcha";

pub const FAILED_TO_VALIDATE: &str = "Failed to validate token";
pub const INVALID_RESPONSE: &str = "Invalid captcha response";
pub const INVALID_RESPONSE_RETRY: &str = "Invalid captcha response. Retrying may solve this issue.";

/// Provider error codes that a fresh token can cure (reCAPTCHA / Turnstile and hCaptcha names).
const RETRYABLE: [&str; 5] = [
    "missing-input-response",
    "invalid-input-response",
    "timeout-or-duplicate",
    "expired-input-response",
    "already-seen-response",
];

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

impl CaptchaStage {
    /// The provider's verdict judged by this stage's rules: `Err` carries the message for the
    /// `token` field. A score bound of -1 or lower is off.
    pub fn judge(&self, verdict: &Verdict) -> Result<(), &'static str> {
        if !self.error_on_invalid_score {
            return Ok(());
        }
        if !verdict.success() {
            let codes = verdict.error_codes();
            return Err(if codes.iter().all(|c| RETRYABLE.contains(c)) {
                INVALID_RESPONSE_RETRY
            } else {
                INVALID_RESPONSE
            });
        }
        if let Some(score) = verdict.score() {
            let too_high = self.score_max_threshold > -1.0 && score > self.score_max_threshold;
            let too_low = self.score_min_threshold > -1.0 && score < self.score_min_threshold;
            if too_high || too_low {
                return Err(INVALID_RESPONSE);
            }
        }
        Ok(())
    }

    /// What the browser needs to show this captcha (also embedded in identification's form).
    pub fn challenge_for(&self, cx: &StageCx<'_>) -> CaptchaChallenge {
        CaptchaChallenge {
            user: cx.pending_user_info(),
            site_key: cx
                .context
                .get_extra::<String>(SITE_KEY_OVERRIDE)
                .unwrap_or_else(|| self.public_key.clone()),
            js_url: self.js_url.clone(),
            interactive: self.interactive,
        }
    }

    /// Asks the provider about `token` (with the flow's secret override and the client IP)
    /// and judges its verdict: `Err` carries the message for the person.
    pub async fn verify(&self, cx: &StageCx<'_>, token: &str) -> Result<Verdict, &'static str> {
        let secret = cx
            .context
            .get_extra::<String>(PRIVATE_KEY_OVERRIDE)
            .unwrap_or_else(|| self.private_key.clone());
        let verdict = cx
            .services
            .outbound
            .verify_captcha(&self.api_url, &secret, token, &cx.request.client_ip)
            .await
            .map_err(|error| {
                tracing::warn!(stage = cx.stage_name, %error, "captcha verification failed");
                FAILED_TO_VALIDATE
            })?;
        self.judge(&verdict)?;
        Ok(verdict)
    }

    fn kind(&self, cx: &StageCx<'_>) -> ChallengeKind {
        ChallengeKind::Captcha(self.challenge_for(cx))
    }

    fn refuse(&self, cx: &StageCx<'_>, message: &str) -> StageOutcome {
        StageOutcome::Invalid(
            self.kind(cx),
            ResponseErrors::single("token", message, "invalid"),
        )
    }
}

#[async_trait::async_trait]
impl Stage for CaptchaStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        Ok(StageOutcome::Show(self.kind(cx)))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let mut fields = ResponseFields::new(response);
        // Present and non-blank once `finish` is Ok.
        let token = fields.required_string("token").unwrap_or_default();
        if let Err(errors) = fields.finish() {
            return Ok(StageOutcome::Invalid(self.kind(cx), errors));
        }
        let verdict = match self.verify(cx, &token).await {
            Ok(verdict) => verdict,
            Err(message) => return Ok(self.refuse(cx, message)),
        };
        cx.context.set_extra(
            CONTEXT_KEY,
            json!({"response": verdict.0, "stage": {"pk": cx.stage_id, "name": cx.stage_name}}),
        );
        Ok(StageOutcome::Passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(json: Value) -> CaptchaStage {
        serde_json::from_value(json).unwrap()
    }

    fn default_stage() -> CaptchaStage {
        stage(json!({"public_key": "site", "private_key": "secret"}))
    }

    #[test]
    fn defaults_are_authentiks() {
        let stage = default_stage();
        assert_eq!(stage.js_url, "https://www.recaptcha.net/recaptcha/api.js");
        assert_eq!(
            stage.api_url,
            "https://www.recaptcha.net/recaptcha/api/siteverify"
        );
        assert!(!stage.interactive);
        assert_eq!(
            (stage.score_min_threshold, stage.score_max_threshold),
            (0.5, 1.0)
        );
        assert!(stage.error_on_invalid_score);
    }

    #[test]
    fn a_successful_verdict_without_score_passes() {
        let v2 = Verdict(json!({"success": true, "hostname": "localhost"}));
        assert_eq!(default_stage().judge(&v2), Ok(()));
    }

    #[test]
    fn scores_outside_the_thresholds_fail() {
        let stage = default_stage();
        let scored = |score: f64| Verdict(json!({"success": true, "score": score}));
        assert_eq!(stage.judge(&scored(0.5)), Ok(()));
        assert_eq!(stage.judge(&scored(1.0)), Ok(()));
        assert_eq!(stage.judge(&scored(0.49)), Err(INVALID_RESPONSE));
        let capped = CaptchaStage {
            score_max_threshold: 0.8,
            ..default_stage()
        };
        assert_eq!(capped.judge(&scored(0.9)), Err(INVALID_RESPONSE));
        let unbounded = CaptchaStage {
            score_min_threshold: -1.0,
            score_max_threshold: -1.0,
            ..default_stage()
        };
        assert_eq!(unbounded.judge(&scored(0.0)), Ok(()));
    }

    #[test]
    fn retryable_error_codes_say_so() {
        let stage = default_stage();
        let failed = |codes: Value| Verdict(json!({"success": false, "error-codes": codes}));
        assert_eq!(
            stage.judge(&failed(json!(["timeout-or-duplicate"]))),
            Err(INVALID_RESPONSE_RETRY)
        );
        assert_eq!(
            stage.judge(&failed(json!([
                "already-seen-response",
                "expired-input-response"
            ]))),
            Err(INVALID_RESPONSE_RETRY)
        );
        assert_eq!(
            stage.judge(&failed(json!(["invalid-input-secret"]))),
            Err(INVALID_RESPONSE)
        );
        assert_eq!(
            stage.judge(&failed(json!(["timeout-or-duplicate", "bad-request"]))),
            Err(INVALID_RESPONSE)
        );
    }

    #[test]
    fn without_error_on_invalid_score_any_verdict_passes() {
        let lenient = CaptchaStage {
            error_on_invalid_score: false,
            ..default_stage()
        };
        let refused = Verdict(json!({"success": false, "error-codes": ["invalid-input-secret"]}));
        assert_eq!(lenient.judge(&refused), Ok(()));
        assert_eq!(
            lenient.judge(&Verdict(json!({"success": true, "score": 0.0}))),
            Ok(())
        );
    }
}
