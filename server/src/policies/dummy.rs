//! Dummy policy: waits a random time within `[wait_min, wait_max]` seconds, then returns the
//! configured `result`. authentik uses it to test the policy engine; so does keyflow (timeouts,
//! ordering) without depending on expressions.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::FieldErrors;
use crate::engine::policy::PolicyResult;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DummyPolicy {
    pub result: bool,
    /// Seconds.
    pub wait_min: u64,
    /// Seconds.
    pub wait_max: u64,
}

impl Default for DummyPolicy {
    fn default() -> Self {
        Self {
            result: false,
            wait_min: 5,
            wait_max: 30,
        }
    }
}

impl DummyPolicy {
    pub fn validate(&self) -> FieldErrors {
        if self.wait_min > self.wait_max {
            return vec![(
                "wait_min".into(),
                "must not be greater than wait_max".into(),
            )];
        }
        Vec::new()
    }

    pub async fn evaluate(&self) -> PolicyResult {
        let (low, high) = (self.wait_min.min(self.wait_max), self.wait_max);
        let wait = rand::thread_rng().gen_range(low..=high);
        if wait > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
        PolicyResult {
            passing: self.result,
            messages: vec!["dummy".into()],
            ..PolicyResult::default()
        }
    }
}
