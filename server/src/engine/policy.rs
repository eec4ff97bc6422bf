//! The policy engine: combines the bindings on one target (a flow or a stage binding) into a
//! pass/fail. User and group bindings are "static" and combine into one result; each policy
//! binding gives its own. `negate` inverts a result; a policy that fails to evaluate yields the
//! binding's `failure_result`. No bindings at all means pass.

use std::collections::HashSet;
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::{
    context::FlowContext,
    request::RequestInfo,
    trace::{Gate, GateOutcome, GateSubject},
    EngineResult, EngineServices,
};
use crate::flows::PolicyEngineMode;
use crate::store::{group, group_member, policy, policy_binding, user};

/// Why a policy gave no result; shown as the result's message (the binding's `failure_result`
/// applies).
#[derive(Debug, thiserror::Error)]
pub enum PolicyEvalError {
    #[error("policy not found")]
    Missing,
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

/// Evaluates one policy row by its kind. The engine knows policy kinds only through this
/// trait; the server plugs them in (`policies::evaluator()`), so `engine` does not depend on
/// `policies`.
#[async_trait::async_trait]
pub trait PolicyEvaluator: Send + Sync {
    /// The policy's result for `request`, giving up after `timeout`.
    async fn evaluate(
        &self,
        services: &EngineServices,
        policy: &policy::Model,
        request: &PolicyRequest<'_>,
        timeout: Duration,
    ) -> Result<PolicyResult, PolicyEvalError>;
}

/// What a policy sees.
pub struct PolicyRequest<'a> {
    /// The pending user if saved, else the signed-in user.
    pub user: Option<&'a user::Model>,
    pub context: &'a FlowContext,
    pub request: &'a RequestInfo,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyResult {
    pub passing: bool,
    pub messages: Vec<String>,
    /// Plan-context keys the policy set (expression policies write through
    /// `context["flow_plan"].context`): key → new value, as the plan stores it. The caller
    /// applies them to the plan with [`FlowContext::apply_policy_writes`].
    pub context: Map<String, Json>,
}

impl PolicyResult {
    pub fn pass() -> Self {
        Self {
            passing: true,
            ..Self::default()
        }
    }
}

/// Combines individual results by engine mode; no results passes.
pub fn combine(mode: PolicyEngineMode, results: &[PolicyResult]) -> PolicyResult {
    let passing = match mode {
        _ if results.is_empty() => true,
        PolicyEngineMode::All => results.iter().all(|r| r.passing),
        PolicyEngineMode::Any => results.iter().any(|r| r.passing),
    };
    let messages = results
        .iter()
        .flat_map(|r| r.messages.iter().cloned())
        .collect();
    // Later bindings' writes win, as they would have run later in authentik.
    let context = results
        .iter()
        .flat_map(|r| r.context.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    PolicyResult {
        passing,
        messages,
        context,
    }
}

/// All groups a user is in, including the groups those inherit from.
pub async fn all_group_ids(services: &EngineServices, user_id: i32) -> EngineResult<HashSet<Uuid>> {
    let direct: Vec<Uuid> = group_member::Entity::find()
        .filter(group_member::Column::UserId.eq(user_id))
        .all(&services.db)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let mut seen: HashSet<Uuid> = HashSet::new();
    let mut pending = direct;
    while let Some(id) = pending.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(parent) = group::Entity::find_by_id(id)
            .one(&services.db)
            .await?
            .and_then(|g| g.parent_id)
        {
            pending.push(parent);
        }
    }
    Ok(seen)
}

/// The enabled bindings on `target_id`, in evaluation order.
async fn enabled_bindings(
    services: &EngineServices,
    target_id: Uuid,
) -> EngineResult<Vec<policy_binding::Model>> {
    Ok(policy_binding::Entity::find()
        .filter(policy_binding::Column::TargetId.eq(target_id))
        .filter(policy_binding::Column::Enabled.eq(true))
        .order_by_asc(policy_binding::Column::Order)
        .all(&services.db)
        .await?)
}

/// Evaluates every enabled binding on `target_id`.
pub async fn evaluate_target(
    services: &EngineServices,
    target_id: Uuid,
    mode: PolicyEngineMode,
    request: &PolicyRequest<'_>,
) -> EngineResult<PolicyResult> {
    evaluate_target_traced(services, target_id, mode, request, None).await
}

