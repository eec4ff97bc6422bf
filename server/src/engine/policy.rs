//! The policy engine: combines the bindings on one target (a flow or a stage binding) into a
//! pass/fail. User and group bindings are "static" and combine into one result; each policy
//! binding gives its own. `negate` inverts a result; a policy that fails to evaluate yields the
//! binding's `failure_result`. No bindings at all means pass.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{context::FlowContext, request::RequestInfo, EngineResult, EngineServices};
use crate::flows::PolicyEngineMode;
use crate::store::{group, group_member, policy, policy_binding, user};

/// What a policy sees.
pub struct PolicyRequest<'a> {
    /// The pending user if saved, else the signed-in user.
    pub user: Option<&'a user::Model>,
    pub context: &'a FlowContext,
    pub request: &'a RequestInfo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyResult {
    pub passing: bool,
    pub messages: Vec<String>,
}

impl PolicyResult {
    pub fn pass() -> Self {
        Self {
            passing: true,
            messages: vec![],
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
    PolicyResult { passing, messages }
}

/// All groups a user is in, including the groups those inherit from.
async fn all_group_ids(services: &EngineServices, user_id: i32) -> EngineResult<HashSet<Uuid>> {
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

/// Evaluates every enabled binding on `target_id`.
pub async fn evaluate_target(
    services: &EngineServices,
    target_id: Uuid,
    mode: PolicyEngineMode,
    request: &PolicyRequest<'_>,
) -> EngineResult<PolicyResult> {
    let bindings = policy_binding::Entity::find()
        .filter(policy_binding::Column::TargetId.eq(target_id))
        .filter(policy_binding::Column::Enabled.eq(true))
        .order_by_asc(policy_binding::Column::Order)
        .all(&services.db)
        .await?;
    if bindings.is_empty() {
        return Ok(PolicyResult::pass());
    }

    let mut results = Vec::new();
    let mut static_results = Vec::new();
    let mut groups: Option<HashSet<Uuid>> = None;
    for binding in &bindings {
        let result = if let Some(policy_id) = binding.policy_id {
            let evaluated = match policy::Entity::find_by_id(policy_id)
                .one(&services.db)
                .await?
            {
                Some(policy) => crate::policies::evaluate(services, &policy, request).await,
                None => Err(crate::policies::PolicyError::Missing),
            };
            let result = evaluated.unwrap_or_else(|error| PolicyResult {
                passing: binding.failure_result,
                messages: vec![error.to_string()],
            });
            results.push(apply_negate(result, binding.negate));
            continue;
        } else if let Some(user_id) = binding.user_id {
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
            // A binding with no policy, group or user cannot pass (the API refuses to create one).
            false
        };
        static_results.push(apply_negate(
            PolicyResult {
                passing: result,
                messages: vec![],
            },
            binding.negate,
        ));
    }
    if !static_results.is_empty() {
        results.push(combine(mode, &static_results));
    }
    Ok(combine(mode, &results))
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
}
