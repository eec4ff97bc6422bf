//! The planner: decides once, when a flow starts, which stages it will run. It checks the flow's
//! authentication requirement and its own policies, then keeps each binding whose plan-time
//! policies pass (`evaluate_on_plan`); bindings with `re_evaluate_policies` are checked again
//! when they become current.
//!
//! The same function can record a [`PlanTrace`] of every step, and can run [`Subject::Static`]
//! (no user, nothing evaluated, every branch kept): the flow diagram, the simulator and the linter
//! are built from it, so they show exactly what execution does.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use uuid::Uuid;

use super::{
    context::FlowContext,
    plan::{FlowPlan, PlannedStage},
    policy::{
        describe_target, evaluate_target, evaluate_target_traced, PolicyRequest, PolicyResult,
    },
    request::RequestInfo,
    trace::{BindingTrace, Decision, GateSet, Injection, PlanTrace, StageInfo, TraceOutcome},
    EngineError, EngineResult, EngineServices,
};
use crate::flows::{parse_stored, AuthenticationRequirement, PolicyEngineMode};
use crate::sessions::ActiveSession;
use crate::store::{flow, flow_stage_binding, stage, user};

pub const NOT_APPLICABLE: &str = "Flow does not apply to current user.";

pub enum Planned {
    Plan(Box<FlowPlan>),
    /// The flow does not apply (requirement or flow policies); the message explains why.
    NotApplicable(String),
    /// Nothing to run: the flow is done at once.
    Empty,
}

fn corrupt(what: &str, error: String) -> EngineError {
    EngineError::CorruptData(format!("{what}: {error}"))
}

/// The user policies look at: the saved pending user, else the signed-in user.
pub async fn policy_user(
    services: &EngineServices,
    context: &FlowContext,
    session: &ActiveSession,
) -> EngineResult<Option<user::Model>> {
    match &context.pending_user {
        Some(pending) => match pending.pk {
            Some(pk) => Ok(user::Entity::find_by_id(pk).one(&services.db).await?),
            None => Ok(None),
        },
        None => Ok(session.user.clone()),
    }
}

/// Whom a planning is for.
#[derive(Clone, Copy)]
pub enum Subject<'a> {
    /// A flow start (or a simulated one): everything is evaluated for this session.
    Run {
        session: &'a ActiveSession,
        request: &'a RequestInfo,
    },
    /// The flow's shape: no user, no policy evaluated, every binding kept (with its gates).
    Static,
}

/// Plans `flow` for a start by `session`.
pub async fn plan(
    services: &EngineServices,
    flow: &flow::Model,
    session: &ActiveSession,
    context: FlowContext,
    request: &RequestInfo,
) -> EngineResult<Planned> {
    plan_traced(
        services,
        flow,
        Subject::Run { session, request },
        context,
        None,
    )
    .await
}

/// [`plan_traced`] with a fresh trace, returned with the result.
pub async fn trace(
    services: &EngineServices,
    flow: &flow::Model,
    subject: Subject<'_>,
    context: FlowContext,
) -> EngineResult<(Planned, PlanTrace)> {
    let mut trace = PlanTrace {
        flow_id: flow.id,
        slug: flow.slug.clone(),
        name: flow.name.clone(),
        designation: flow.designation.clone(),
        authentication: flow.authentication.clone(),
        authentication_met: None,
        denied_action: flow.denied_action.clone(),
        flow_policies: None,
        bindings: Vec::new(),
        outcome: None,
    };
    let planned = plan_traced(services, flow, subject, context, Some(&mut trace)).await?;
    Ok((planned, trace))
}

