//! WebAuthn setup: registers a security key or passkey for the pending (or signed-in) user.
//! Every render carries a new registration challenge whose state stays in the flow context; the
//! response is checked against it once, then the credential becomes a confirmed device.

use app::protocol::{AuthenticatorWebauthnChallenge, ChallengeKind, ResponseErrors};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, SqlErr};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs_core::proto::RegistrationState;

use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineError, EngineResult,
};
use crate::mfa::devices::DeviceClass;
use crate::mfa::webauthn::{
    finish_registration, registration_type_allowed, start_registration, AuthenticatorAttachment,
    CredentialOwner, Hint, RegisteredCredential, RegistrationSettings, RelyingParty,
    ResidentKeyRequirement, UserVerification,
};
use crate::mfa::webauthn_assertion::user_handle;
use crate::store::{user, webauthn_device};

/// Flow-context key of the pending registration (serialized webauthn-rs state).
pub const REGISTRATION_STATE_KEY: &str =
    "goauthentik.io/stages/authenticator_webauthn/registration_state";
/// Invalid responses so far (authentik's key).
const ATTEMPT_KEY: &str = "goauthentik.io/stages/authenticator_webauthn/attempt";
/// Name of new devices (authentik takes the FIDO metadata description when it has one).
pub const DEFAULT_DEVICE_NAME: &str = "WebAuthn Device";
pub const CREDENTIAL_EXISTS: &str = "Credential ID already exists.";
pub const DEVICE_EXISTS: &str = "Device with Credential ID already exists.";

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorWebauthnStage {
    #[serde(default)]
    pub user_verification: UserVerification,
    #[serde(default)]
    pub resident_key_requirement: ResidentKeyRequirement,
    #[serde(default)]
    pub authenticator_attachment: Option<AuthenticatorAttachment>,
    /// Also refuse a second registration of the same authenticator (same attestation
    /// certificate), not only of the same credential.
    #[serde(default = "yes")]
    pub prevent_duplicate_devices: bool,
    /// Shown to the browser in this order.
    #[serde(default)]
    pub hints: Vec<Hint>,
    /// AAGUIDs allowed to register; empty allows all (see `registration_type_allowed`).
    #[serde(default)]
    pub device_type_restrictions: Vec<Uuid>,
    /// Invalid responses before access is denied; 0 is unlimited.
    #[serde(default)]
    pub max_attempts: u32,
    /// The flow a signed-in user runs to add a device.
    #[serde(default)]
    pub configure_flow: Option<Uuid>,
    #[serde(default)]
    pub friendly_name: Option<String>,
}

impl Default for AuthenticatorWebauthnStage {
    fn default() -> Self {
        Self {
            user_verification: UserVerification::default(),
            resident_key_requirement: ResidentKeyRequirement::default(),
            authenticator_attachment: None,
            prevent_duplicate_devices: true,
            hints: vec![],
            device_type_restrictions: vec![],
            max_attempts: 0,
            configure_flow: None,
            friendly_name: None,
        }
    }
}

/// A refused registration: errors to show with a new challenge, or the end of the flow.
enum Refusal {
    Errors(ResponseErrors),
    /// A message for the `response` field.
    Field(String),
    Denied(&'static str),
}

impl AuthenticatorWebauthnStage {
    fn settings(&self) -> RegistrationSettings {
        RegistrationSettings {
            user_verification: self.user_verification,
            resident_key: self.resident_key_requirement,
            attachment: self.authenticator_attachment,
            hints: self.hints.clone(),
        }
    }

    fn relying_party(cx: &StageCx<'_>) -> EngineResult<RelyingParty> {
        RelyingParty::for_request(&cx.services.settings.brand_title, cx.request)
            .map_err(|e| EngineError::CorruptData(format!("WebAuthn relying party: {e}")))
    }

