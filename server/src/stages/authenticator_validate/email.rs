//! The email branch of authenticator validation: the `email` device challenge (`{"email":
//! <masked address>}`) and mailing a code when the person picks that device. The code is then
//! checked with the other code-based devices (`mfa::devices::verify_code`). Codes go out with
//! the settings of the set-up stage the address was registered with.

use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::engine::{stage::StageCx, EngineResult};
use crate::mfa::devices::Device;
use crate::mfa::email::mask_email;
use crate::stages::authenticator_email::CodeMail;
use crate::stages::StageConfig;
use crate::store::{email_device, stage, user};

/// The device challenge payload of an email device; `None` if it vanished meanwhile.
pub(super) async fn device_challenge(
    cx: &StageCx<'_>,
    device: &Device,
) -> EngineResult<Option<Value>> {
    Ok(email_device::Entity::find_by_id(device.id)
        .one(cx.db())
        .await?
        .map(|row| json!({"email": mask_email(&row.email)})))
}

/// What picking an email device did.
pub(super) enum Sent {
    Queued,
    Limited,
    Failed,
    /// Not a confirmed email device of this user (or its set-up stage is gone).
    NoDevice,
}

/// Mails a new code to the user's email device `uid` (rate-limited per address).
pub(super) async fn send_code(
    cx: &StageCx<'_>,
    user: Option<&user::Model>,
    uid: &str,
) -> EngineResult<Sent> {
    let (Some(user), Ok(id)) = (user, uid.parse::<i32>()) else {
        return Ok(Sent::NoDevice);
    };
    let Some(device) = email_device::Entity::find_by_id(id)
        .one(cx.db())
        .await?
        .filter(|d| d.user_id == user.id && d.confirmed)
    else {
        return Ok(Sent::NoDevice);
    };
    let Some(row) = stage::Entity::find_by_id(device.stage_id)
        .one(cx.db())
        .await?
    else {
        return Ok(Sent::NoDevice);
    };
    let StageConfig::AuthenticatorEmail(setup) = StageConfig::from_row(&row)? else {
        return Ok(Sent::NoDevice);
    };
    Ok(match setup.mail_code(cx, row.id, user, &device).await? {
        CodeMail::Queued => Sent::Queued,
        CodeMail::Limited => Sent::Limited,
        CodeMail::Failed => Sent::Failed,
    })
}
