//! The flow engine: planner, executor, stage trait and policy engine. Plain Rust over the store;
//! it knows nothing about HTTP or Leptos (the web layer translates requests into
//! [`executor::FlowRequest`] and challenges into responses).

pub mod completion;
pub mod context;
mod error;
pub mod executor;
pub mod fields;
pub mod plan;
pub mod plan_store;
pub mod planner;
pub mod policy;
pub mod request;
pub mod stage;
#[cfg(test)]
mod tests;
pub mod trace;

use std::sync::Arc;

use chrono::Duration;
use sea_orm::DatabaseConnection;

pub use error::{EngineError, EngineResult};

use crate::auth::password::PasswordHasher;

/// Install-wide engine settings.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Shown as issuer / relying-party name (authentik's "brand title").
    pub brand_title: String,
    pub default_avatar: String,
    pub default_background: String,
    /// How long an idle flow plan is kept.
    pub plan_ttl: Duration,
    /// Lifetime of anonymous sessions (flows in progress).
    pub anonymous_session_ttl: Duration,
    /// Server-side lifetime of sessions whose cookie ends with the browser.
    pub browser_session_ttl: Duration,
    /// Keys for MFA secrets at rest, derived from the install secret (random by default).
    pub mfa_keys: crate::mfa::crypto::MfaKeys,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            brand_title: "keyflow".into(),
            default_avatar: "/static/user_default.svg".into(),
            default_background: "/static/flow_background.svg".into(),
            plan_ttl: Duration::minutes(30),
            anonymous_session_ttl: Duration::days(1),
            browser_session_ttl: Duration::days(1),
            mfa_keys: crate::mfa::crypto::MfaKeys::default(),
        }
    }
}

/// What stages and the executor need, shared across requests.
#[derive(Clone)]
pub struct EngineServices {
    pub db: DatabaseConnection,
    pub settings: Arc<EngineSettings>,
    pub passwords: PasswordHasher,
    /// Runs expression policies (untrusted Python).
    pub sandbox: crate::sandbox::Sandbox,
    /// Renders and queues outgoing mail.
    pub mail: crate::mail::Mailer,
    /// Calls outside services (captcha verifiers, SMS gateways, Duo).
    pub outbound: crate::outbound::Outbound,
    /// Work settled when a flow completes (see [`completion`]); plugged in by the server.
    pub completion: completion::CompletionHooks,
    /// The stage kinds (`stages::registry()`); plugged in by the server.
    pub stages: Arc<dyn stage::StageRegistry>,
    /// The policy kinds (`policies::evaluator()`); plugged in by the server.
    pub policies: Arc<dyn policy::PolicyEvaluator>,
    /// Set for a dry run (the flow simulator): writes policies would make outside the plan
    /// (events) are recorded here instead of made. `None` in real runs.
    pub dry_run: Option<DryRun>,
}

/// The writes a dry run left out, in the order they would have happened.
#[derive(Clone, Debug, Default)]
pub struct DryRun(Arc<std::sync::Mutex<Vec<String>>>);

impl DryRun {
    /// Notes a write that was not made (a short description, e.g. `event "login_failed"`).
    pub fn record(&self, what: impl Into<String>) {
        if let Ok(mut log) = self.0.lock() {
            log.push(what.into());
        }
    }

    /// Everything recorded so far.
    pub fn recorded(&self) -> Vec<String> {
        self.0.lock().map(|log| log.clone()).unwrap_or_default()
    }
}
