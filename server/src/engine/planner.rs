//! The planner: decides once, when a flow starts, which stages it will run. It checks the flow's
//! authentication requirement and its own policies, then keeps each binding whose plan-time
//! policies pass (`evaluate_on_plan`); bindings with `re_evaluate_policies` are checked again
//! when they become current.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{
    context::FlowContext,
    plan::{FlowPlan, PlannedStage},
    policy::{evaluate_target, PolicyRequest},
    request::RequestInfo,
    EngineError, EngineResult, EngineServices,
};
use crate::flows::{parse_stored, AuthenticationRequirement, PolicyEngineMode};
use crate::sessions::ActiveSession;
use crate::store::{flow, flow_stage_binding, user};

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

pub async fn plan(
    services: &EngineServices,
    flow: &flow::Model,
    session: &ActiveSession,
    mut context: FlowContext,
    request: &RequestInfo,
) -> EngineResult<Planned> {
    let requirement: AuthenticationRequirement =
        parse_stored(&flow.authentication).map_err(|e| corrupt("flow.authentication", e))?;
    let signed_in = session.user.as_ref();
    let allowed = match requirement {
        AuthenticationRequirement::None => true,
        AuthenticationRequirement::RequireAuthenticated => signed_in.is_some(),
        AuthenticationRequirement::RequireUnauthenticated => signed_in.is_none(),
        AuthenticationRequirement::RequireSuperuser => signed_in.is_some_and(|u| u.is_superuser),
        AuthenticationRequirement::RequireRedirect => context.extra.contains_key("is_redirected"),
        // Outposts (LDAP/RADIUS/proxy) are outside keyflow's scope: nothing can satisfy this.
        AuthenticationRequirement::RequireOutpost => false,
    };
    if !allowed {
        return Ok(Planned::NotApplicable(NOT_APPLICABLE.to_owned()));
    }

    let user = policy_user(services, &context, session).await?;
    let flow_mode: PolicyEngineMode = parse_stored(&flow.policy_engine_mode)
        .map_err(|e| corrupt("flow.policy_engine_mode", e))?;
    let flow_result = evaluate_target(
        services,
        flow.id,
        flow_mode,
        &PolicyRequest {
            user: user.as_ref(),
            context: &context,
            request,
        },
    )
    .await?;
    context.apply_policy_writes(&flow_result.context);
    if !flow_result.passing {
        let message = if flow_result.messages.is_empty() {
            NOT_APPLICABLE.to_owned()
        } else {
            flow_result.messages.join("\n")
        };
        return Ok(Planned::NotApplicable(message));
    }

    let bindings = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .all(&services.db)
        .await?;
    let mut stages = Vec::with_capacity(bindings.len());
    for binding in bindings {
        let mode: PolicyEngineMode = parse_stored(&binding.policy_engine_mode)
            .map_err(|e| corrupt("binding.policy_engine_mode", e))?;
        if binding.evaluate_on_plan {
            let result = evaluate_target(
                services,
                binding.id,
                mode,
                &PolicyRequest {
                    user: user.as_ref(),
                    context: &context,
                    request,
                },
            )
            .await?;
            context.apply_policy_writes(&result.context);
            if !result.passing {
                continue;
            }
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
        return Ok(Planned::Empty);
    }
    Ok(Planned::Plan(Box::new(FlowPlan {
        flow_id: flow.id,
        stages,
        context,
    })))
}
