//! The executor: walks a plan one stage at a time for one HTTP request. Where authentik answers
//! "stage passed" with a 302 back to itself, keyflow keeps going in the same request and answers
//! with the next challenge directly: the same result for a client that follows redirects, one
//! round trip less for everyone.

use app::protocol::{
    AccessDeniedChallenge, Challenge, ChallengeKind, FlowAnswer, FlowInfo, MessageLevel,
    PendingUserInfo, RedirectChallenge, ResponseErrors, UiMessage, NON_FIELD_ERRORS,
};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use super::{
    completion::Settled,
    context::FlowContext,
    plan::FlowPlan,
    plan_store,
    planner::{self, Planned},
    policy::{evaluate_target, PolicyRequest},
    request::{is_safe_relative_redirect, FlowQuery, RequestInfo},
    stage::{StageCx, StageOutcome},
    EngineError, EngineResult, EngineServices, EngineSettings,
};
use crate::flow_tokens;
use crate::flows::{
    parse_stored, DeniedAction, FlowDesignation, FlowLayout, InvalidResponseAction,
};
use crate::sessions::ActiveSession;
use crate::store::{flow, stage};

/// Restarts allowed within one request before the executor gives up (a misconfigured flow
/// whose first stage always restarts must not spin forever).
const MAX_RESTARTS: usize = 8;
/// Stages allowed to pass within one request (guards against cycles of injected stages).
const MAX_STEPS: usize = 256;

/// The name in-memory stages (no `stages` row) go by in events and logs.
const IN_MEMORY_STAGE: &str = "in-memory stage";

pub const UNKNOWN_ERROR: &str = "Unknown error";
pub const INVALID_NEXT: &str = "Invalid next URL";
/// Shown when every password-hashing slot stayed busy (see [`EngineError::Busy`]).
pub const TRY_AGAIN: &str =
    "Too many sign-in attempts are being checked right now. Please try again in a moment.";

/// One request to the executor.
pub struct FlowRequest<'a> {
    pub slug: &'a str,
    pub query: FlowQuery,
    /// `None` for GET, the body for POST.
    pub body: Option<Value>,
    pub request: RequestInfo,
    pub now: DateTime<Utc>,
}

/// Runs flow `slug` for `session` and returns the challenge to show. The session may change
/// (login gives it a new token, logout replaces it).
pub async fn execute(
    services: &EngineServices,
    session: &mut ActiveSession,
    req: FlowRequest<'_>,
) -> EngineResult<Challenge> {
    Ok(execute_answer(services, session, req).await?.challenge)
}

/// [`execute`], with the UI messages stages and skipped bindings left for the person (spec
/// §3.8), in the order they were made.
pub async fn execute_answer(
    services: &EngineServices,
    session: &mut ActiveSession,
    req: FlowRequest<'_>,
) -> EngineResult<FlowAnswer> {
    let flow = flow::Entity::find()
        .filter(flow::Column::Slug.eq(req.slug))
        .one(&services.db)
        .await?
        .ok_or(EngineError::FlowNotFound)?;
    let mut run = Run {
        services,
        flow: &flow,
        session,
        req: &req,
        messages: Vec::new(),
    };
    let challenge = run.go().await?;
    Ok(FlowAnswer {
        challenge,
        messages: run.messages,
    })
}

struct Run<'a, 'b> {
    services: &'a EngineServices,
    flow: &'a flow::Model,
    session: &'b mut ActiveSession,
    req: &'a FlowRequest<'a>,
    messages: Vec<UiMessage>,
}

enum Step {
    Continue(FlowPlan),
    Done(Challenge),
}

