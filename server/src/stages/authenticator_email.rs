//! Email authenticator setup (spec §4.9, component `ak-stage-authenticator-email`): registers
//! an address for one-time sign-in codes once the person typed the first code mailed there.
//! The semantics mirror the SMS set-up (§4.8); the codes themselves are `mfa::email`'s.
//!
//! ```text
//! GET ─▶ device of this stage already confirmed? ──yes──▶ access denied (already registered)
//!  │ no
//!  ▼
//! address known (prompt_data.email, else the user's email, not taken)? ──yes──▶ mail a code
//!  │                                                                           │
//!  ▼                                                                           ▼
//! {email: null, email_required: true} ◀─POST email (taken: "Invalid email")─ {email: "j***@…",
//!                                       ──────── mail a code ──────────────▶  email_required: false}
//!                                                                              │ POST code
//!                                                                              ▼
//!                                          wrong / expired: "Code does not match" ◀─┴─▶ confirmed, pass
//! ```
//!
//! - The unconfirmed device lives in the database from the first address on (so failed codes
//!   are throttled like on any device), remembered in the plan context.
//! - Mails are rate-limited per address (see [`SEND_LIMIT`]); each mail carries a new code and
//!   the previous one stops working.
//! - keyflow extension: a POST with neither `email` nor `code`, once an address is known, mails
//!   a new code (the page's "send again"); authentik answers "email required" there.

use app::protocol::{AuthenticatorEmailChallenge, ChallengeKind, ResponseErrors, NON_FIELD_ERRORS};
use chrono::Duration;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::authenticator_totp::setup_user;
use super::email::{address_key, minutes, take_send_attempt, too_many_attempts, SmtpSettings};
use crate::duration::FlowDuration;
use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineError, EngineResult,
};
use crate::events;
use crate::mail::{format_recipient, MailError, OutgoingMail};
use crate::mfa::devices::{self, CodeOutcome, DeviceClass};
use crate::mfa::email as codes;
use crate::mfa::sent_codes;
use crate::store::{email_device, user};

/// The unconfirmed device being set up in this flow (a plan-context key).
const DEVICE_KEY: &str = "goauthentik.io/stages/authenticator_email/email_device";
/// Where a prompt stage leaves an address (`prompt_data.email`), used before the user's own.
const PROMPT_EMAIL: &str = "email";

pub const EMAIL_REQUIRED: &str = "email required";
pub const INVALID_EMAIL: &str = "Invalid email";
pub const CODE_MISMATCH: &str = "Code does not match";
pub const ALREADY_REGISTERED: &str = "The user already has an email address registered for MFA.";
/// DRF's EmailField message for text that is not an address.
pub const NOT_AN_ADDRESS: &str = "Enter a valid email address.";
/// At most this many code mails to one address within [`send_window`].
pub const SEND_LIMIT: u32 = 5;

