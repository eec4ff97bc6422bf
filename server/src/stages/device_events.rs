//! The audit event of a finished MFA set-up: authentik's `model_created` naming the device, for
//! the account that set it up (the admin's "MFA added" in the event log).

use chrono::Utc;
use serde_json::json;

use crate::engine::{stage::StageCx, EngineResult};
use crate::events;
use crate::mfa::devices::DeviceClass;
use crate::store::user;

/// Records that `owner` confirmed device `pk` (`name`) of `class`.
pub async fn record_device_created(
    cx: &StageCx<'_>,
    owner: &user::Model,
    class: DeviceClass,
    pk: i32,
    name: &str,
) -> EngineResult<()> {
    let (app, model) = class.meta_model_name().split_once('.').unwrap_or(("", ""));
    events::record(
        cx.db(),
        events::NewEvent {
            action: events::action::MODEL_CREATED,
            user: Some((owner.id, &owner.username)),
            client_ip: &cx.request.client_ip,
            context: json!({"model": {"app": app, "model_name": model, "pk": pk, "name": name}}),
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}