    /// A fresh registration challenge; its state replaces any earlier one.
    async fn challenge_kind(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<ChallengeKind> {
        let rp = Self::relying_party(cx)?;
        let exclude = webauthn_device::Entity::find()
            .filter(webauthn_device::Column::UserId.eq(user.id))
            .all(cx.db())
            .await?
            .into_iter()
            .filter_map(|d| URL_SAFE_NO_PAD.decode(d.credential_id).ok())
            .collect();
        let handle = user_handle(user);
        let display_name = if user.name.is_empty() {
            &user.username
        } else {
            &user.name
        };
        let owner = CredentialOwner {
            handle: &handle,
            name: &user.username,
            display_name,
        };
        let (registration, state) = start_registration(&rp, &owner, exclude, &self.settings())
            .map_err(|e| EngineError::CorruptData(format!("WebAuthn registration: {e}")))?;
        cx.context.extra.insert(
            REGISTRATION_STATE_KEY.to_owned(),
            serde_json::to_value(&state)?,
        );
        Ok(ChallengeKind::AuthenticatorWebauthn(
            AuthenticatorWebauthnChallenge {
                user: cx.pending_user_info(),
                registration,
            },
        ))
    }

    /// Verifies the browser's answer and checks it against existing devices and the allowed
    /// device types.
    async fn register(
        &self,
        cx: &mut StageCx<'_>,
        response: &Value,
        state: Option<Value>,
    ) -> EngineResult<Result<RegisteredCredential, Refusal>> {
        let brand = cx.services.settings.brand_title.clone();
        let Some(state) = state.and_then(|s| serde_json::from_value::<RegistrationState>(s).ok())
        else {
            return Ok(Err(Refusal::Field(
                "Registration failed. Error: no registration in progress".into(),
            )));
        };
        let rp = Self::relying_party(cx)?;
        let registered = match finish_registration(&rp, response, &state) {
            Ok(registered) => registered,
            Err(e) => {
                return Ok(Err(Refusal::Field(format!(
                    "Registration failed. Error: {e}"
                ))))
            }
        };
        let credential_id = URL_SAFE_NO_PAD.encode(&registered.credential.cred_id);
        let mut same =
            Condition::any().add(webauthn_device::Column::CredentialId.eq(credential_id));
        if let (true, Some(fingerprint)) = (
            self.prevent_duplicate_devices,
            registered.certificate_fingerprint.as_ref(),
        ) {
            same = same.add(
                webauthn_device::Column::AttestationCertificateFingerprint.eq(fingerprint.clone()),
            );
        }
        if webauthn_device::Entity::find()
            .filter(same)
            .one(cx.db())
            .await?
            .is_some()
        {
            return Ok(Err(Refusal::Field(CREDENTIAL_EXISTS.into())));
        }
        if !registration_type_allowed(registered.aaguid, &self.device_type_restrictions) {
            return Ok(Err(Refusal::Field(format!(
                "Invalid device type. Contact your {brand} administrator for help."
            ))));
        }
        Ok(Ok(registered))
    }

    async fn register_and_save(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
        response: &Value,
        state: Option<Value>,
    ) -> EngineResult<Result<(), Refusal>> {
        let mut fields = ResponseFields::new(response);
        let credential = fields.optional_object("response").cloned();
        let credential = match (fields.finish(), credential) {
            (Err(errors), _) => return Ok(Err(Refusal::Errors(errors))),
            (Ok(()), None) => {
                let errors =
                    ResponseErrors::single("response", "This field is required.", "required");
                return Ok(Err(Refusal::Errors(errors)));
            }
            (Ok(()), Some(credential)) => Value::Object(credential),
        };
        match self.register(cx, &credential, state).await? {
            Ok(registered) => self.save_device(cx, user, registered).await,
            Err(refusal) => Ok(Err(refusal)),
        }
    }

    async fn save_device(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
        registered: RegisteredCredential,
    ) -> EngineResult<Result<(), Refusal>> {
        let credential = &registered.credential;
        let device = webauthn_device::ActiveModel {
            user_id: Set(user.id),
            name: Set(DEFAULT_DEVICE_NAME.to_owned()),
            confirmed: Set(true),
            created: Set(cx.now),
            last_used: Set(None),
            credential_id: Set(URL_SAFE_NO_PAD.encode(&credential.cred_id)),
            public_key: Set(serde_json::to_string(credential)?),
            sign_count: Set(i64::from(credential.counter)),
            backup_eligible: Set(credential.backup_eligible),
            backup_state: Set(credential.backup_state),
            aaguid: Set(registered.aaguid.unwrap_or(Uuid::nil()).to_string()),
            rp_id: Set(cx.request.host_without_port().to_owned()),
            attestation_certificate_fingerprint: Set(registered.certificate_fingerprint.clone()),
            ..Default::default()
        };
        match device.insert(cx.db()).await {
            Ok(saved) => {
                super::device_events::record_device_created(
                    cx,
                    user,
                    DeviceClass::Webauthn,
                    saved.id,
                    &saved.name,
                )
                .await?;
                Ok(Ok(()))
            }
            // Registered by a parallel request between our check and this insert.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Ok(Err(Refusal::Denied(DEVICE_EXISTS)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorWebauthnStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let Some(user) = cx.pending_or_session_user().await? else {
            return Ok(StageOutcome::Denied(None));
        };
        Ok(StageOutcome::Show(self.challenge_kind(cx, &user).await?))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let Some(user) = cx.pending_or_session_user().await? else {
            return Ok(StageOutcome::Denied(None));
        };
        // Taken out before anything is checked, so a registration challenge answers once.
        let state = cx.context.extra.remove(REGISTRATION_STATE_KEY);
        let errors = match self.register_and_save(cx, &user, response, state).await? {
            Ok(()) => {
                cx.context.remove_extra(ATTEMPT_KEY);
                return Ok(StageOutcome::Passed);
            }
            Err(Refusal::Denied(message)) => return Ok(StageOutcome::denied(message)),
            Err(Refusal::Field(message)) => ResponseErrors::single("response", message, "invalid"),
            Err(Refusal::Errors(errors)) => errors,
        };
        let attempts: u32 = cx.context.get_extra(ATTEMPT_KEY).unwrap_or(0) + 1;
        cx.context.set_extra(ATTEMPT_KEY, attempts);
        if self.max_attempts > 0 && attempts >= self.max_attempts {
            let brand = &cx.services.settings.brand_title;
            return Ok(StageOutcome::denied(format!(
                "Exceeded maximum attempts. Contact your {brand} administrator for help."
            )));
        }
        Ok(StageOutcome::Invalid(
            self.challenge_kind(cx, &user).await?,
            errors,
        ))
    }
}