impl Run<'_, '_> {
    async fn go(&mut self) -> EngineResult<Challenge> {
        let existing =
            plan_store::load(self.services, self.session.id, self.flow.id, self.req.now).await?;
        let restored = self.restore_from_token(existing.as_ref()).await?;
        let mut plan = match restored.or(existing) {
            Some(plan) => plan,
            None => match self.start(FlowContext::default()).await? {
                Step::Continue(plan) => plan,
                Step::Done(challenge) => return Ok(challenge),
            },
        };
        // The POSTed body belongs to whatever stage is current when it arrives; stages reached
        // afterwards in this request are asked for their challenge.
        let mut body = self.req.body.clone();
        let mut restarts = 0;
        for _ in 0..MAX_STEPS {
            let Some(planned) = self.next_stage(&mut plan).await? else {
                return self.flow_done(&plan.context).await;
            };
            let (stage, stage_id, stage_name) = match &planned.in_memory {
                Some(config) => (
                    self.services.stages.build_in_memory(config)?,
                    planned.stage_id,
                    IN_MEMORY_STAGE.to_owned(),
                ),
                None => {
                    let Some(row) = stage::Entity::find_by_id(planned.stage_id)
                        .one(&self.services.db)
                        .await?
                    else {
                        // The stage was deleted while the flow ran.
                        plan_store::delete(self.services, self.session.id).await?;
                        return Ok(self.access_denied(&plan.context, None));
                    };
                    (self.services.stages.build(&row)?, row.id, row.name)
                }
            };
            let mut cx = StageCx {
                services: self.services,
                flow: self.flow,
                stage_id,
                stage_name: &stage_name,
                planned: &planned,
                plan_stages: &plan.stages,
                context: &mut plan.context,
                query: &self.req.query,
                request: &self.req.request,
                session: self.session,
                now: self.req.now,
                insert_next: Vec::new(),
                messages: &mut self.messages,
            };
            let mut busy = None;
            let outcome = match body.take() {
                Some(body) => {
                    let before = cx.context.clone();
                    match stage.respond(&mut cx, &body).await {
                        Err(EngineError::Busy) => {
                            // Nothing of this answer counts (no failed attempt, no progress):
                            // the same challenge again, with "try again".
                            // Always a retry, whatever the binding's invalid-response action.
                            *cx.context = before;
                            match stage.challenge(&mut cx).await? {
                                StageOutcome::Show(kind) => {
                                    busy = Some(ResponseErrors::single(
                                        NON_FIELD_ERRORS,
                                        TRY_AGAIN,
                                        "busy",
                                    ));
                                    StageOutcome::Show(kind)
                                }
                                _ => return Err(EngineError::Busy),
                            }
                        }
                        other => other?,
                    }
                }
                None => stage.challenge(&mut cx).await?,
            };
            let injected = std::mem::take(&mut cx.insert_next);
            match outcome {
                StageOutcome::Show(kind) => {
                    self.save(&plan).await?;
                    return Ok(self.with_flow_info(kind, busy, &plan.context));
                }
                StageOutcome::Passed => {
                    plan.pop();
                    for (offset, stage) in injected.into_iter().enumerate() {
                        plan.stages.insert(offset, stage);
                    }
                }
                StageOutcome::Invalid(kind, errors) => match planned.invalid_response_action {
                    InvalidResponseAction::Retry => {
                        self.save(&plan).await?;
                        return Ok(self.with_flow_info(kind, Some(errors), &plan.context));
                    }
                    action => {
                        restarts += 1;
                        match self.restart(&plan, action, restarts).await? {
                            Step::Continue(new_plan) => plan = new_plan,
                            Step::Done(challenge) => return Ok(challenge),
                        }
                    }
                },
                StageOutcome::Denied(message) => match planned.invalid_response_action {
                    InvalidResponseAction::Retry => {
                        plan_store::delete(self.services, self.session.id).await?;
                        return Ok(self.access_denied(&plan.context, message));
                    }
                    action => {
                        restarts += 1;
                        match self.restart(&plan, action, restarts).await? {
                            Step::Continue(new_plan) => plan = new_plan,
                            Step::Done(challenge) => return Ok(challenge),
                        }
                    }
                },
            }
        }
        Err(EngineError::RestartLoop)
    }

