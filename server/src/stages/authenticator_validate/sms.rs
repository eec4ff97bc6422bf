//! The SMS branch of authenticator validation: only numbers kept in full can sign in (a
//! verify-only device holds a hash), and picking an SMS device texts it a code through the
//! gateway of the set-up stage it was registered with. The code is then checked with the other
//! code-based devices (`mfa::devices::verify_code`).

use app::protocol::ResponseErrors;
use sea_orm::EntityTrait;

use crate::engine::{stage::StageCx, EngineResult};
use crate::mfa::devices::Device;
use crate::mfa::sms::is_hashed;
use crate::stages::StageConfig;
use crate::store::{sms_device, stage, user};

/// Whether `device` (an SMS device) can receive codes: it exists and is not verify-only.
pub(super) async fn usable(cx: &StageCx<'_>, device: &Device) -> EngineResult<bool> {
    Ok(sms_device::Entity::find_by_id(device.id)
        .one(cx.db())
        .await?
        .is_some_and(|row| !is_hashed(&row.phone_number)))
}

/// Texts a new code to the user's SMS device `uid`. `Ok(None)`: not a usable device of this
/// user (or its set-up stage is gone); else the errors of the attempt (none: a code is on its
/// way).
pub(super) async fn send_code(
    cx: &StageCx<'_>,
    user: Option<&user::Model>,
    uid: &str,
) -> EngineResult<Option<ResponseErrors>> {
    let (Some(user), Ok(id)) = (user, uid.parse::<i32>()) else {
        return Ok(None);
    };
    let Some(device) = sms_device::Entity::find_by_id(id)
        .one(cx.db())
        .await?
        .filter(|d| d.user_id == user.id && d.confirmed && !is_hashed(&d.phone_number))
    else {
        return Ok(None);
    };
    let Some(row) = stage::Entity::find_by_id(device.stage_id)
        .one(cx.db())
        .await?
    else {
        return Ok(None);
    };
    let StageConfig::AuthenticatorSms(setup) = StageConfig::from_row(&row)? else {
        return Ok(None);
    };
    Ok(Some(setup.text_code(cx, user, &device).await?.errors()))
}
