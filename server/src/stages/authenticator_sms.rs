//! SMS authenticator setup (spec §4.8, component `ak-stage-authenticator-sms`): registers a
//! phone number for one-time codes once the person typed the first code texted there, through
//! Twilio or a generic webhook (`outbound::sms`).
//!
//! ```text
//! GET ─▶ number known (prompt_data.phone, valid and free)? ──yes──▶ text a code ─┐
//!  │ no (or the text failed: forget the number)                                   │
//!  ▼                                                                              ▼
//! {phone_number_required: true} ─POST phone_number─▶ text a code ─▶ {phone_number_required: false}
//!   ▲  bad number: "Enter a valid …" │ taken: "Invalid phone number"               │ POST code
//!   └─ gateway refused: its message ─┘                                             ▼
//!                                wrong / expired: "Code does not match" ◀─┴─▶ confirmed, pass
//! ```
//!
//! - The unconfirmed device lives in the database from the first number on (so failed codes
//!   are throttled like on any device), remembered in the plan context.
//! - Texts are rate-limited per number ([`SEND_LIMIT`] per [`send_window`]); each carries a
//!   new code, valid for [`CODE_VALIDITY`], and the previous one stops working.
//! - keyflow extension: a POST with neither `phone_number` nor `code`, once a number is known,
//!   texts a new code (the page's "send again"); authentik answers "phone_number required".
//! - `verify_only`: on confirmation only the number's hash is kept (see `mfa::sms`).

use app::protocol::{AuthenticatorSmsChallenge, ChallengeKind, ResponseErrors, NON_FIELD_ERRORS};
use chrono::Duration;
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::authenticator_totp::setup_user;
use super::email::{address_key, take_send_attempt, too_many_attempts};
use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::events;
use crate::mfa::devices::{self, CodeOutcome, DeviceClass};
use crate::mfa::{sent_codes, sms as numbers};
use crate::outbound::sms::{SmsError, TextMessage, WebhookAuth};
use crate::store::{sms_device, user};

/// The unconfirmed device being set up in this flow (a plan-context key).
const DEVICE_KEY: &str = "goauthentik.io/stages/authenticator_sms/sms_device";
/// Where a prompt stage leaves a number (`prompt_data.phone`).
const PROMPT_PHONE: &str = "phone";

pub const PHONE_REQUIRED: &str = "phone_number required";
pub const INVALID_NUMBER: &str = "Invalid phone number";
pub const CODE_MISMATCH: &str = "Code does not match";
pub const NOT_A_NUMBER: &str =
    "Enter the number in international format, with its country code (e.g. +15551234567).";
pub const NOT_SENT: &str = "The code could not be sent. Please try again later.";
/// How long a texted code works (authentik's SMS device default).
pub const CODE_VALIDITY: Duration = Duration::minutes(5);
/// At most this many texts to one number within [`send_window`].
pub const SEND_LIMIT: u32 = 5;

/// The rate limit's window.
pub fn send_window() -> Duration {
    Duration::minutes(5)
}

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

/// What one attempt to text a code did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeText {
    Sent,
    /// Over the per-number limit: nothing was sent and the previous code still stands.
    Limited,
    /// The gateway said no (its message, fit to show; a `configuration_error` was recorded).
    Refused(String),
    /// No answer from the gateway, or the stage cannot send (recorded as above).
    Failed,
}

impl CodeText {
    /// The challenge errors for an attempt that sent nothing.
    pub fn errors(&self) -> ResponseErrors {
        match self {
            Self::Sent => ResponseErrors::default(),
            Self::Limited => {
                let minutes = send_window().num_minutes().max(1);
                ResponseErrors::single(NON_FIELD_ERRORS, too_many_attempts(minutes), "throttled")
            }
            Self::Refused(message) => ResponseErrors::single("phone_number", message, "invalid"),
            Self::Failed => ResponseErrors::single(NON_FIELD_ERRORS, NOT_SENT, "invalid"),
        }
    }
}

