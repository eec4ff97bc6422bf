//! Logging in with a WebAuthn credential, as a second factor (authenticator validation's
//! `webauthn` device class) or without a user (passwordless flows, passkey autofill on the
//! identification stage). The ceremony state lives in the flow context, which only the server
//! sees; it is taken out before the assertion is checked, so each challenge answers once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use uuid::Uuid;
use webauthn_rs_core::proto::{AuthenticationState, Credential};

use super::webauthn::{
    apply_authentication, authentication_type_allowed, finish_authentication, parse_assertion,
    start_authentication, AuthenticationSettings, Hint, RelyingParty, UserVerification,
};
use crate::engine::{context::PendingUser, stage::StageCx, EngineError, EngineResult};
use crate::stages::password::BACKEND_INBUILT;
use crate::store::{user, webauthn_device};

/// Flow-context key of the pending authentication ceremony (serialized webauthn-rs state).
pub const AUTHENTICATION_STATE_KEY: &str =
    "goauthentik.io/stages/authenticator_webauthn/authentication_state";
/// `auth_method` of a login made with a passkey alone.
pub const AUTH_METHOD_PASSWORDLESS: &str = "auth_webauthn_pwl";

pub const INVALID_DEVICE: &str = "Invalid device";
pub const ASSERTION_FAILED: &str = "Assertion failed";

/// What the stage that asks for the assertion allows.
#[derive(Clone, Debug, Default)]
pub struct AssertionPolicy {
    pub user_verification: UserVerification,
    pub hints: Vec<Hint>,
    /// AAGUIDs; empty allows every authenticator.
    pub allowed_device_types: Vec<Uuid>,
}

impl AssertionPolicy {
    /// The WebAuthn part of an authenticator validation stage's stored configuration
    /// (`webauthn_user_verification`, `webauthn_hints`, `webauthn_allowed_device_types`), read
    /// on its own so that other stages (identification's passkey login) can use it.
    pub fn from_validate_config(config: &Value) -> Result<Self, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct WebauthnPart {
            #[serde(default)]
            webauthn_user_verification: UserVerification,
            #[serde(default)]
            webauthn_hints: Vec<Value>,
            #[serde(default)]
            webauthn_allowed_device_types: Vec<Uuid>,
        }
        let part: WebauthnPart = serde_json::from_value(config.clone())?;
        Ok(Self {
            user_verification: part.webauthn_user_verification,
            // Hints are only advice to the browser: ones this version does not know are dropped.
            hints: part
                .webauthn_hints
                .into_iter()
                .filter_map(|h| serde_json::from_value(h).ok())
                .collect(),
            allowed_device_types: part.webauthn_allowed_device_types,
        })
    }

    fn settings(&self) -> AuthenticationSettings {
        AuthenticationSettings {
            user_verification: self.user_verification,
            hints: self.hints.clone(),
        }
    }
}

/// Why an assertion was refused (all shown to the person as a validation error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AssertionRefused {
    /// Unparseable, unknown credential, or someone else's.
    InvalidDevice,
    /// The authenticator's type is not on the stage's allow-list.
    InvalidDeviceType,
    /// The signature, challenge, origin, counter or user verification did not check out.
    Failed,
}

impl AssertionRefused {
    pub fn message(&self, brand: &str) -> String {
        match self {
            Self::InvalidDevice => INVALID_DEVICE.to_owned(),
            Self::InvalidDeviceType => {
                format!("Invalid device type. Contact your {brand} administrator for help.")
            }
            Self::Failed => ASSERTION_FAILED.to_owned(),
        }
    }
}

/// The user handle stored with a user's discoverable credentials: their UUID, never personal
/// data, and it never changes.
pub fn user_handle(user: &user::Model) -> Vec<u8> {
    user.uuid.to_string().into_bytes()
}

fn stored_credential(device: &webauthn_device::Model) -> Option<Credential> {
    match serde_json::from_str(&device.public_key) {
        Ok(credential) => Some(credential),
        Err(e) => {
            tracing::warn!(device = device.id, "unreadable WebAuthn credential: {e}");
            None
        }
    }
}