/// The rate limit's window: five minutes, like the Email stage's default.
pub fn send_window() -> Duration {
    Duration::minutes(5)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct AuthenticatorEmailStage {
    #[serde(flatten)]
    pub smtp: SmtpSettings,
    pub subject: String,
    pub template: String,
    /// How long a mailed code works.
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

/// What one attempt to mail a code did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeMail {
    Queued,
    /// Over the per-address limit: nothing was sent and the previous code still stands.
    Limited,
    /// The mail could not be made (template error; a `configuration_error` event was recorded).
    Failed,
}

impl CodeMail {
    /// The non-field error for a limited send.
    pub fn limited_errors() -> ResponseErrors {
        let minutes = send_window().num_minutes().max(1);
        ResponseErrors::single(NON_FIELD_ERRORS, too_many_attempts(minutes), "throttled")
    }
}

impl AuthenticatorEmailStage {
    /// Mails a new code for `device` with this stage's settings (`stage_id`: the stage row, for
    /// its SMTP settings at delivery). Used by set-up and by authenticator validation.
    pub(crate) async fn mail_code(
        &self,
        cx: &StageCx<'_>,
        stage_id: Uuid,
        user: &user::Model,
        device: &email_device::Model,
    ) -> EngineResult<CodeMail> {
        let key = address_key(&format!("authenticator_email:{}", device.email));
        if !take_send_attempt(cx, &key, SEND_LIMIT, send_window()).await? {
            return Ok(CodeMail::Limited);
        }
        let (code, expires) = sent_codes::new_code::<email_device::Entity>(
            cx.db(),
            &cx.services.settings.mfa_keys,
            device.id,
            self.token_expiry.value,
            cx.now,
        )
        .await?;
        let mail = OutgoingMail {
            to_name: user.name.clone(),
            to_address: device.email.clone(),
            subject: self.subject.clone(),
            template: self.template.clone(),
            // `code` for keyflow's template, `token` for templates written for authentik.
            context: json!({
                "user": {"username": user.username, "name": user.name, "email": user.email},
                "code": code,
                "token": code,
                "expires": expires.to_rfc3339(),
            }),
            smtp: self.smtp.clone(),
            stage_id: Some(stage_id),
        };
        match cx.services.mail.enqueue(mail).await {
            Ok(_) => Ok(CodeMail::Queued),
            Err(MailError::Queue(error)) => {
                Err(EngineError::CorruptData(format!("mail queue: {error}")))
            }
            Err(error) => {
                events::record(
                    cx.db(),
                    events::NewEvent {
                        action: events::action::CONFIGURATION_ERROR,
                        user: Some((user.id, &user.username)),
                        client_ip: &cx.request.client_ip,
                        context: json!({"message": error.to_string(), "stage": cx.stage_name}),
                        now: cx.now,
                    },
                )
                .await?;
                Ok(CodeMail::Failed)
            }
        }
    }

    /// The user to set up for, or how the stage ends without one.
    async fn user(&self, cx: &StageCx<'_>) -> EngineResult<Result<user::Model, StageOutcome>> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(Err(outcome)),
        };
        if codes::confirmed_for_stage(cx.db(), user.id, cx.stage_id)
            .await?
            .is_some()
        {
            return Ok(Err(StageOutcome::denied(ALREADY_REGISTERED)));
        }
        Ok(Ok(user))
    }

    /// The unconfirmed device this flow is setting up, if an address was given already.
    async fn pending_device(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<email_device::Model>> {
        let Some(id) = cx.context.get_extra::<i32>(DEVICE_KEY) else {
            return Ok(None);
        };
        Ok(email_device::Entity::find_by_id(id)
            .one(cx.db())
            .await?
            .filter(|d| d.user_id == user.id && d.stage_id == cx.stage_id && !d.confirmed))
    }

    fn kind(cx: &StageCx<'_>, device: Option<&email_device::Model>) -> ChallengeKind {
        ChallengeKind::AuthenticatorEmail(AuthenticatorEmailChallenge {
            user: cx.pending_user_info(),
            email: device.map(|d| codes::mask_email(&d.email)),
            email_required: device.is_none(),
        })
    }

    /// Sets the flow's device to `address` (a new row, or the pending one re-pointed).
    async fn use_address(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<email_device::Model>,
        address: &str,
    ) -> EngineResult<email_device::Model> {
        if let Some(mut device) = pending {
            if device.email != address {
                codes::change_address(cx.db(), device.id, address).await?;
                device.email = address.to_owned();
                device.token_hash = None;
                device.token_expiry = None;
            }
            return Ok(device);
        }
        devices::delete_unconfirmed(cx.db(), DeviceClass::Email, user.id, None).await?;
        let device = codes::create(cx.db(), user.id, cx.stage_id, address, cx.now).await?;
        cx.context.set_extra(DEVICE_KEY, device.id);
        Ok(device)
    }

    /// First visit: an address from the prompt data or the account, when there is one that is
    /// valid and free, gets a device and a code at once.
    async fn start(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Result<Option<email_device::Model>, StageOutcome>> {
        let prompted = cx
            .context
            .prompt_data
            .get(PROMPT_EMAIL)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_owned);
        let from_prompt = prompted.is_some();
        let Some(address) = prompted.or_else(|| {
            let own = user.email.trim();
            (!own.is_empty()).then(|| own.to_owned())
        }) else {
            return Ok(Ok(None));
        };
        if format_recipient("", &address).is_err()
            || codes::address_taken(cx.db(), cx.stage_id, &address, None).await?
        {
            // As SMS does with a duplicate prefilled number: forget it and ask.
            if from_prompt {
                cx.context.prompt_data.remove(PROMPT_EMAIL);
            }
            return Ok(Ok(None));
        }
        let device = self.use_address(cx, user, None, &address).await?;
        match self.mail_code(cx, cx.stage_id, user, &device).await? {
            CodeMail::Failed => Ok(Err(StageOutcome::Denied(None))),
            // The page offers "send again"; the limit message comes with that answer.
            CodeMail::Queued | CodeMail::Limited => Ok(Ok(Some(device))),
        }
    }

    /// `email` without `code` (or neither, once an address is known): mail a code there.
    async fn send_to(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<email_device::Model>,
        email: Option<String>,
    ) -> EngineResult<StageOutcome> {
        let address = match email {
            Some(email) => email.trim().to_owned(),
            None => match &pending {
                Some(device) => device.email.clone(),
                None => {
                    let errors =
                        ResponseErrors::single(NON_FIELD_ERRORS, EMAIL_REQUIRED, "invalid");
                    return Ok(StageOutcome::Invalid(Self::kind(cx, None), errors));
                }
            },
        };
        if format_recipient("", &address).is_err() {
            let errors = ResponseErrors::single("email", NOT_AN_ADDRESS, "invalid");
            return Ok(StageOutcome::Invalid(
                Self::kind(cx, pending.as_ref()),
                errors,
            ));
        }
        if codes::address_taken(cx.db(), cx.stage_id, &address, None).await? {
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, INVALID_EMAIL, "invalid");
            return Ok(StageOutcome::Invalid(
                Self::kind(cx, pending.as_ref()),
                errors,
            ));
        }
        let device = self.use_address(cx, user, pending, &address).await?;
        match self.mail_code(cx, cx.stage_id, user, &device).await? {
            CodeMail::Queued => Ok(StageOutcome::Show(Self::kind(cx, Some(&device)))),
            CodeMail::Limited => Ok(StageOutcome::Invalid(
                Self::kind(cx, Some(&device)),
                CodeMail::limited_errors(),
            )),
            CodeMail::Failed => Ok(StageOutcome::Denied(None)),
        }
    }

    /// `code`: confirms the pending device when it is the code last mailed there (unexpired,
    /// unused, device not throttled).
    async fn confirm(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<email_device::Model>,
        code: &str,
    ) -> EngineResult<StageOutcome> {
        let mismatch = |cx: &StageCx<'_>, device: Option<&email_device::Model>| {
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, CODE_MISMATCH, "invalid");
            StageOutcome::Invalid(Self::kind(cx, device), errors)
        };
        let Some(device) = pending else {
            return Ok(mismatch(cx, None));
        };
        let outcome = sent_codes::verify::<email_device::Entity>(
            cx.db(),
            &cx.services.settings.mfa_keys,
            &device,
            code,
            cx.now,
        )
        .await?;
        if outcome != CodeOutcome::Accepted {
            return Ok(mismatch(cx, Some(&device)));
        }
        if !codes::confirm(cx.db(), &device).await? {
            // Registered by someone else since the code was sent.
            cx.context.remove_extra(DEVICE_KEY);
            email_device::Entity::delete_by_id(device.id)
                .exec(cx.db())
                .await?;
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, INVALID_EMAIL, "invalid");
            return Ok(StageOutcome::Invalid(Self::kind(cx, None), errors));
        }
        cx.context.remove_extra(DEVICE_KEY);
        super::device_events::record_device_created(
            cx,
            user,
            DeviceClass::Email,
            device.id,
            &device.name,
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorEmailStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let user = match self.user(cx).await? {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        let device = match self.pending_device(cx, &user).await? {
            Some(device) => Some(device),
            None => match self.start(cx, &user).await? {
                Ok(device) => device,
                Err(outcome) => return Ok(outcome),
            },
        };
        Ok(StageOutcome::Show(Self::kind(cx, device.as_ref())))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let user = match self.user(cx).await? {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        let pending = self.pending_device(cx, &user).await?;
        let mut fields = ResponseFields::new(response);
        let email = fields.optional_string("email");
        let code = fields.optional_string("code");
        if let Err(errors) = fields.finish() {
            return Ok(StageOutcome::Invalid(
                Self::kind(cx, pending.as_ref()),
                errors,
            ));
        }
        match code {
            Some(code) => self.confirm(cx, &user, pending, &code).await,
            None => self.send_to(cx, &user, pending, email).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_defaults_are_authentiks() {
        let stage: AuthenticatorEmailStage = serde_json::from_value(json!({
            "use_global_settings": true,
            "token_expiry": "minutes=30",
            "subject": "authentik Sign-in code",
        }))
        .unwrap();
        assert!(stage.smtp.use_global_settings);
        assert_eq!(stage.template, "email/email_otp.html");
        assert_eq!(stage.token_expiry.value, Duration::minutes(30));
        assert_eq!(
            stage,
            AuthenticatorEmailStage {
                smtp: SmtpSettings {
                    use_global_settings: true,
                    ..SmtpSettings::default()
                },
                ..AuthenticatorEmailStage::default()
            }
        );
    }

    #[test]
    fn the_limit_message_names_the_window() {
        let errors = CodeMail::limited_errors();
        assert_eq!(
            errors.for_field(NON_FIELD_ERRORS),
            vec!["Too many account verification attempts. Please try again after 5 minutes."]
        );
    }
}
