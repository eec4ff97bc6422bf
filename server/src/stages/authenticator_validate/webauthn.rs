//! The WebAuthn branch of authenticator validation: the `webauthn` device challenge (request
//! options for all the user's allowed WebAuthn devices), the user-less challenge of a
//! passwordless flow (`device_uid: "-1"`, any discoverable credential), and checking the
//! assertion. The ceremony itself lives in `mfa::webauthn_assertion`.

use app::protocol::DeviceChallenge;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value};

use super::{AuthenticatorValidateStage, CHALLENGES_KEY};
use crate::engine::{stage::StageCx, EngineResult};
use crate::mfa::devices::{Device, DeviceClass};
use crate::mfa::webauthn_assertion::{self as assertion, AssertionPolicy, AssertionRefused};
use crate::store::{user, webauthn_device};

/// `device_uid` of the user-less challenge.
pub const PASSWORDLESS_DEVICE_UID: &str = "-1";

fn policy(stage: &AuthenticatorValidateStage) -> EngineResult<AssertionPolicy> {
    Ok(AssertionPolicy::from_validate_config(
        &serde_json::to_value(stage)?,
    )?)
}

/// Applies `webauthn_allowed_device_types` to the user's devices.
pub(super) async fn filter_allowed(
    cx: &StageCx<'_>,
    stage: &AuthenticatorValidateStage,
    devices: Vec<Device>,
) -> EngineResult<Vec<Device>> {
    let Some(user_id) = devices
        .iter()
        .find(|d| d.class == DeviceClass::Webauthn)
        .map(|d| d.user_id)
    else {
        return Ok(devices);
    };
    let usable: Vec<i32> = assertion::usable_devices(cx, user_id, &policy(stage)?)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    Ok(devices
        .into_iter()
        .filter(|d| d.class != DeviceClass::Webauthn || usable.contains(&d.id))
        .collect())
}

/// The `challenge` object of the WebAuthn device challenge: allowCredentials lists every one of
/// `devices` that is a WebAuthn device, ordered by name. `None` offers no WebAuthn.
pub(super) async fn device_challenge(
    cx: &mut StageCx<'_>,
    stage: &AuthenticatorValidateStage,
    devices: &[Device],
) -> EngineResult<Option<Value>> {
    let ids: Vec<i32> = devices
        .iter()
        .filter(|d| d.class == DeviceClass::Webauthn)
        .map(|d| d.id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let models = webauthn_device::Entity::find()
        .filter(webauthn_device::Column::Id.is_in(ids))
        .order_by_asc(webauthn_device::Column::Name)
        .order_by_asc(webauthn_device::Column::Id)
        .all(cx.db())
        .await?;
    assertion::challenge(cx, &models, &policy(stage)?)
}

/// The passwordless (user-less) WebAuthn challenge, `None` to pass the stage instead.
pub(super) async fn passwordless_challenge(
    cx: &mut StageCx<'_>,
    stage: &AuthenticatorValidateStage,
) -> EngineResult<Option<DeviceChallenge>> {
    Ok(
        assertion::challenge(cx, &[], &policy(stage)?)?.map(|options| DeviceChallenge {
            device_class: DeviceClass::Webauthn.as_str().to_owned(),
            device_uid: PASSWORDLESS_DEVICE_UID.to_owned(),
            challenge: options,
            last_used: None,
        }),
    )
}

/// Verifies a `webauthn` response; the device that signed it, or the error to show. Without a
/// user this is the passwordless login: the device's owner becomes the pending user.
pub(super) async fn verify(
    cx: &mut StageCx<'_>,
    stage: &AuthenticatorValidateStage,
    user: Option<&user::Model>,
    response: &Map<String, Value>,
) -> EngineResult<Result<Device, String>> {
    let policy = policy(stage)?;
    let passwordless = user.is_none() && cx.context.pending_user.is_none();
    let outcome = if user.is_none() && !passwordless {
        // An unsaved stand-in user has no devices.
        cx.context.remove_extra(assertion::AUTHENTICATION_STATE_KEY);
        Err(AssertionRefused::InvalidDevice)
    } else {
        let response = Value::Object(response.clone());
        assertion::verify(cx, &response, user.map(|u| u.id), &policy).await?
    };
    match outcome {
        Ok(device) => {
            if passwordless {
                assertion::sign_in_passwordless(cx, &device).await?;
            }
            Ok(Ok(Device::from(device)))
        }
        Err(refused) => {
            // The used challenge is gone; the form shown with the error gets a fresh one.
            refresh_challenge(cx, &policy, user).await?;
            Ok(Err(refused.message(&cx.services.settings.brand_title)))
        }
    }
}

/// Replaces the WebAuthn entry of the saved device challenges with a new ceremony.
async fn refresh_challenge(
    cx: &mut StageCx<'_>,
    policy: &AssertionPolicy,
    user: Option<&user::Model>,
) -> EngineResult<()> {
    let mut challenges: Vec<DeviceChallenge> =
        cx.context.get_extra(CHALLENGES_KEY).unwrap_or_default();
    let Some(index) = challenges
        .iter()
        .position(|c| c.device_class == DeviceClass::Webauthn.as_str())
    else {
        return Ok(());
    };
    let devices = match user {
        Some(user) => assertion::usable_devices(cx, user.id, policy).await?,
        None => Vec::new(),
    };
    if user.is_some() && devices.is_empty() {
        challenges.remove(index);
    } else {
        match assertion::challenge(cx, &devices, policy)? {
            Some(options) => challenges[index].challenge = options,
            None => {
                challenges.remove(index);
            }
        }
    }
    cx.context.set_extra(CHALLENGES_KEY, &challenges);
    Ok(())
}