    /// `?flow_token=<key>` in the page query (spec §1.5, §3.3 step 2): the plan frozen in that
    /// token replaces the session's, with the session plan's context merged on top and
    /// `is_restored` set. The token itself stays (unless it is revoked on execution): the
    /// stages that rely on it check and spend it. `None` when there is no live token.
    async fn restore_from_token(
        &mut self,
        existing: Option<&FlowPlan>,
    ) -> EngineResult<Option<FlowPlan>> {
        let Some(key) = self.req.query.get(flow_tokens::QUERY_KEY) else {
            return Ok(None);
        };
        let Some(mut plan) =
            flow_tokens::restore(&self.services.db, key, self.flow.id, self.req.now).await?
        else {
            return Ok(None);
        };
        if let Some(existing) = existing {
            let restored_from = plan.context.extra.get(flow_tokens::IS_RESTORED).cloned();
            plan.context.merge_from(&existing.context);
            if let Some(token) = restored_from {
                plan.context
                    .extra
                    .insert(flow_tokens::IS_RESTORED.to_owned(), token);
            }
        }
        self.save(&plan).await?;
        Ok(Some(plan))
    }

    /// Plans the flow afresh; a flow that does not apply or has nothing to do ends here.
    async fn start(&mut self, context: FlowContext) -> EngineResult<Step> {
        match planner::plan(
            self.services,
            self.flow,
            self.session,
            context,
            &self.req.request,
        )
        .await?
        {
            Planned::Plan(plan) => {
                self.save(&plan).await?;
                Ok(Step::Continue(*plan))
            }
            Planned::Empty => Ok(Step::Done(self.flow_done(&FlowContext::default()).await?)),
            Planned::NotApplicable(message) => Ok(Step::Done(self.not_applicable(message).await?)),
        }
    }

    async fn restart(
        &mut self,
        plan: &FlowPlan,
        action: InvalidResponseAction,
        restarts: usize,
    ) -> EngineResult<Step> {
        if restarts > MAX_RESTARTS {
            return Err(EngineError::RestartLoop);
        }
        let context = match action {
            InvalidResponseAction::RestartWithContext => plan.context.clone(),
            _ => FlowContext::default(),
        };
        plan_store::delete(self.services, self.session.id).await?;
        self.start(context).await
    }

    /// The current stage, after re-checking the policies of bindings marked for it. Stages
    /// whose policies now fail are dropped.
    async fn next_stage(
        &mut self,
        plan: &mut FlowPlan,
    ) -> EngineResult<Option<super::plan::PlannedStage>> {
        while let Some(current) = plan.current().cloned() {
            if let (true, Some(binding_id)) = (current.re_evaluate, current.binding_id) {
                let user = planner::policy_user(self.services, &plan.context, self.session).await?;
                let result = evaluate_target(
                    self.services,
                    binding_id,
                    current.policy_engine_mode,
                    &PolicyRequest {
                        user: user.as_ref(),
                        context: &plan.context,
                        request: &self.req.request,
                    },
                )
                .await?;
                plan.context.apply_policy_writes(&result.context);
                if !result.passing {
                    // The binding is skipped; what its policies said (`ak_message`) is shown.
                    self.messages.extend(
                        result
                            .messages
                            .iter()
                            .filter(|m| !m.is_empty())
                            .map(|m| UiMessage::new(MessageLevel::Warning, m.as_str())),
                    );
                    plan.pop();
                    continue;
                }
            }
            return Ok(Some(current));
        }
        Ok(None)
    }

    async fn save(&mut self, plan: &FlowPlan) -> EngineResult<()> {
        plan_store::save(
            self.services,
            self.session.id,
            plan,
            &self.req.query.raw,
            self.req.now,
        )
        .await
    }