/// The gates on `target_id` as [`evaluate_target`] sees them, without evaluating anything
/// (the flow diagram, the linter).
pub async fn describe_target(
    services: &EngineServices,
    target_id: Uuid,
) -> EngineResult<Vec<Gate>> {
    let mut gates = Vec::new();
    for binding in enabled_bindings(services, target_id).await? {
        let subject = match (binding.policy_id, binding.group_id, binding.user_id) {
            (Some(policy_id), ..) => {
                let row = policy::Entity::find_by_id(policy_id)
                    .one(&services.db)
                    .await?;
                policy_subject(policy_id, row.as_ref())
            }
            _ => static_subject(services, &binding).await?,
        };
        gates.push(gate(&binding, subject, None));
    }
    Ok(gates)
}

fn policy_subject(id: Uuid, row: Option<&policy::Model>) -> GateSubject {
    GateSubject::Policy {
        id,
        name: row.map(|p| p.name.clone()),
        kind: row.map(|p| p.kind.clone()),
    }
}

/// A user or group binding, named for the trace.
async fn static_subject(
    services: &EngineServices,
    binding: &policy_binding::Model,
) -> EngineResult<GateSubject> {
    Ok(if let Some(id) = binding.user_id {
        GateSubject::User {
            id,
            username: user::Entity::find_by_id(id)
                .one(&services.db)
                .await?
                .map(|u| u.username),
        }
    } else if let Some(id) = binding.group_id {
        GateSubject::Group {
            id,
            name: group::Entity::find_by_id(id)
                .one(&services.db)
                .await?
                .map(|g| g.name),
        }
    } else {
        GateSubject::Nothing
    })
}

fn gate(
    binding: &policy_binding::Model,
    subject: GateSubject,
    outcome: Option<GateOutcome>,
) -> Gate {
    Gate {
        binding_id: binding.id,
        order: binding.order,
        subject,
        negate: binding.negate,
        failure_result: binding.failure_result,
        timeout: binding.timeout,
        outcome,
    }
}

/// [`evaluate_target`], also recording each gate's result and timing into `trace`.
pub async fn evaluate_target_traced(
    services: &EngineServices,
    target_id: Uuid,
    mode: PolicyEngineMode,
    request: &PolicyRequest<'_>,
    mut trace: Option<&mut Vec<Gate>>,
) -> EngineResult<PolicyResult> {
    let bindings = enabled_bindings(services, target_id).await?;
    if bindings.is_empty() {
        return Ok(PolicyResult::pass());
    }

    let mut outcomes = Vec::with_capacity(bindings.len());
    let mut groups: Option<HashSet<Uuid>> = None;
    for binding in &bindings {
        let started = std::time::Instant::now();
        let mut subject = None;
        let outcome = if let Some(policy_id) = binding.policy_id {
            let row = policy::Entity::find_by_id(policy_id)
                .one(&services.db)
                .await?;
            let evaluated = match &row {
                Some(policy) => {
                    let timeout = Duration::from_secs(binding.timeout.max(0).unsigned_abs().into());
                    services
                        .policies
                        .evaluate(services, policy, request, timeout)
                        .await
                }
                None => Err(PolicyEvalError::Missing),
            };
            if let Err(error) = &evaluated {
                tracing::warn!(binding = %binding.id, %error, "policy failed to evaluate");
            }
            if trace.is_some() {
                subject = Some(policy_subject(policy_id, row.as_ref()));
            }
            BindingOutcome::Policy {
                result: evaluated.map_err(|e| e.to_string()),
                negate: binding.negate,
                failure_result: binding.failure_result,
            }
        } else {
            let passing = if let Some(user_id) = binding.user_id {
                request.user.is_some_and(|u| u.id == user_id)
            } else if let Some(group_id) = binding.group_id {
                match request.user {
                    Some(user) => {
                        if groups.is_none() {
                            groups = Some(all_group_ids(services, user.id).await?);
                        }
                        groups.as_ref().is_some_and(|g| g.contains(&group_id))
                    }
                    None => false,
                }
            } else {
                // A binding with no policy, group or user cannot pass (the API refuses to
                // create one).
                false
            };
            BindingOutcome::Static {
                passing,
                negate: binding.negate,
            }
        };
        if let Some(trace) = trace.as_deref_mut() {
            let elapsed = started.elapsed();
            let subject = match subject {
                Some(subject) => subject,
                None => static_subject(services, binding).await?,
            };
            let own = combine_outcomes(mode, std::slice::from_ref(&outcome));
            let error = match &outcome {
                BindingOutcome::Policy { result: Err(e), .. } => Some(e.clone()),
                _ => None,
            };
            trace.push(gate(
                binding,
                subject,
                Some(GateOutcome {
                    passing: own.passing,
                    messages: own.messages,
                    error,
                    duration_ms: elapsed.as_secs_f64() * 1000.0,
                }),
            ));
        }
        outcomes.push(outcome);
    }
    Ok(combine_outcomes(mode, &outcomes))
}