impl AuthenticatorSmsStage {
    /// Texts a new code to `device` through this stage's gateway. Used by set-up and by
    /// authenticator validation.
    pub(crate) async fn text_code(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
        device: &sms_device::Model,
    ) -> EngineResult<CodeText> {
        let key = address_key(&format!("authenticator_sms:{}", device.phone_number));
        if !take_send_attempt(cx, &key, SEND_LIMIT, send_window()).await? {
            return Ok(CodeText::Limited);
        }
        let (code, _) = sent_codes::new_code::<sms_device::Entity>(
            cx.db(),
            &cx.services.settings.mfa_keys,
            device.id,
            CODE_VALIDITY,
            cx.now,
        )
        .await?;
        let text = numbers::message_text(&cx.services.settings.brand_title, &code);
        let message = TextMessage {
            from: &self.from_number,
            to: &device.phone_number,
            text: &text,
            code: &code,
        };
        let outbound = &cx.services.outbound;
        let sent = match (self.provider, self.mapping) {
            // Webhook mappings (an admin's expression shaping the body) are not supported yet:
            // sending authentik's default body instead would be a silent surprise.
            (_, Some(_)) => Err(SmsError::Refused {
                status: 0,
                message: "this stage's webhook mapping is not supported".into(),
            }),
            (SmsProvider::Twilio, None) => outbound
                .send_twilio(
                    &outbound.twilio_api_url,
                    &self.account_sid,
                    &self.auth,
                    &message,
                )
                .await
                .map(|_| ()),
            (SmsProvider::Generic, None) => {
                let auth = match self.auth_type {
                    SmsAuthType::Basic => WebhookAuth::Basic {
                        username: self.auth.clone(),
                        password: self.auth_password.clone(),
                    },
                    SmsAuthType::Bearer => WebhookAuth::Bearer(self.auth.clone()),
                };
                outbound
                    .send_webhook(&self.account_sid, &auth, &message.webhook_body())
                    .await
            }
        };
        let Err(error) = sent else {
            return Ok(CodeText::Sent);
        };
        tracing::warn!(stage = cx.stage_name, %error, "SMS not sent");
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
        Ok(match error {
            SmsError::Refused { message, .. } => CodeText::Refused(message),
            SmsError::Network(_) => CodeText::Failed,
        })
    }

    /// The unconfirmed device this flow is setting up, if a number was given already.
    async fn pending_device(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<sms_device::Model>> {
        let Some(id) = cx.context.get_extra::<i32>(DEVICE_KEY) else {
            return Ok(None);
        };
        Ok(sms_device::Entity::find_by_id(id)
            .one(cx.db())
            .await?
            .filter(|d| d.user_id == user.id && d.stage_id == cx.stage_id && !d.confirmed))
    }

    fn kind(cx: &StageCx<'_>, number_required: bool) -> ChallengeKind {
        ChallengeKind::AuthenticatorSms(AuthenticatorSmsChallenge {
            user: cx.pending_user_info(),
            phone_number_required: number_required,
        })
    }

    /// Sets the flow's device to `number` (a new row, or the pending one re-pointed).
    async fn use_number(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<sms_device::Model>,
        number: &str,
    ) -> EngineResult<sms_device::Model> {
        if let Some(mut device) = pending {
            if device.phone_number != number {
                numbers::change_number(cx.db(), device.id, number).await?;
                device.phone_number = number.to_owned();
                device.token_hash = None;
                device.token_expiry = None;
            }
            return Ok(device);
        }
        devices::delete_unconfirmed(cx.db(), DeviceClass::Sms, user.id, None).await?;
        let device = numbers::create(cx.db(), user.id, cx.stage_id, number, cx.now).await?;
        cx.context.set_extra(DEVICE_KEY, device.id);
        Ok(device)
    }

    /// First visit: a number from the prompt data, when it is valid and free, gets a device
    /// and a code at once. A number that cannot be texted is forgotten and the person asked.
    async fn start(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<sms_device::Model>> {
        let Some(prompted) = cx
            .context
            .prompt_data
            .get(PROMPT_PHONE)
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            return Ok(None);
        };
        let number = match numbers::normalise_number(&prompted) {
            Some(number) if !numbers::number_taken(cx.db(), cx.stage_id, &number, None).await? => {
                number
            }
            _ => {
                cx.context.prompt_data.remove(PROMPT_PHONE);
                return Ok(None);
            }
        };
        let device = self.use_number(cx, user, None, &number).await?;
        match self.text_code(cx, user, &device).await? {
            CodeText::Sent | CodeText::Limited => Ok(Some(device)),
            CodeText::Refused(_) | CodeText::Failed => {
                cx.context.prompt_data.remove(PROMPT_PHONE);
                cx.context.remove_extra(DEVICE_KEY);
                sms_device::Entity::delete_by_id(device.id)
                    .exec(cx.db())
                    .await?;
                Ok(None)
            }
        }
    }

    /// `phone_number` without `code` (or neither, once a number is known): text a code there.
    async fn send_to(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<sms_device::Model>,
        typed: Option<String>,
    ) -> EngineResult<StageOutcome> {
        let has_number = pending.is_some();
        let invalid = |cx: &StageCx<'_>, errors| {
            Ok(StageOutcome::Invalid(Self::kind(cx, !has_number), errors))
        };
        let number = match (typed, &pending) {
            (Some(typed), _) => match numbers::normalise_number(&typed) {
                Some(number) => number,
                None => {
                    return invalid(
                        cx,
                        ResponseErrors::single("phone_number", NOT_A_NUMBER, "invalid"),
                    )
                }
            },
            (None, Some(device)) => device.phone_number.clone(),
            (None, None) => {
                return invalid(
                    cx,
                    ResponseErrors::single(NON_FIELD_ERRORS, PHONE_REQUIRED, "invalid"),
                )
            }
        };
        if numbers::number_taken(cx.db(), cx.stage_id, &number, None).await? {
            return invalid(
                cx,
                ResponseErrors::single(NON_FIELD_ERRORS, INVALID_NUMBER, "invalid"),
            );
        }
        let device = self.use_number(cx, user, pending, &number).await?;
        match self.text_code(cx, user, &device).await? {
            CodeText::Sent => Ok(StageOutcome::Show(Self::kind(cx, false))),
            CodeText::Limited => Ok(StageOutcome::Invalid(
                Self::kind(cx, false),
                CodeText::Limited.errors(),
            )),
            // Another number may work: ask again.
            failed => Ok(StageOutcome::Invalid(Self::kind(cx, true), failed.errors())),
        }
    }

