//! Static authenticator setup: makes `token_count` single-use recovery tokens, shows them once,
//! and saves the device when the person confirms they stored them (any POST confirms).
//! The tokens are hashed in the database from the start; until confirmation the plain tokens
//! are kept sealed in the plan context, so a reload shows the same set.

use app::protocol::{AuthenticatorStaticChallenge, ChallengeKind};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::authenticator_totp::setup_user;
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::mfa::devices::{self, DeviceClass};
use crate::mfa::static_tokens;
use crate::store::{static_device, user};

/// `{device, codes}` of the set-up in progress; `codes` sealed (a plan-context key).
const PENDING_KEY: &str = "goauthentik.io/stages/authenticator_static/pending";
pub const DEVICE_NAME: &str = "Static Token";

fn default_token_count() -> u32 {
    6
}

fn default_token_length() -> u32 {
    12
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AuthenticatorStaticStage {
    #[serde(default = "default_token_count")]
    pub token_count: u32,
    /// At most 100, as in authentik.
    #[serde(default = "default_token_length")]
    pub token_length: u32,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub configure_flow: Option<Uuid>,
}

impl Default for AuthenticatorStaticStage {
    fn default() -> Self {
        Self {
            token_count: default_token_count(),
            token_length: default_token_length(),
            friendly_name: None,
            configure_flow: None,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Pending {
    device: i32,
    codes: String,
}

fn pending_aad(device: i32) -> Vec<u8> {
    format!("static_devices.id={device}").into_bytes()
}

impl AuthenticatorStaticStage {
    /// The codes of the set-up in progress, if the context holds one that still opens.
    async fn resume(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<(i32, Vec<String>)>> {
        let Some(pending) = cx.context.get_extra::<Pending>(PENDING_KEY) else {
            return Ok(None);
        };
        let device = static_device::Entity::find_by_id(pending.device)
            .one(cx.db())
            .await?
            .filter(|d| d.user_id == user.id && !d.confirmed);
        let Some(device) = device else {
            return Ok(None);
        };
        let keys = &cx.services.settings.mfa_keys;
        let codes = keys
            .open(&pending.codes, &pending_aad(device.id))
            .ok()
            .and_then(|plain| serde_json::from_slice::<Vec<String>>(&plain).ok());
        Ok(codes.map(|codes| (device.id, codes)))
    }

    async fn start(
        &self,
        cx: &mut StageCx<'_>,
        user: &user::Model,
    ) -> EngineResult<Option<Vec<String>>> {
        devices::delete_unconfirmed(cx.db(), DeviceClass::Static, user.id, None).await?;
        let codes = static_tokens::generate(self.token_count, self.token_length);
        let keys = cx.services.settings.mfa_keys.clone();
        let device =
            devices::create_static(cx.db(), &keys, user.id, DEVICE_NAME, &codes, cx.now).await?;
        let plain = serde_json::to_vec(&codes)?;
        let Ok(sealed) = keys.seal(&plain, &pending_aad(device.id)) else {
            return Ok(None);
        };
        cx.context.set_extra(
            PENDING_KEY,
            Pending {
                device: device.id,
                codes: sealed,
            },
        );
        Ok(Some(codes))
    }
}

#[async_trait::async_trait]
impl Stage for AuthenticatorStaticStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        let codes = match self.resume(cx, &user).await? {
            Some((_, codes)) => Some(codes),
            None => self.start(cx, &user).await?,
        };
        let Some(codes) = codes else {
            return Ok(StageOutcome::Denied(None));
        };
        Ok(StageOutcome::Show(ChallengeKind::AuthenticatorStatic(
            AuthenticatorStaticChallenge {
                user: cx.pending_user_info(),
                codes,
            },
        )))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, _response: &Value) -> EngineResult<StageOutcome> {
        let user = match setup_user(cx).await?.or_outcome() {
            Ok(user) => user,
            Err(outcome) => return Ok(outcome),
        };
        match self.resume(cx, &user).await? {
            Some((device, _)) => {
                devices::confirm_static(cx.db(), device).await?;
                cx.context.remove_extra(PENDING_KEY);
                super::device_events::record_device_created(
                    cx,
                    &user,
                    DeviceClass::Static,
                    device,
                    DEVICE_NAME,
                )
                .await?;
                Ok(StageOutcome::Passed)
            }
            // Nothing was shown yet (or it expired): show the codes first.
            None => self.challenge(cx).await,
        }
    }
}
