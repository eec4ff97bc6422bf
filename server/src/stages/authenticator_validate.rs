//! Authenticator validation: asks the user for a second factor from one of their confirmed
//! devices (a code for static/TOTP/email, an assertion for WebAuthn), or — when they have none —
//! skips, denies, or injects a set-up stage into the running plan (`not_configured_action`).
//!
//! ```text
//! GET ─▶ user? ──no──▶ passwordless WebAuthn challenge, or pass
//!         │yes
//!         ▼
//!      validated within last_auth_threshold? ──yes──▶ pass
//!         │no
//!         ▼
//!      devices? ──none──▶ skip: pass │ deny: access denied │ configure: inject stage (or picker)
//!         │some
//!         ▼
//!      Show(device_challenges) ◀── POST selected_challenge (picker, "Empty response";
//!         │                              an email device is mailed a code, see `email`)
//!         │ POST code / webauthn
//!         ▼
//!      valid ──▶ auth_method "auth_mfa", mfa_devices += device, device.last_used = now ─▶ pass
//! ```

mod email;
mod sms;
mod webauthn;

use app::protocol::{
    AuthenticatorValidateChallenge, ChallengeKind, DeviceChallenge, ResponseErrors,
    SelectableStage, NON_FIELD_ERRORS,
};
use chrono::{Duration, SecondsFormat};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::duration::FlowDuration;
use crate::engine::{
    fields::ResponseFields,
    plan::PlannedStage,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::flows::{parse_stored, FlowDesignation};
use crate::mfa::devices::{self, CodeVerification, Device, DeviceClass};
use crate::store::{stage, user};
use crate::{events, reputation};

pub const CHALLENGES_KEY: &str = "goauthentik.io/stages/authenticator_validate/device_challenges";
pub const STAGES_KEY: &str = "goauthentik.io/stages/authenticator_validate/stages";
pub const SELECTED_STAGE_KEY: &str = "goauthentik.io/stages/authenticator_validate/selected_stage";
pub const AUTH_METHOD_MFA: &str = "auth_mfa";

pub const NOT_CONFIGURED: &str = "No (allowed) MFA authenticator configured.";
pub const EMPTY_RESPONSE: &str = "Empty response";
pub const NO_COMPATIBLE_CLASS: &str = "No compatible device class allowed";
pub const INVALID_CHALLENGE: &str = "invalid challenge selected";
pub const INVALID_STAGE: &str = "Selected stage is invalid";
pub const INVALID_TOKEN: &str =
    "Invalid Token. Please ensure the time on your device is accurate and try again.";
/// Code-based devices record use per time step, so shorter thresholds are meaningless for them.
pub const MIN_CODE_THRESHOLD_SECONDS: i64 = 30;

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NotConfiguredAction {
    #[default]
    Skip,
    Deny,
    Configure,
}

pub use crate::mfa::webauthn::UserVerification;

fn all_classes() -> Vec<DeviceClass> {
    DeviceClass::ALL.to_vec()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorValidateStage {
    #[serde(default = "all_classes")]
    pub device_classes: Vec<DeviceClass>,
    #[serde(default)]
    pub not_configured_action: NotConfiguredAction,
    /// Set-up stages offered (or injected) when the user has no device.
    #[serde(default)]
    pub configuration_stages: Vec<Uuid>,
    /// Skip when the user validated with an allowed device within this time.
    #[serde(default = "FlowDuration::zero")]
    pub last_auth_threshold: FlowDuration,
    #[serde(default)]
    pub webauthn_user_verification: UserVerification,
    /// `security-key`, `client-device`, `hybrid`.
    #[serde(default)]
    pub webauthn_hints: Vec<String>,
    /// Allowed authenticator models (AAGUIDs); empty allows all.
    #[serde(default)]
    pub webauthn_allowed_device_types: Vec<Uuid>,
}

impl Default for AuthenticatorValidateStage {
    fn default() -> Self {
        Self {
            device_classes: all_classes(),
            not_configured_action: NotConfiguredAction::Skip,
            configuration_stages: Vec::new(),
            last_auth_threshold: FlowDuration::zero(),
            webauthn_user_verification: UserVerification::Preferred,
            webauthn_hints: Vec::new(),
            webauthn_allowed_device_types: Vec::new(),
        }
    }
}

impl AuthenticatorValidateStage {
    /// The checks authentik's API makes when the stage is saved (for admin APIs and blueprints).
    pub fn validate(&self) -> Result<(), String> {
        if self.not_configured_action == NotConfiguredAction::Configure
            && self.configuration_stages.is_empty()
        {
            return Err("When \"Not configured action\" is set to \"Configure\", you must set a configuration stage.".into());
        }
        let threshold = self.last_auth_threshold.value;
        if threshold > Duration::zero()
            && threshold < Duration::seconds(MIN_CODE_THRESHOLD_SECONDS)
            && self.device_classes.iter().any(|c| c.is_code_based())
        {
            return Err(
                "When using code-based device classes, the threshold must be at least 30 seconds."
                    .into(),
            );
        }
        Ok(())
    }

    fn allows(&self, class: DeviceClass) -> bool {
        self.device_classes.contains(&class)
    }

    /// Whether `device` was validated recently enough to skip the stage.
    fn recently_validated(&self, device: &Device, now: chrono::DateTime<chrono::Utc>) -> bool {
        let threshold = self.last_auth_threshold.value;
        if threshold <= Duration::zero() {
            return false;
        }
        if device.class.is_code_based() && threshold < Duration::seconds(MIN_CODE_THRESHOLD_SECONDS)
        {
            return false;
        }
        device.last_used.is_some_and(|used| used + threshold >= now)
    }
}

/// The record of a device in `auth_method_args.mfa_devices` (authentik's model reference).
fn device_reference(device: &Device) -> Value {
    let (app, model) = device
        .class
        .meta_model_name()
        .split_once('.')
        .unwrap_or(("", ""));
    json!({"pk": device.id, "app": app, "name": device.name, "model_name": model})
}

fn wire_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The user this stage validates.
enum Subject {
    User(Box<user::Model>),
    /// An unsaved stand-in for an unknown identifier: it has no devices.
    Unsaved,
    Nobody,
}

async fn subject(cx: &StageCx<'_>) -> EngineResult<Subject> {
    if cx
        .context
        .pending_user
        .as_ref()
        .is_some_and(|u| u.pk.is_none())
    {
        return Ok(Subject::Unsaved);
    }
    Ok(match cx.pending_or_session_user().await? {
        Some(user) => Subject::User(Box::new(user)),
        None => Subject::Nobody,
    })
}

/// The name reputation and events use for the person trying.
fn identifier(cx: &StageCx<'_>) -> String {
    cx.context
        .pending_user
        .as_ref()
        .map(|u| u.username.clone())
        .or_else(|| cx.session.user.as_ref().map(|u| u.username.clone()))
        .unwrap_or_default()
}

impl AuthenticatorValidateStage {
    /// The user's allowed devices, most recently used first (the picker remembers the last
    /// device that way), and one challenge per class for the most recent device of that class.
    async fn device_challenges(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<(Vec<Device>, Vec<DeviceChallenge>)> {
        let mut devices: Vec<Device> = devices::confirmed_for_user(cx.db(), user.id)
            .await?
            .into_iter()
            .filter(|d| self.allows(d.class))
            .collect();
        devices = webauthn::filter_allowed(cx, self, devices).await?;
        let mut usable = Vec::with_capacity(devices.len());
        for device in devices {
            // Verify-only SMS devices hold a hash, not a number: never a way in.
            if device.class != DeviceClass::Sms || sms::usable(cx, &device).await? {
                usable.push(device);
            }
        }
        let mut devices = usable;
        devices.sort_by(|a, b| b.last_used.cmp(&a.last_used).then(a.class.cmp(&b.class)));
        let mut challenges: Vec<DeviceChallenge> = Vec::new();
        for device in &devices {
            if challenges
                .iter()
                .any(|c| c.device_class == device.class.as_str())
            {
                continue;
            }
            let payload = match device.class {
                DeviceClass::Webauthn => {
                    match webauthn::device_challenge(cx, self, &devices).await? {
                        Some(payload) => payload,
                        None => continue,
                    }
                }
                DeviceClass::Email => match email::device_challenge(cx, device).await? {
                    Some(payload) => payload,
                    None => continue,
                },
                _ => json!({}),
            };
            challenges.push(DeviceChallenge {
                device_class: device.class.as_str().to_owned(),
                device_uid: device.uid(),
                challenge: payload,
                last_used: device.last_used.map(wire_time),
            });
        }
        Ok((devices, challenges))
    }

    fn challenge_kind(
        &self,
        cx: &StageCx<'_>,
        device_challenges: Vec<DeviceChallenge>,
        configuration_stages: Vec<SelectableStage>,
    ) -> ChallengeKind {
        ChallengeKind::AuthenticatorValidate(AuthenticatorValidateChallenge {
            user: cx.pending_user_info(),
            device_challenges,
            configuration_stages,
        })
    }

    /// The challenge as last shown (from the context), for re-rendering after a bad response.
    fn saved_kind(&self, cx: &StageCx<'_>) -> ChallengeKind {
        let challenges: Vec<DeviceChallenge> =
            cx.context.get_extra(CHALLENGES_KEY).unwrap_or_default();
        let stages: Vec<SelectableStage> = cx.context.get_extra(STAGES_KEY).unwrap_or_default();
        self.challenge_kind(cx, challenges, stages)
    }

    async fn selectable_stages(&self, cx: &StageCx<'_>) -> EngineResult<Vec<SelectableStage>> {
        let rows = stage::Entity::find()
            .filter(stage::Column::Id.is_in(self.configuration_stages.clone()))
            .all(cx.db())
            .await?;
        // In the configured order, not the database's.
        Ok(self
            .configuration_stages
            .iter()
            .filter_map(|id| rows.iter().find(|r| r.id == *id))
            .map(selectable_stage)
            .collect())
    }

    async fn not_configured(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        match self.not_configured_action {
            NotConfiguredAction::Skip => Ok(StageOutcome::Passed),
            NotConfiguredAction::Deny => Ok(StageOutcome::denied(NOT_CONFIGURED)),
            NotConfiguredAction::Configure => {
                let stages = self.selectable_stages(cx).await?;
                match stages.as_slice() {
                    [] => {
                        events::record(
                            cx.db(),
                            events::NewEvent {
                                action: events::action::CONFIGURATION_ERROR,
                                user: None,
                                client_ip: &cx.request.client_ip,
                                context: json!({
                                    "message": "Authenticator validation stage is set to configure, but no configuration stage is set.",
                                    "stage": cx.stage_name,
                                }),
                                now: cx.now,
                            },
                        )
                        .await?;
                        Ok(StageOutcome::Denied(None))
                    }
                    [only] => Ok(self.inject(cx, only)),
                    several => {
                        cx.context.set_extra(STAGES_KEY, several);
                        Ok(StageOutcome::Show(self.challenge_kind(
                            cx,
                            Vec::new(),
                            several.to_vec(),
                        )))
                    }
                }
            }
        }
    }

    /// Runs the set-up stage `chosen` right after this one, which is done.
    fn inject(&self, cx: &mut StageCx<'_>, chosen: &SelectableStage) -> StageOutcome {
        let Ok(id) = Uuid::parse_str(&chosen.pk) else {
            return StageOutcome::Denied(None);
        };
        cx.context.set_extra(SELECTED_STAGE_KEY, &chosen.pk);
        cx.context.remove_extra(STAGES_KEY);
        cx.insert_next.push(PlannedStage::injected(id));
        StageOutcome::Passed
    }

    /// Records the device that proved the second factor.
    async fn succeeded(&self, cx: &mut StageCx<'_>, device: &Device) -> EngineResult<StageOutcome> {
        if cx.context.auth_method.is_none() {
            cx.context.auth_method = Some(AUTH_METHOD_MFA.to_owned());
        }
        let list = cx
            .context
            .auth_method_args
            .entry("mfa_devices")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.push(device_reference(device));
        }
        devices::mark_used(cx.db(), device, cx.now).await?;
        cx.context.remove_extra(CHALLENGES_KEY);
        cx.context.remove_extra(STAGES_KEY);
        Ok(StageOutcome::Passed)
    }

    async fn failed(
        &self,
        cx: &mut StageCx<'_>,
        errors: ResponseErrors,
        login_failed: bool,
    ) -> EngineResult<StageOutcome> {
        let who = identifier(cx);
        if login_failed {
            super::password::record_failure(cx, &who, true).await?;
        } else {
            reputation::adjust(cx.db(), &who, &cx.request.client_ip, -1, cx.now).await?;
        }
        Ok(StageOutcome::Invalid(self.saved_kind(cx), errors))
    }

    async fn check_code(
        &self,
        cx: &mut StageCx<'_>,
        user: Option<&user::Model>,
        code: &str,
    ) -> EngineResult<StageOutcome> {
        let challenges: Vec<DeviceChallenge> =
            cx.context.get_extra(CHALLENGES_KEY).unwrap_or_default();
        let offered: Vec<DeviceClass> = challenges
            .iter()
            .filter_map(|c| DeviceClass::parse(&c.device_class))
            .filter(|c| c.is_code_based())
            .collect();
        if offered.is_empty() {
            let errors = ResponseErrors::single("code", NO_COMPATIBLE_CLASS, "invalid");
            return self.failed(cx, errors, false).await;
        }
        let verification = match user {
            // Only the classes this stage allows: a static token must not pass a TOTP-only stage.
            Some(user) => {
                let classes: Vec<DeviceClass> = DeviceClass::ALL
                    .into_iter()
                    .filter(|c| self.allows(*c) && c.is_code_based())
                    .collect();
                devices::verify_code(
                    cx.db(),
                    &cx.services.settings.mfa_keys,
                    user.id,
                    &classes,
                    code,
                    cx.now,
                )
                .await?
            }
            None => CodeVerification::Rejected { throttled: false },
        };
        match verification {
            CodeVerification::Accepted(device) => self.succeeded(cx, &device).await,
            CodeVerification::Rejected { .. } => {
                let errors = ResponseErrors::single("code", INVALID_TOKEN, "invalid");
                self.failed(cx, errors, true).await
            }
        }
    }
}

/// How a configuration stage is offered in the picker.
fn selectable_stage(row: &stage::Model) -> SelectableStage {
    let (verbose_name, model) = match row.kind.as_str() {
        "authenticator_totp" => ("TOTP Authenticator", "authenticatortotpstage"),
        "authenticator_static" => ("Static Authenticator", "authenticatorstaticstage"),
        "authenticator_webauthn" => ("WebAuthn Authenticator", "authenticatorwebauthnstage"),
        "authenticator_duo" => ("Duo Authenticator", "authenticatorduostage"),
        "authenticator_sms" => ("SMS Authenticator", "authenticatorsmsstage"),
        "authenticator_email" => ("Email Authenticator", "authenticatoremailstage"),
        _ => ("Stage", "stage"),
    };
    let app = format!("authentik_stages_{}", row.kind);
    let name = row
        .config
        .get("friendly_name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(&row.name)
        .to_owned();
    SelectableStage {
        pk: row.id.to_string(),
        name,
        verbose_name: verbose_name.to_owned(),
        meta_model_name: format!("{app}.{model}"),
    }
}

/// `selected_challenge` as an object, or as JSON text (a form posted without JavaScript).
fn selected_challenge(body: &Value) -> Result<Option<DeviceChallenge>, ()> {
    let value = match body.get("selected_challenge") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).map_err(|_| ())?,
        Some(other) => other.clone(),
    };
    // Only class and uid matter; clients echo the rest.
    let class = value.get("device_class").and_then(Value::as_str);
    let uid = value.get("device_uid").and_then(Value::as_str);
    match (class, uid) {
        (Some(class), Some(uid)) => Ok(Some(DeviceChallenge {
            device_class: class.to_owned(),
            device_uid: uid.to_owned(),
            challenge: value.get("challenge").cloned().unwrap_or(json!({})),
            last_used: None,
        })),
        _ => Err(()),
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorValidateStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        cx.context.remove_extra(STAGES_KEY);
        let user = match subject(cx).await? {
            Subject::User(user) => Some(*user),
            Subject::Unsaved => None,
            Subject::Nobody => {
                let designation: FlowDesignation = parse_stored(&cx.flow.designation)
                    .map_err(crate::engine::EngineError::CorruptData)?;
                if designation != FlowDesignation::Authentication
                    || !self.allows(DeviceClass::Webauthn)
                {
                    return Ok(StageOutcome::Passed);
                }
                return Ok(match webauthn::passwordless_challenge(cx, self).await? {
                    Some(challenge) => {
                        cx.context.set_extra(CHALLENGES_KEY, [&challenge]);
                        StageOutcome::Show(self.challenge_kind(cx, vec![challenge], Vec::new()))
                    }
                    None => StageOutcome::Passed,
                });
            }
        };
        let (devices, challenges) = match &user {
            Some(user) => self.device_challenges(cx, user).await?,
            None => (Vec::new(), Vec::new()),
        };
        if devices.iter().any(|d| self.recently_validated(d, cx.now)) {
            return Ok(StageOutcome::Passed);
        }
        cx.context.set_extra(CHALLENGES_KEY, &challenges);
        if challenges.is_empty() {
            return self.not_configured(cx).await;
        }
        Ok(StageOutcome::Show(self.challenge_kind(
            cx,
            challenges,
            Vec::new(),
        )))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let user = match subject(cx).await? {
            Subject::User(user) => Some(*user),
            Subject::Unsaved | Subject::Nobody => None,
        };
        let mut fields = ResponseFields::new(response);
        let selected_stage = fields.optional_string("selected_stage");
        let code = fields.optional_string("code");
        let assertion: Option<Map<String, Value>> = fields.optional_object("webauthn").cloned();
        if let Err(errors) = fields.finish() {
            return self.failed(cx, errors, false).await;
        }

        if let Some(selected) = selected_stage {
            let offered: Vec<SelectableStage> =
                cx.context.get_extra(STAGES_KEY).unwrap_or_default();
            return match offered.iter().find(|s| s.pk == selected) {
                Some(chosen) => Ok(self.inject(cx, chosen)),
                None => {
                    let errors = ResponseErrors::single("selected_stage", INVALID_STAGE, "invalid");
                    self.failed(cx, errors, false).await
                }
            };
        }

        let challenges: Vec<DeviceChallenge> =
            cx.context.get_extra(CHALLENGES_KEY).unwrap_or_default();
        match selected_challenge(response) {
            Ok(Some(selected)) => {
                let known = challenges.iter().any(|c| {
                    c.device_class == selected.device_class && c.device_uid == selected.device_uid
                });
                if !known {
                    let errors =
                        ResponseErrors::single("selected_challenge", INVALID_CHALLENGE, "invalid");
                    return self.failed(cx, errors, false).await;
                }
                // The picked device goes first in the re-rendered list, so that a page without
                // script state (or a reload) shows that device's form.
                let mut reordered = challenges.clone();
                if let Some(at) = reordered.iter().position(|c| {
                    c.device_class == selected.device_class && c.device_uid == selected.device_uid
                }) {
                    let picked = reordered.remove(at);
                    reordered.insert(0, picked);
                }
                cx.context.set_extra(CHALLENGES_KEY, &reordered);
                if selected.device_class == DeviceClass::Sms.as_str() && code.is_none() {
                    match sms::send_code(cx, user.as_ref(), &selected.device_uid).await? {
                        Some(errors) if errors.0.is_empty() => {}
                        Some(errors) => return self.failed(cx, errors, false).await,
                        None => {
                            let errors = ResponseErrors::single(
                                "selected_challenge",
                                INVALID_CHALLENGE,
                                "invalid",
                            );
                            return self.failed(cx, errors, false).await;
                        }
                    }
                }
                if selected.device_class == DeviceClass::Email.as_str() && code.is_none() {
                    match email::send_code(cx, user.as_ref(), &selected.device_uid).await? {
                        email::Sent::Queued => {}
                        email::Sent::Limited => {
                            let errors = super::authenticator_email::CodeMail::limited_errors();
                            return self.failed(cx, errors, false).await;
                        }
                        email::Sent::Failed => return Ok(StageOutcome::Denied(None)),
                        email::Sent::NoDevice => {
                            let errors = ResponseErrors::single(
                                "selected_challenge",
                                INVALID_CHALLENGE,
                                "invalid",
                            );
                            return self.failed(cx, errors, false).await;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(()) => {
                let errors =
                    ResponseErrors::single("selected_challenge", INVALID_CHALLENGE, "invalid");
                return self.failed(cx, errors, false).await;
            }
        }

        if let Some(code) = code {
            return self.check_code(cx, user.as_ref(), &code).await;
        }
        if let Some(assertion) = assertion {
            if !challenges
                .iter()
                .any(|c| c.device_class == DeviceClass::Webauthn.as_str())
            {
                let errors = ResponseErrors::single("webauthn", NO_COMPATIBLE_CLASS, "invalid");
                return self.failed(cx, errors, false).await;
            }
            return match webauthn::verify(cx, self, user.as_ref(), &assertion).await? {
                Ok(device) => self.succeeded(cx, &device).await,
                Err(message) => {
                    let errors = ResponseErrors::single("webauthn", message, "invalid");
                    self.failed(cx, errors, true).await
                }
            };
        }
        if response.get("duo").is_some_and(|d| !d.is_null()) {
            // Duo devices arrive with the Duo stage; until then no challenge offers them.
            let errors = ResponseErrors::single("duo", NO_COMPATIBLE_CLASS, "invalid");
            return self.failed(cx, errors, false).await;
        }
        let errors = ResponseErrors::single(NON_FIELD_ERRORS, EMPTY_RESPONSE, "invalid");
        self.failed(cx, errors, false).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn device(class: DeviceClass, last_used: Option<DateTime<Utc>>) -> Device {
        Device {
            class,
            id: 1,
            user_id: 1,
            name: "d".into(),
            confirmed: true,
            created: Utc::now(),
            last_used,
        }
    }

    fn with_threshold(text: &str) -> AuthenticatorValidateStage {
        AuthenticatorValidateStage {
            last_auth_threshold: FlowDuration::parse(text).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn configuration_defaults_are_authentiks() {
        let stage: AuthenticatorValidateStage = serde_json::from_value(json!({})).unwrap();
        assert_eq!(stage, AuthenticatorValidateStage::default());
        assert_eq!(stage.device_classes.len(), 6);
        assert_eq!(stage.not_configured_action, NotConfiguredAction::Skip);
        let value = serde_json::to_value(&stage).unwrap();
        assert_eq!(value["last_auth_threshold"], "seconds=0");
        assert_eq!(value["webauthn_user_verification"], "preferred");
        assert_eq!(value["device_classes"][1], "totp");
    }

    #[test]
    fn the_threshold_counts_only_recent_use() {
        let now = Utc::now();
        let stage = with_threshold("minutes=5");
        assert!(stage.recently_validated(
            &device(DeviceClass::Totp, Some(now - Duration::minutes(4))),
            now
        ));
        assert!(!stage.recently_validated(
            &device(DeviceClass::Totp, Some(now - Duration::minutes(6))),
            now
        ));
        assert!(!stage.recently_validated(&device(DeviceClass::Totp, None), now));
        let never = AuthenticatorValidateStage::default();
        assert!(!never.recently_validated(&device(DeviceClass::Totp, Some(now)), now));
    }

    #[test]
    fn code_based_devices_need_at_least_thirty_seconds() {
        let now = Utc::now();
        let short = with_threshold("seconds=10");
        assert!(short.validate().is_err());
        assert!(!short.recently_validated(&device(DeviceClass::Static, Some(now)), now));
        assert!(short.recently_validated(&device(DeviceClass::Webauthn, Some(now)), now));
        let webauthn_only = AuthenticatorValidateStage {
            device_classes: vec![DeviceClass::Webauthn],
            ..with_threshold("seconds=10")
        };
        assert!(webauthn_only.validate().is_ok());
        assert!(with_threshold("seconds=30").validate().is_ok());
    }

    #[test]
    fn configure_needs_a_configuration_stage() {
        let stage = AuthenticatorValidateStage {
            not_configured_action: NotConfiguredAction::Configure,
            ..Default::default()
        };
        assert!(stage.validate().is_err());
    }

    #[test]
    fn selected_challenge_is_read_from_objects_and_form_text() {
        let object = json!({"selected_challenge": {"device_class": "totp", "device_uid": "3", "challenge": {}}});
        assert_eq!(
            selected_challenge(&object).unwrap().unwrap().device_uid,
            "3"
        );
        let text =
            json!({"selected_challenge": "{\"device_class\":\"static\",\"device_uid\":\"4\"}"});
        assert_eq!(
            selected_challenge(&text).unwrap().unwrap().device_class,
            "static"
        );
        assert_eq!(selected_challenge(&json!({})), Ok(None));
        assert!(selected_challenge(&json!({"selected_challenge": "nope"})).is_err());
        assert!(selected_challenge(&json!({"selected_challenge": {"device_class": 1}})).is_err());
    }
}