/// How long one policy of a list ([`evaluate_policies`]) may run (authentik's binding default).
pub const LIST_POLICY_TIMEOUT: Duration = Duration::from_secs(30);

/// Evaluates policies given by id, without bindings (a prompt stage's `validation_policies`):
/// each as an un-negated binding whose failure to evaluate fails (with the error as message),
/// combined by `mode`. Unknown ids fail. No results are cached. Plan-context writes are
/// returned, not applied.
pub async fn evaluate_policies(
    services: &EngineServices,
    policy_ids: &[Uuid],
    mode: PolicyEngineMode,
    request: &PolicyRequest<'_>,
) -> EngineResult<PolicyResult> {
    let mut outcomes = Vec::with_capacity(policy_ids.len());
    for policy_id in policy_ids {
        let evaluated = match policy::Entity::find_by_id(*policy_id)
            .one(&services.db)
            .await?
        {
            Some(policy) => {
                services
                    .policies
                    .evaluate(services, &policy, request, LIST_POLICY_TIMEOUT)
                    .await
            }
            None => Err(PolicyEvalError::Missing),
        };
        if let Err(error) = &evaluated {
            tracing::warn!(policy = %policy_id, %error, "policy failed to evaluate");
        }
        outcomes.push(BindingOutcome::Policy {
            result: evaluated.map_err(|e| e.to_string()),
            negate: false,
            failure_result: false,
        });
    }
    Ok(combine_outcomes(mode, &outcomes))
}

/// What one enabled binding produced.
#[derive(Clone, Debug)]
pub enum BindingOutcome {
    /// A user or group binding.
    Static { passing: bool, negate: bool },
    /// A policy binding: the policy's result, or the error that stopped it.
    Policy {
        result: Result<PolicyResult, String>,
        negate: bool,
        failure_result: bool,
    },
}

/// authentik's PolicyEngine: static bindings combine (by mode) into one result; each policy
/// binding adds its own, negated when asked, or, when the policy failed to evaluate, the
/// binding's `failure_result` with the error as message (not negated: negation applies to what
/// a policy decided, and an error decided nothing). All of them then combine by mode.
pub fn combine_outcomes(mode: PolicyEngineMode, outcomes: &[BindingOutcome]) -> PolicyResult {
    let mut results = Vec::new();
    let mut static_results = Vec::new();
    for outcome in outcomes {
        match outcome {
            BindingOutcome::Static { passing, negate } => static_results.push(PolicyResult {
                passing: *passing != *negate,
                ..PolicyResult::default()
            }),
            BindingOutcome::Policy {
                result: Ok(result),
                negate,
                ..
            } => results.push(apply_negate(result.clone(), *negate)),
            BindingOutcome::Policy {
                result: Err(error),
                failure_result,
                ..
            } => results.push(PolicyResult {
                passing: *failure_result,
                messages: vec![error.clone()],
                ..PolicyResult::default()
            }),
        }
    }
    if !static_results.is_empty() {
        results.push(combine(mode, &static_results));
    }
    combine(mode, &results)
}

