//! Policy kinds (the conditions themselves). The binding engine is `engine::policy`; this module
//! evaluates one policy row by its kind. Expression, password and reputation policies are
//! issue #3: until a kind exists here, evaluating it is an error, which yields the binding's
//! `failure_result` (and its message), never a silent pass.

use thiserror::Error;

use crate::engine::{
    policy::{PolicyRequest, PolicyResult},
    EngineServices,
};
use crate::store::policy;

#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("policy not found")]
    Missing,
    #[error("policy kind {0:?} is not supported")]
    UnsupportedKind(String),
}

pub async fn evaluate(
    _services: &EngineServices,
    policy: &policy::Model,
    _request: &PolicyRequest<'_>,
) -> Result<PolicyResult, PolicyError> {
    Err(PolicyError::UnsupportedKind(policy.kind.clone()))
}
