//! The one shape every stage has. A stage is asked for its challenge when it becomes current
//! and is handed the person's response; it answers with a [`StageOutcome`]. Silent stages
//! (login, logout, deny, user write, …) decide at once, on GET and POST alike.
//!
//! ```text
//!            challenge()                      respond(body)
//! current ─────────────▶ Show(challenge) ──▶ Invalid(challenge, errors)  → retry / restart
//!    │                                   ├─▶ Passed                      → next stage
//!    └── silent ──▶ Passed | Denied      └─▶ Denied(message)             → access denied
//! ```

use app::protocol::{ChallengeKind, MessageLevel, PendingUserInfo, ResponseErrors, UiMessage};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde_json::Value;
use uuid::Uuid;

use super::{
    completion::Settled,
    context::FlowContext,
    plan::{InMemoryStage, PlannedStage},
    request::{FlowQuery, RequestInfo},
    EngineResult, EngineServices,
};
use crate::sessions::ActiveSession;
use crate::store::{flow, stage, user};

/// What a stage decided.
#[derive(Debug)]
pub enum StageOutcome {
    /// Show this challenge (first render, or a step that needs more input).
    Show(ChallengeKind),
    /// The response was rejected: show this freshly generated challenge with these errors.
    /// The binding's `invalid_response_action` decides between retry and restart.
    Invalid(ChallengeKind, ResponseErrors),
    /// The stage is done; the flow moves on.
    Passed,
    /// The flow ends with "access denied" (`None`: "Unknown error").
    Denied(Option<String>),
}

impl StageOutcome {
    pub fn denied(message: impl Into<String>) -> Self {
        Self::Denied(Some(message.into()))
    }
}

#[async_trait::async_trait]
pub trait Stage: Send + Sync {
    /// Called when the stage becomes current (a GET, or right after the previous stage passed).
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome>;

    /// Called with the body a person POSTed while this stage was current. Silent stages act
    /// exactly as on GET, which is the default.
    async fn respond(&self, cx: &mut StageCx<'_>, _response: &Value) -> EngineResult<StageOutcome> {
        self.challenge(cx).await
    }
}

/// Turns stored stage configurations into runnable stages. The engine knows stages only through
/// this trait; the server plugs in the stage kinds (`stages::registry()`), so `engine` does not
/// depend on `stages`.
pub trait StageRegistry: Send + Sync {
    /// The stage for a `stages` row; an unknown kind or unreadable configuration is
    /// [`super::EngineError::CorruptData`].
    fn build(&self, row: &stage::Model) -> EngineResult<Box<dyn Stage>>;

    /// The stage for a plan-only configuration ([`PlannedStage::in_memory`]).
    fn build_in_memory(&self, config: &InMemoryStage) -> EngineResult<Box<dyn Stage>>;

    /// Stages this one may put into the plan right after itself (authenticator validation's
    /// "configure"), each with when it happens in words; for the planner's trace. An
    /// unreadable configuration is an error, as in [`Self::build`].
    fn injections(&self, row: &stage::Model) -> EngineResult<Vec<(Uuid, String)>>;
}

/// Everything a stage may look at or change while it runs.
pub struct StageCx<'a> {
    pub services: &'a EngineServices,
    pub flow: &'a flow::Model,
    /// This stage's row id and name (names appear in events and errors).
    pub stage_id: Uuid,
    pub stage_name: &'a str,
    pub planned: &'a PlannedStage,
    /// The whole remaining plan, index 0 being this stage (the email stage freezes it into its
    /// link's flow token).
    pub plan_stages: &'a [PlannedStage],
    pub context: &'a mut FlowContext,
    pub query: &'a FlowQuery,
    pub request: &'a RequestInfo,
    /// The browser session; login and logout stages change it.
    pub session: &'a mut ActiveSession,
    pub now: DateTime<Utc>,
    /// Stages to run right after this one (authenticator validation's "configure").
    pub insert_next: Vec<PlannedStage>,
    /// UI messages for the person (see [`StageCx::message`]).
    pub messages: &'a mut Vec<UiMessage>,
}

impl StageCx<'_> {
    pub fn db(&self) -> &DatabaseConnection {
        &self.services.db
    }

    /// Shows `text` to the person with the answer to this request (authentik's
    /// `messages.<level>(request, text)`, spec §3.8). Never part of the challenge JSON.
    pub fn message(&mut self, level: MessageLevel, text: impl Into<String>) {
        self.messages.push(UiMessage::new(level, text));
    }

    /// Settles the flow's completion hooks inside `txn` (see [`super::completion`]), for a
    /// stage about to make the flow's result permanent. On [`Settled::Ok`] the settled context
    /// is returned: store it into `self.context` only once `txn` has committed. On
    /// [`Settled::Refused`] roll `txn` back and deny with the message.
    pub async fn settle_completion(
        &self,
        txn: &sea_orm::DatabaseTransaction,
    ) -> EngineResult<(Settled, FlowContext)> {
        let mut context = self.context.clone();
        let settled = self
            .services
            .completion
            .settle_all(txn, &mut context, self.now)
            .await?;
        Ok((settled, context))
    }

    /// The user this flow is about: the pending user, or else the signed-in user.
    pub async fn pending_or_session_user(&self) -> EngineResult<Option<user::Model>> {
        use sea_orm::EntityTrait;
        match self.context.pending_user.as_ref().and_then(|u| u.pk) {
            Some(pk) => Ok(user::Entity::find_by_id(pk).one(self.db()).await?),
            None if self.context.pending_user.is_some() => Ok(None),
            None => Ok(self.session.user.clone()),
        }
    }

    /// Signs this browser out: its session row goes and a fresh anonymous session takes its
    /// place, so the flow goes on (§4.16).
    pub async fn log_out(&mut self) -> EngineResult<()> {
        let ttl = self.services.settings.anonymous_session_ttl;
        crate::sessions::logout(
            &self.services.db,
            self.session,
            self.now,
            ttl,
            &self.request.client_ip,
            &self.request.user_agent,
        )
        .await?;
        Ok(())
    }

    /// `pending_user` / `pending_user_avatar` for "with user info" challenges.
    pub fn pending_user_info(&self) -> PendingUserInfo {
        super::executor::pending_user_info(self.context, self.session, &self.services.settings)
    }
}