/// The planner. With `trace`, every step is also recorded there (extra reads only: what is
/// decided is the same with or without it).
pub async fn plan_traced(
    services: &EngineServices,
    flow: &flow::Model,
    subject: Subject<'_>,
    mut context: FlowContext,
    mut trace: Option<&mut PlanTrace>,
) -> EngineResult<Planned> {
    let requirement: AuthenticationRequirement =
        parse_stored(&flow.authentication).map_err(|e| corrupt("flow.authentication", e))?;
    let allowed = match subject {
        Subject::Static => None,
        Subject::Run { session, .. } => {
            let signed_in = session.user.as_ref();
            Some(match requirement {
                AuthenticationRequirement::None => true,
                AuthenticationRequirement::RequireAuthenticated => signed_in.is_some(),
                AuthenticationRequirement::RequireUnauthenticated => signed_in.is_none(),
                AuthenticationRequirement::RequireSuperuser => {
                    signed_in.is_some_and(|u| u.is_superuser)
                }
                AuthenticationRequirement::RequireRedirect => {
                    context.extra.contains_key("is_redirected")
                }
                // Outposts (LDAP/RADIUS/proxy) are outside keyflow's scope: nothing can satisfy
                // this.
                AuthenticationRequirement::RequireOutpost => false,
            })
        }
    };
    if let Some(trace) = trace.as_deref_mut() {
        trace.authentication_met = allowed;
    }
    if allowed == Some(false) {
        return Ok(finish(
            trace,
            Planned::NotApplicable(NOT_APPLICABLE.to_owned()),
        ));
    }

    let user = match subject {
        Subject::Run { session, .. } => policy_user(services, &context, session).await?,
        Subject::Static => None,
    };
    let flow_mode: PolicyEngineMode = parse_stored(&flow.policy_engine_mode)
        .map_err(|e| corrupt("flow.policy_engine_mode", e))?;
    let (flow_result, flow_gates) = check_gates(
        services,
        subject,
        flow.id,
        flow_mode,
        user.as_ref(),
        &context,
        trace.is_some(),
    )
    .await?;
    if let Some(trace) = trace.as_deref_mut() {
        trace.flow_policies = flow_gates;
    }
    if let Some(flow_result) = flow_result {
        context.apply_policy_writes(&flow_result.context);
        if !flow_result.passing {
            let message = if flow_result.messages.is_empty() {
                NOT_APPLICABLE.to_owned()
            } else {
                flow_result.messages.join("\n")
            };
            return Ok(finish(trace, Planned::NotApplicable(message)));
        }
    }

    // Equal `order`s run in id order: the same tie-break the admin API lists them in, so the
    // editor never shows an order the engine does not run.
    let bindings = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Id)
        .all(&services.db)
        .await?;
    let mut stages = Vec::with_capacity(bindings.len());
    for (index, binding) in bindings.iter().enumerate() {
        let mode: PolicyEngineMode = parse_stored(&binding.policy_engine_mode)
            .map_err(|e| corrupt("binding.policy_engine_mode", e))?;
        let mut decision = Decision::Included;
        let mut gates = None;
        if binding.evaluate_on_plan {
            let (result, set) = check_gates(
                services,
                subject,
                binding.id,
                mode,
                user.as_ref(),
                &context,
                trace.is_some(),
            )
            .await?;
            gates = set;
            match result {
                Some(result) => {
                    context.apply_policy_writes(&result.context);
                    if !result.passing {
                        decision = Decision::Skipped;
                    }
                }
                None if gates.as_ref().is_some_and(|g| !g.gates.is_empty()) => {
                    decision = Decision::Undecided;
                }
                None => {}
            }
        }
        if let Some(trace) = trace.as_deref_mut() {
            let policies = match gates {
                Some(gates) => gates,
                // Not checked at plan time: checked when current (re_evaluate_policies), or
                // never; the trace shows them either way.
                None => GateSet {
                    gates: describe_target(services, binding.id).await?,
                    ..GateSet::new(mode)
                },
            };
            if matches!(subject, Subject::Static)
                && binding.re_evaluate_policies
                && !policies.gates.is_empty()
            {
                decision = Decision::Undecided;
            }
            let (stage, stage_error) = stage_info(services, binding.stage_id).await?;
            trace.bindings.push(BindingTrace {
                binding_id: binding.id,
                order: binding.order,
                stage_id: binding.stage_id,
                stage,
                stage_error,
                evaluate_on_plan: binding.evaluate_on_plan,
                re_evaluate_policies: binding.re_evaluate_policies,
                invalid_response_action: binding.invalid_response_action.clone(),
                policies,
                decision,
                on_fail_next: bindings.get(index + 1).map(|b| b.id),
            });
        }
        if decision == Decision::Skipped {
            continue;
        }
        stages.push(PlannedStage {
            binding_id: Some(binding.id),
            stage_id: binding.stage_id,
            re_evaluate: binding.re_evaluate_policies,
            invalid_response_action: parse_stored(&binding.invalid_response_action)
                .map_err(|e| corrupt("binding.invalid_response_action", e))?,
            policy_engine_mode: mode,
            in_memory: None,
        });
    }
    if stages.is_empty() {
        return Ok(finish(trace, Planned::Empty));
    }
    let planned = Planned::Plan(Box::new(FlowPlan {
        flow_id: flow.id,
        stages,
        context,
    }));
    Ok(finish(trace, planned))
}

