//! Reputation policy: as in authentik, it *passes* when the summed reputation of the client IP
//! and/or the identifier being logged in has dropped to `threshold` or below. It is bound to
//! stages that should appear only for suspicious attempts (a captcha, a deny stage). Scores are
//! kept, and decay, in [`crate::reputation`].

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{FieldErrors, PolicyError};
use crate::engine::{
    policy::{PolicyRequest, PolicyResult},
    EngineServices,
};
use crate::reputation;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReputationPolicy {
    pub check_ip: bool,
    pub check_username: bool,
    pub threshold: i32,
}

impl Default for ReputationPolicy {
    fn default() -> Self {
        Self {
            check_ip: true,
            check_username: true,
            threshold: -5,
        }
    }
}

impl ReputationPolicy {
    pub fn validate(&self) -> FieldErrors {
        if !self.check_ip && !self.check_username {
            return vec![(
                "check_ip".into(),
                "Either IP or Username must be checked".into(),
            )];
        }
        Vec::new()
    }

    pub async fn evaluate(
        &self,
        services: &EngineServices,
        request: &PolicyRequest<'_>,
    ) -> Result<PolicyResult, PolicyError> {
        let identifier = self.check_username.then(|| identifier(request));
        let ip = self.check_ip.then_some(request.request.client_ip.as_str());
        let score =
            reputation::effective_score(&services.db, identifier.as_deref(), ip, Utc::now())
                .await?;
        Ok(PolicyResult {
            passing: score <= self.threshold,
            ..PolicyResult::default()
        })
    }
}

/// The name reputation is kept under: what identification recorded failures against (the
/// typed identifier), else the pending or signed-in user's username.
fn identifier(request: &PolicyRequest<'_>) -> String {
    let context = request.context;
    context
        .pending_user_identifier
        .clone()
        .or_else(|| context.pending_user.as_ref().map(|u| u.username.clone()))
        .or_else(|| request.user.map(|u| u.username.clone()))
        .unwrap_or_default()
}