fn device_aaguid(device: &webauthn_device::Model) -> Uuid {
    Uuid::parse_str(&device.aaguid).unwrap_or(Uuid::nil())
}

/// The user's confirmed WebAuthn devices that the policy allows, ordered by name.
pub async fn usable_devices(
    cx: &StageCx<'_>,
    user_id: i32,
    policy: &AssertionPolicy,
) -> EngineResult<Vec<webauthn_device::Model>> {
    let devices = webauthn_device::Entity::find()
        .filter(webauthn_device::Column::UserId.eq(user_id))
        .filter(webauthn_device::Column::Confirmed.eq(true))
        .order_by_asc(webauthn_device::Column::Name)
        .order_by_asc(webauthn_device::Column::Id)
        .all(cx.db())
        .await?;
    Ok(devices
        .into_iter()
        .filter(|d| authentication_type_allowed(device_aaguid(d), &policy.allowed_device_types))
        .collect())
}

/// PublicKeyCredentialRequestOptions for `devices` (empty: any discoverable credential), with
/// the ceremony state put into the flow context. `None` when WebAuthn is impossible for this
/// request (no usable host).
pub fn challenge(
    cx: &mut StageCx<'_>,
    devices: &[webauthn_device::Model],
    policy: &AssertionPolicy,
) -> EngineResult<Option<Value>> {
    let rp = match RelyingParty::for_request(&cx.services.settings.brand_title, cx.request) {
        Ok(rp) => rp,
        Err(e) => {
            tracing::warn!("no WebAuthn challenge for this request: {e}");
            return Ok(None);
        }
    };
    let credentials: Vec<Credential> = devices.iter().filter_map(stored_credential).collect();
    if !devices.is_empty() && credentials.is_empty() {
        return Ok(None);
    }
    let (options, state) = start_authentication(&rp, credentials, &policy.settings())
        .map_err(|e| EngineError::CorruptData(format!("WebAuthn challenge: {e}")))?;
    cx.context.extra.insert(
        AUTHENTICATION_STATE_KEY.to_owned(),
        serde_json::to_value(&state)?,
    );
    Ok(Some(options))
}