fn apply_negate(mut result: PolicyResult, negate: bool) -> PolicyResult {
    if negate {
        result.passing = !result.passing;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(passing: bool) -> PolicyResult {
        PolicyResult {
            passing,
            messages: vec![format!("{passing}")],
            ..PolicyResult::default()
        }
    }

    #[test]
    fn no_results_pass_in_both_modes() {
        assert!(combine(PolicyEngineMode::Any, &[]).passing);
        assert!(combine(PolicyEngineMode::All, &[]).passing);
    }

    #[test]
    fn any_needs_one_all_needs_every() {
        assert!(combine(PolicyEngineMode::Any, &[r(false), r(true)]).passing);
        assert!(!combine(PolicyEngineMode::All, &[r(false), r(true)]).passing);
        assert!(combine(PolicyEngineMode::All, &[r(true), r(true)]).passing);
        assert!(!combine(PolicyEngineMode::Any, &[r(false), r(false)]).passing);
    }

    #[test]
    fn messages_of_all_results_are_kept_and_negate_keeps_them() {
        let combined = combine(
            PolicyEngineMode::Any,
            &[r(false), apply_negate(r(false), true)],
        );
        assert!(combined.passing);
        assert_eq!(combined.messages, vec!["false", "false"]);
    }

    fn policy(result: Result<bool, &str>, negate: bool, failure_result: bool) -> BindingOutcome {
        BindingOutcome::Policy {
            result: result
                .map(|passing| PolicyResult {
                    passing,
                    ..PolicyResult::default()
                })
                .map_err(str::to_owned),
            negate,
            failure_result,
        }
    }

    /// One policy binding: every combination of mode, negate, evaluation result and
    /// failure_result.
    #[test]
    fn single_policy_binding_table() {
        use PolicyEngineMode::{All, Any};
        // (mode, evaluated, negate, failure_result, expected)
        type Row = (
            PolicyEngineMode,
            Result<bool, &'static str>,
            bool,
            bool,
            bool,
        );
        let table: &[Row] = &[
            (Any, Ok(true), false, false, true),
            (Any, Ok(true), false, true, true),
            (Any, Ok(true), true, false, false),
            (Any, Ok(true), true, true, false),
            (Any, Ok(false), false, false, false),
            (Any, Ok(false), false, true, false),
            (Any, Ok(false), true, false, true),
            (Any, Ok(false), true, true, true),
            (Any, Err("boom"), false, false, false),
            (Any, Err("boom"), false, true, true),
            (Any, Err("boom"), true, false, false),
            (Any, Err("boom"), true, true, true),
            (All, Ok(true), false, false, true),
            (All, Ok(true), false, true, true),
            (All, Ok(true), true, false, false),
            (All, Ok(true), true, true, false),
            (All, Ok(false), false, false, false),
            (All, Ok(false), false, true, false),
            (All, Ok(false), true, false, true),
            (All, Ok(false), true, true, true),
            (All, Err("boom"), false, false, false),
            (All, Err("boom"), false, true, true),
            (All, Err("boom"), true, false, false),
            (All, Err("boom"), true, true, true),
        ];
        for (mode, evaluated, negate, failure_result, expected) in table {
            let result = combine_outcomes(*mode, &[policy(*evaluated, *negate, *failure_result)]);
            assert_eq!(
                result.passing, *expected,
                "{mode:?} {evaluated:?} negate={negate} failure_result={failure_result}"
            );
            let expected_messages: Vec<String> = match evaluated {
                Err(e) => vec![e.to_string()],
                Ok(_) => vec![],
            };
            assert_eq!(result.messages, expected_messages);
        }
    }

    /// A passing and a failing binding, each negated or not, under both modes.
    #[test]
    fn two_bindings_table() {
        use PolicyEngineMode::{All, Any};
        for mode in [Any, All] {
            for negate_first in [false, true] {
                for negate_second in [false, true] {
                    for first_static in [false, true] {
                        let first = if first_static {
                            BindingOutcome::Static {
                                passing: true,
                                negate: negate_first,
                            }
                        } else {
                            policy(Ok(true), negate_first, false)
                        };
                        let second = policy(Ok(false), negate_second, false);
                        let passes = [!negate_first, negate_second];
                        let expected = match mode {
                            Any => passes.iter().any(|p| *p),
                            All => passes.iter().all(|p| *p),
                        };
                        assert_eq!(
                            combine_outcomes(mode, &[first, second]).passing,
                            expected,
                            "{mode:?} static={first_static} negate=({negate_first}, {negate_second})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn static_bindings_combine_into_one_result_before_the_policies() {
        let member = BindingOutcome::Static {
            passing: true,
            negate: false,
        };
        let other = BindingOutcome::Static {
            passing: false,
            negate: false,
        };
        // all: the static pair fails as a whole even though a policy passes.
        let outcomes = [
            member.clone(),
            other.clone(),
            policy(Ok(true), false, false),
        ];
        assert!(!combine_outcomes(PolicyEngineMode::All, &outcomes).passing);
        assert!(combine_outcomes(PolicyEngineMode::Any, &outcomes).passing);
        // No bindings at all pass.
        assert!(combine_outcomes(PolicyEngineMode::All, &[]).passing);
    }
}