    /// The flow finished: settle the completion hooks (a refusal denies access), then redirect
    /// to the context's `redirect`, else to a same-origin `next`.
    async fn flow_done(&mut self, context: &FlowContext) -> EngineResult<Challenge> {
        plan_store::delete(self.services, self.session.id).await?;
        let mut context = context.clone();
        let txn = crate::store::begin_write(&self.services.db).await?;
        match self
            .services
            .completion
            .settle_all(&txn, &mut context, self.req.now)
            .await?
        {
            Settled::Ok => txn.commit().await?,
            Settled::Refused(message) => {
                txn.rollback().await?;
                return Ok(self.access_denied(&context, Some(message)));
            }
        }
        let context = &context;
        if let Some(target) = &context.redirect {
            return Ok(redirect(target));
        }
        let next = self.req.query.get("next").unwrap_or("/");
        if is_safe_relative_redirect(next) {
            Ok(redirect(next))
        } else {
            Ok(self.access_denied(context, Some(INVALID_NEXT.to_owned())))
        }
    }

    /// The flow's own requirement or policies refused this user.
    async fn not_applicable(&mut self, message: String) -> EngineResult<Challenge> {
        let designation: FlowDesignation =
            parse_stored(&self.flow.designation).map_err(EngineError::CorruptData)?;
        if designation == FlowDesignation::Authentication && self.session.user.is_some() {
            // Already signed in: an authentication flow has nothing to do.
            return self.flow_done(&FlowContext::default()).await;
        }
        let action: DeniedAction =
            parse_stored(&self.flow.denied_action).map_err(EngineError::CorruptData)?;
        if action != DeniedAction::Message {
            if let Some(next) = self
                .req
                .request
                .own_param("next")
                .filter(|n| is_safe_relative_redirect(n))
            {
                return Ok(redirect(next));
            }
        }
        if action == DeniedAction::Continue {
            return Ok(redirect("/"));
        }
        Ok(self.access_denied(&FlowContext::default(), Some(message)))
    }

    fn access_denied(&self, context: &FlowContext, message: Option<String>) -> Challenge {
        let message = message
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| UNKNOWN_ERROR.to_owned());
        let kind = ChallengeKind::AccessDenied(AccessDeniedChallenge {
            user: pending_user_info(context, self.session, &self.services.settings),
            error_message: Some(message),
        });
        self.with_flow_info(kind, None, context)
    }

    fn with_flow_info(
        &self,
        kind: ChallengeKind,
        errors: Option<ResponseErrors>,
        context: &FlowContext,
    ) -> Challenge {
        Challenge {
            flow_info: Some(flow_info(
                self.flow,
                &self.req.query,
                context,
                self.session,
                &self.services.settings,
            )),
            kind,
            response_errors: errors,
        }
    }
}

fn redirect(to: &str) -> Challenge {
    Challenge::bare(ChallengeKind::Redirect(RedirectChallenge {
        to: to.to_owned(),
    }))
}

/// The name shown for the user a flow is about.
pub fn pending_user_info(
    context: &FlowContext,
    session: &ActiveSession,
    settings: &EngineSettings,
) -> PendingUserInfo {
    let name = context
        .pending_user_identifier
        .clone()
        .or_else(|| context.pending_user.as_ref().map(|u| u.username.clone()))
        .or_else(|| session.user.as_ref().map(|u| u.username.clone()))
        .unwrap_or_default();
    PendingUserInfo {
        pending_user: name,
        pending_user_avatar: settings.default_avatar.clone(),
    }
}

pub fn flow_info(
    flow: &flow::Model,
    query: &FlowQuery,
    context: &FlowContext,
    session: &ActiveSession,
    settings: &EngineSettings,
) -> FlowInfo {
    let user = pending_user_info(context, session, settings).pending_user;
    let app = context
        .extra
        .get("application")
        .and_then(|a| a.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let title = flow
        .title
        .replace("%(app)s", app)
        .replace("%(user)s", &user);
    let cancel_url = match query.get("next") {
        Some(next) => format!(
            "/flows/-/cancel/?{}",
            serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
        ),
        None => "/flows/-/cancel/".to_owned(),
    };
    FlowInfo {
        title,
        background: if flow.background.is_empty() {
            settings.default_background.clone()
        } else {
            flow.background.clone()
        },
        background_themed_urls: None,
        cancel_url,
        layout: parse_stored::<FlowLayout>(&flow.layout).unwrap_or_default(),
    }
}