/// Checks an assertion against the pending ceremony. `expected_user` is the user the flow is
/// about; `None` accepts a discoverable credential of any active user (passwordless). On
/// success the device's counter, backup flags and `last_used` are saved and it is returned.
pub async fn verify(
    cx: &mut StageCx<'_>,
    response: &Value,
    expected_user: Option<i32>,
    policy: &AssertionPolicy,
) -> EngineResult<Result<webauthn_device::Model, AssertionRefused>> {
    // Taken out first: whatever happens next, this challenge cannot be answered again.
    let state = cx.context.extra.remove(AUTHENTICATION_STATE_KEY);
    let lenient = cx.request.user_agent.contains("MinuteMaid");
    let Ok(assertion) = parse_assertion(response, lenient) else {
        return Ok(Err(AssertionRefused::InvalidDevice));
    };
    let credential_id = URL_SAFE_NO_PAD.encode(&assertion.raw_id);
    let Some(device) = webauthn_device::Entity::find()
        .filter(webauthn_device::Column::CredentialId.eq(&credential_id))
        .filter(webauthn_device::Column::Confirmed.eq(true))
        .one(cx.db())
        .await?
    else {
        return Ok(Err(AssertionRefused::InvalidDevice));
    };
    if expected_user.is_some_and(|id| id != device.user_id) {
        return Ok(Err(AssertionRefused::InvalidDevice));
    }
    let Some(owner) = user::Entity::find_by_id(device.user_id)
        .one(cx.db())
        .await?
        .filter(|u| u.is_active)
    else {
        return Ok(Err(AssertionRefused::InvalidDevice));
    };
    // A discoverable credential names its user; it must be the device's owner.
    if let Some(handle) = assertion.get_user_unique_id() {
        if handle != user_handle(&owner).as_slice() {
            return Ok(Err(AssertionRefused::InvalidDevice));
        }
    }
    if !authentication_type_allowed(device_aaguid(&device), &policy.allowed_device_types) {
        return Ok(Err(AssertionRefused::InvalidDeviceType));
    }
    let Some(mut credential) = stored_credential(&device) else {
        return Ok(Err(AssertionRefused::InvalidDevice));
    };
    let Some(state) = state.and_then(|s| serde_json::from_value::<AuthenticationState>(s).ok())
    else {
        return Ok(Err(AssertionRefused::Failed));
    };
    let rp = match RelyingParty::for_request(&cx.services.settings.brand_title, cx.request) {
        Ok(rp) => rp,
        Err(_) => return Ok(Err(AssertionRefused::Failed)),
    };
    let result = match finish_authentication(&rp, &assertion, &state, &credential) {
        Ok(result) => result,
        Err(e) => {
            tracing::info!(device = device.id, "WebAuthn assertion refused: {e}");
            return Ok(Err(AssertionRefused::Failed));
        }
    };
    apply_authentication(&mut credential, &result);
    // Guarded by the counter read above: of two racing uses of one assertion only one wins.
    let updated = webauthn_device::Entity::update_many()
        .col_expr(
            webauthn_device::Column::SignCount,
            Expr::value(i64::from(credential.counter)),
        )
        .col_expr(
            webauthn_device::Column::BackupEligible,
            Expr::value(credential.backup_eligible),
        )
        .col_expr(
            webauthn_device::Column::BackupState,
            Expr::value(credential.backup_state),
        )
        .col_expr(
            webauthn_device::Column::PublicKey,
            Expr::value(serde_json::to_string(&credential)?),
        )
        .col_expr(webauthn_device::Column::LastUsed, Expr::value(cx.now))
        .filter(webauthn_device::Column::Id.eq(device.id))
        .filter(webauthn_device::Column::SignCount.eq(device.sign_count))
        .exec(cx.db())
        .await?;
    if updated.rows_affected != 1 {
        return Ok(Err(AssertionRefused::Failed));
    }
    Ok(Ok(webauthn_device::Model {
        sign_count: i64::from(credential.counter),
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        public_key: serde_json::to_string(&credential)?,
        last_used: Some(cx.now),
        ..device
    }))
}

/// How authentik names a device in `auth_method_args` (and in `mfa_devices`).
pub fn device_reference(device: &webauthn_device::Model) -> Value {
    json!({
        "pk": device.id,
        "app": "authentik_stages_authenticator_webauthn",
        "name": device.name,
        "model_name": "webauthndevice",
    })
}

/// The passwordless outcome: the device's owner becomes the (already authenticated) pending
/// user, and the login is recorded as `auth_webauthn_pwl` with the device.
pub async fn sign_in_passwordless(
    cx: &mut StageCx<'_>,
    device: &webauthn_device::Model,
) -> EngineResult<()> {
    let owner = user::Entity::find_by_id(device.user_id)
        .one(cx.db())
        .await?
        .ok_or_else(|| EngineError::CorruptData(format!("device {} has no user", device.id)))?;
    cx.context.pending_user = Some(PendingUser {
        pk: Some(owner.id),
        username: owner.username,
        email: owner.email,
        backend: Some(BACKEND_INBUILT.to_owned()),
    });
    cx.context.auth_method = Some(AUTH_METHOD_PASSWORDLESS.to_owned());
    cx.context
        .auth_method_args
        .insert("device".into(), device_reference(device));
    cx.context
        .auth_method_args
        .insert("device_type".into(), device_type_reference(device));
    Ok(())
}

/// `device_type`: authentik's WebAuthnDeviceType; without a metadata import only the AAGUID is
/// known.
fn device_type_reference(device: &webauthn_device::Model) -> Value {
    let aaguid = device_aaguid(device);
    if aaguid.is_nil() {
        Value::Null
    } else {
        json!({"aaguid": aaguid.to_string(), "description": null})
    }
}
