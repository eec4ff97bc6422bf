//! User login: signs the pending user in. The session gets a new token (no fixation), a lifetime
//! of `session_duration` (0: until the browser closes) plus `remember_me_offset` when the person
//! ticks "remember me" (asked only when an offset is configured).

use app::protocol::{ChallengeKind, UserLoginChallenge};
use chrono::Duration;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::duration::FlowDuration;
use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::store::user;
use crate::{events, reputation, sessions};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UserLoginStage {
    #[serde(default = "FlowDuration::zero")]
    pub session_duration: FlowDuration,
    #[serde(default = "FlowDuration::zero")]
    pub remember_me_offset: FlowDuration,
    #[serde(default)]
    pub terminate_other_sessions: bool,
}

impl Default for UserLoginStage {
    fn default() -> Self {
        Self {
            session_duration: FlowDuration::zero(),
            remember_me_offset: FlowDuration::zero(),
            terminate_other_sessions: false,
        }
    }
}

impl UserLoginStage {
    fn asks_remember_me(&self) -> bool {
        self.remember_me_offset.value > Duration::zero()
    }

    async fn login(&self, cx: &mut StageCx<'_>, remember_me: bool) -> EngineResult<StageOutcome> {
        let Some(pk) = cx.context.pending_user.as_ref().and_then(|u| u.pk) else {
            return Ok(StageOutcome::Denied(None));
        };
        let Some(account) = user::Entity::find_by_id(pk)
            .one(cx.db())
            .await?
            .filter(|u| u.is_active)
        else {
            return Ok(StageOutcome::Denied(None));
        };
        let mut lifetime = self.session_duration.value;
        if remember_me {
            lifetime += self.remember_me_offset.value;
        }
        let persistent = lifetime > Duration::zero();
        let expires_at = cx.now
            + if persistent {
                lifetime
            } else {
                cx.services.settings.browser_session_ttl
            };

        sessions::login(
            &cx.services.db,
            cx.session,
            account.clone(),
            expires_at,
            persistent,
            &cx.request.client_ip,
        )
        .await?;
        if self.terminate_other_sessions {
            sessions::delete_other_sessions(cx.db(), account.id, cx.session.id).await?;
        }
        user::ActiveModel {
            id: Set(account.id),
            last_login: Set(Some(cx.now)),
            ..Default::default()
        }
        .update(cx.db())
        .await?;
        reputation::adjust(cx.db(), &account.username, &cx.request.client_ip, 1, cx.now).await?;
        events::record(
            cx.db(),
            events::NewEvent {
                action: events::action::LOGIN,
                user: Some((account.id, &account.username)),
                client_ip: &cx.request.client_ip,
                context: json!({
                    "auth_method": cx.context.auth_method,
                    "auth_method_args": cx.context.auth_method_args,
                    "stage": cx.stage_name,
                }),
                now: cx.now,
            },
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

#[async_trait::async_trait]
impl Stage for UserLoginStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if !self.asks_remember_me() {
            return self.login(cx, false).await;
        }
        if cx
            .context
            .pending_user
            .as_ref()
            .and_then(|u| u.pk)
            .is_none()
        {
            return Ok(StageOutcome::Denied(None));
        }
        Ok(StageOutcome::Show(ChallengeKind::UserLogin(
            UserLoginChallenge {
                user: cx.pending_user_info(),
            },
        )))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        if !self.asks_remember_me() {
            return self.login(cx, false).await;
        }
        let mut fields = ResponseFields::new(response);
        let remember = fields.required_bool("remember_me");
        match (remember, fields.finish()) {
            (Some(remember), Ok(())) => self.login(cx, remember).await,
            (_, result) => {
                let errors = result.err().unwrap_or_default();
                let kind = ChallengeKind::UserLogin(UserLoginChallenge {
                    user: cx.pending_user_info(),
                });
                Ok(StageOutcome::Invalid(kind, errors))
            }
        }
    }
}