    /// `code`: confirms the pending device when it is the code last texted there (unexpired,
    /// unused, device not throttled).
    async fn confirm(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        pending: Option<sms_device::Model>,
        code: &str,
    ) -> EngineResult<StageOutcome> {
        let Some(device) = pending else {
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, CODE_MISMATCH, "invalid");
            return Ok(StageOutcome::Invalid(Self::kind(cx, true), errors));
        };
        let outcome = sent_codes::verify::<sms_device::Entity>(
            cx.db(),
            &cx.services.settings.mfa_keys,
            &device,
            code,
            cx.now,
        )
        .await?;
        if outcome != CodeOutcome::Accepted {
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, CODE_MISMATCH, "invalid");
            return Ok(StageOutcome::Invalid(Self::kind(cx, false), errors));
        }
        cx.context.remove_extra(DEVICE_KEY);
        if !numbers::confirm(cx.db(), &device, self.verify_only).await? {
            // Registered by someone else since the code was sent.
            sms_device::Entity::delete_by_id(device.id)
                .exec(cx.db())
                .await?;
            let errors = ResponseErrors::single(NON_FIELD_ERRORS, INVALID_NUMBER, "invalid");
            return Ok(StageOutcome::Invalid(Self::kind(cx, true), errors));
        }
        cx.context.prompt_data.remove(PROMPT_PHONE);
        super::device_events::record_device_created(
            cx,
            user,
            DeviceClass::Sms,
            device.id,
            &device.name,
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorSmsStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        let device = match self.pending_device(cx, &user).await? {
            Some(device) => Some(device),
            None => self.start(cx, &user).await?,
        };
        Ok(StageOutcome::Show(Self::kind(cx, device.is_none())))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        let pending = self.pending_device(cx, &user).await?;
        let mut fields = ResponseFields::new(response);
        let number = fields.optional_string("phone_number");
        let code = fields.optional_string("code");
        if let Err(errors) = fields.finish() {
            return Ok(StageOutcome::Invalid(
                Self::kind(cx, pending.is_none()),
                errors,
            ));
        }
        match code.filter(|c| !c.trim().is_empty()) {
            Some(code) => self.confirm(cx, &user, pending, &code).await,
            None => {
                let number = number.filter(|n| !n.trim().is_empty());
                self.send_to(cx, &user, pending, number).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_reads_authentiks_fields() {
        let stage: AuthenticatorSmsStage = serde_json::from_value(json!({
            "provider": "generic",
            "from_number": "+15550001111",
            "account_sid": "https://sms.example.com/hook",
            "auth": "token",
            "auth_type": "bearer",
            "verify_only": true,
        }))
        .unwrap();
        assert_eq!(stage.provider, SmsProvider::Generic);
        assert_eq!(stage.auth_type, SmsAuthType::Bearer);
        assert!(stage.verify_only);
        assert_eq!(stage.auth_password, "");
        assert_eq!(stage.mapping, None);
    }

    #[test]
    fn unsent_codes_explain_themselves() {
        assert_eq!(
            CodeText::Limited.errors().for_field(NON_FIELD_ERRORS),
            vec!["Too many account verification attempts. Please try again after 5 minutes."]
        );
        let refused = CodeText::Refused("Invalid 'To' Phone Number".into()).errors();
        assert_eq!(
            refused.for_field("phone_number"),
            vec!["Invalid 'To' Phone Number"]
        );
        assert_eq!(
            CodeText::Failed.errors().for_field(NON_FIELD_ERRORS),
            vec![NOT_SENT]
        );
    }
}