/// Evaluates (or, static, only lists) the gates on `target`. The result is `None` when static;
/// the gate set only when tracing.
async fn check_gates(
    services: &EngineServices,
    subject: Subject<'_>,
    target: Uuid,
    mode: PolicyEngineMode,
    user: Option<&user::Model>,
    context: &FlowContext,
    tracing: bool,
) -> EngineResult<(Option<PolicyResult>, Option<GateSet>)> {
    match subject {
        Subject::Run { request, .. } => {
            let request = PolicyRequest {
                user,
                context,
                request,
            };
            if !tracing {
                let result = evaluate_target(services, target, mode, &request).await?;
                return Ok((Some(result), None));
            }
            let mut gates = Vec::new();
            let result =
                evaluate_target_traced(services, target, mode, &request, Some(&mut gates)).await?;
            let set = GateSet {
                mode,
                gates,
                passing: Some(result.passing),
                messages: result.messages.clone(),
            };
            Ok((Some(result), Some(set)))
        }
        Subject::Static => {
            let set = GateSet {
                gates: describe_target(services, target).await?,
                ..GateSet::new(mode)
            };
            Ok((None, tracing.then_some(set)))
        }
    }
}

/// The bound stage's name, kind and injections, or why it cannot be read.
async fn stage_info(
    services: &EngineServices,
    stage_id: Uuid,
) -> EngineResult<(Option<StageInfo>, Option<String>)> {
    let Some(row) = stage::Entity::find_by_id(stage_id)
        .one(&services.db)
        .await?
    else {
        return Ok((None, Some("the stage does not exist".to_owned())));
    };
    let injected = match services.stages.injections(&row) {
        Ok(injected) => injected,
        Err(error) => return Ok((None, Some(error.to_string()))),
    };
    let mut injects = Vec::with_capacity(injected.len());
    for (stage_id, when) in injected {
        let target = stage::Entity::find_by_id(stage_id)
            .one(&services.db)
            .await?;
        injects.push(Injection {
            stage_id,
            stage_name: target.as_ref().map(|s| s.name.clone()),
            stage_kind: target.map(|s| s.kind),
            when,
        });
    }
    Ok((
        Some(StageInfo {
            name: row.name,
            kind: row.kind,
            injects,
        }),
        None,
    ))
}

fn finish(trace: Option<&mut PlanTrace>, planned: Planned) -> Planned {
    if let Some(trace) = trace {
        trace.outcome = Some(match &planned {
            Planned::Plan(plan) => TraceOutcome::Plan {
                stages: plan.stages.len(),
            },
            Planned::NotApplicable(message) => TraceOutcome::NotApplicable {
                message: message.clone(),
            },
            Planned::Empty => TraceOutcome::Empty,
        });
    }
    planned
}
