//! The flow simulator (issue #14): a dry run of the planner for a flow, a user (or none) and
//! starting context values. It runs the planner's own code path ([`planner::trace`]) with the
//! real policies, and answers the plan it would build, each policy's result with its messages
//! and timing, and the stages that would run.
//!
//! It writes nothing: no plan row, no session (the simulated session exists only in memory), no
//! one is logged in (no stage runs), and the policies' own writes (`ak_create_event`, execution
//! logging) are recorded in [`Simulation::skipped_writes`] instead of made
//! ([`EngineServices::dry_run`]). Reputation is only read by policies.

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use thiserror::Error;
use uuid::Uuid;

use crate::engine::{
    context::FlowContext,
    planner::{self, Planned, Subject},
    policy::{evaluate_target_traced, PolicyRequest},
    request::RequestInfo,
    trace::{GateSet, Injection, PlanTrace},
    DryRun, EngineError, EngineServices,
};
use crate::sessions::ActiveSession;
use crate::store::{flow, user};

/// Who to simulate: a user's pk or username.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum UserRef {
    Pk(i32),
    Username(String),
}

/// What to simulate (the REST body).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationInput {
    /// The signed-in user; `None` (or absent) simulates an anonymous visitor.
    #[serde(default)]
    pub user: Option<UserRef>,
    /// Plan context to start with, in the stored plan's shape (`prompt_data`, `pending_user`,
    /// any key policies read).
    #[serde(default)]
    pub context: Option<Json>,
    /// The client's IP address (default `127.0.0.1`).
    #[serde(default)]
    pub client_ip: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

#[derive(Debug, Error)]
pub enum SimulateError {
    #[error("flow not found")]
    FlowNotFound,
    #[error("no user {0}")]
    UserNotFound(String),
    #[error("invalid context: {0}")]
    InvalidContext(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<sea_orm::DbErr> for SimulateError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Engine(error.into())
    }
}

/// One stage the plan would run, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SimulatedStage {
    pub binding_id: Uuid,
    pub order: i32,
    pub stage_id: Uuid,
    pub stage_name: Option<String>,
    pub stage_kind: Option<String>,
    /// Its policies are checked again when it becomes current; `when_current` is that check
    /// made now, with the plan's starting context (later stages may change the outcome).
    pub re_evaluate_policies: bool,
    pub when_current: Option<GateSet>,
    pub injects: Vec<Injection>,
}

/// The answer of a simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Simulation {
    pub flow: String,
    /// The simulated signed-in user (`None`: anonymous).
    pub user: Option<String>,
    /// `plan`, `not_applicable` or `empty`.
    pub outcome: &'static str,
    /// Why the flow does not apply (`not_applicable`).
    pub message: Option<String>,
    pub stages: Vec<SimulatedStage>,
    /// Every step of the planning, with each policy's result, messages and timing.
    pub trace: PlanTrace,
    /// Writes policies would have made (events), not made.
    pub skipped_writes: Vec<String>,
    /// Wall time of the planning, milliseconds.
    pub duration_ms: f64,
}

async fn find_user(
    services: &EngineServices,
    user: &UserRef,
) -> Result<user::Model, SimulateError> {
    let found = match user {
        UserRef::Pk(pk) => user::Entity::find_by_id(*pk).one(&services.db).await?,
        UserRef::Username(name) => {
            user::Entity::find()
                .filter(user::Column::Username.eq(name.as_str()))
                .one(&services.db)
                .await?
        }
    };
    found.ok_or_else(|| {
        SimulateError::UserNotFound(match user {
            UserRef::Pk(pk) => pk.to_string(),
            UserRef::Username(name) => format!("{name:?}"),
        })
    })
}

/// Simulates a start of flow `slug`.
pub async fn simulate(
    services: &EngineServices,
    slug: &str,
    input: SimulationInput,
) -> Result<Simulation, SimulateError> {
    let flow = flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(&services.db)
        .await?
        .ok_or(SimulateError::FlowNotFound)?;
    let user = match &input.user {
        Some(reference) => Some(find_user(services, reference).await?),
        None => None,
    };
    let context: FlowContext = match input.context {
        None | Some(Json::Null) => FlowContext::default(),
        Some(value) => serde_json::from_value(value)
            .map_err(|e| SimulateError::InvalidContext(e.to_string()))?,
    };
    let now = Utc::now();
    // Lives only here: never stored, so nothing can sign in with it.
    let session = ActiveSession {
        id: Uuid::nil(),
        user: user.clone(),
        csrf_token: String::new(),
        expires_at: now,
        persistent: false,
        new_token: None,
    };
    let request = RequestInfo {
        client_ip: input.client_ip.unwrap_or_else(|| "127.0.0.1".to_owned()),
        user_agent: input.user_agent.unwrap_or_default(),
        host: "localhost".to_owned(),
        scheme: "http".to_owned(),
        path: format!("/api/v3/flows/executor/{slug}/"),
        method: "GET".to_owned(),
        ..RequestInfo::default()
    };
    let dry_run = DryRun::default();
    let services = EngineServices {
        dry_run: Some(dry_run.clone()),
        ..services.clone()
    };
    let started = std::time::Instant::now();
    let (planned, trace) = planner::trace(
        &services,
        &flow,
        Subject::Run {
            session: &session,
            request: &request,
        },
        context,
    )
    .await?;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;

    let (outcome, message, stages) = match &planned {
        Planned::NotApplicable(message) => ("not_applicable", Some(message.clone()), Vec::new()),
        Planned::Empty => ("empty", None, Vec::new()),
        Planned::Plan(plan) => {
            let policy_user = planner::policy_user(&services, &plan.context, &session).await?;
            let mut stages = Vec::with_capacity(plan.stages.len());
            for planned in &plan.stages {
                let Some(binding) = trace
                    .bindings
                    .iter()
                    .find(|b| Some(b.binding_id) == planned.binding_id)
                else {
                    continue;
                };
                let when_current = if planned.re_evaluate {
                    let mut gates = Vec::new();
                    let result = evaluate_target_traced(
                        &services,
                        binding.binding_id,
                        planned.policy_engine_mode,
                        &PolicyRequest {
                            user: policy_user.as_ref(),
                            context: &plan.context,
                            request: &request,
                        },
                        Some(&mut gates),
                    )
                    .await?;
                    Some(GateSet {
                        mode: planned.policy_engine_mode,
                        gates,
                        passing: Some(result.passing),
                        messages: result.messages,
                    })
                } else {
                    None
                };
                stages.push(SimulatedStage {
                    binding_id: binding.binding_id,
                    order: binding.order,
                    stage_id: binding.stage_id,
                    stage_name: binding.stage.as_ref().map(|s| s.name.clone()),
                    stage_kind: binding.stage.as_ref().map(|s| s.kind.clone()),
                    re_evaluate_policies: planned.re_evaluate,
                    when_current,
                    injects: binding
                        .stage
                        .as_ref()
                        .map(|s| s.injects.clone())
                        .unwrap_or_default(),
                });
            }
            ("plan", None, stages)
        }
    };
    Ok(Simulation {
        flow: flow.slug,
        user: user.map(|u| u.username),
        outcome,
        message,
        stages,
        trace,
        skipped_writes: dry_run.recorded(),
        duration_ms,
    })
}
