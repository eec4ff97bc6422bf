//! Policy kinds (the conditions themselves). The binding engine is `engine::policy`; this module
//! evaluates one policy row by its kind. Each kind keeps its typed configuration in its own
//! module, with field names exactly as authentik's model attributes, so a blueprint's `attrs`
//! deserialise straight into them (unknown attributes are ignored, missing ones take authentik's
//! defaults). A kind keyflow does not know is an evaluation error, which yields the binding's
//! `failure_result`, never a silent pass.

pub mod dummy;
pub mod expression;
pub mod password;
pub mod reputation;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::engine::{
    policy::{PolicyEvalError, PolicyEvaluator, PolicyRequest, PolicyResult},
    EngineServices,
};
use crate::events;
use crate::store::policy;

/// authentik's blueprint model names and the keyflow policy kind each maps to.
pub const BLUEPRINT_MODELS: &[(&str, &str)] = &[
    (
        "authentik_policies_expression.expressionpolicy",
        "expression",
    ),
    ("authentik_policies_password.passwordpolicy", "password"),
    (
        "authentik_policies_reputation.reputationpolicy",
        "reputation",
    ),
    ("authentik_policies_dummy.dummypolicy", "dummy"),
];

/// The kind for an authentik blueprint model name, if keyflow has it.
pub fn kind_for_blueprint_model(model: &str) -> Option<&'static str> {
    BLUEPRINT_MODELS
        .iter()
        .find(|(name, _)| *name == model)
        .map(|(_, kind)| *kind)
}

/// Field-level problems with a configuration: `(field, why)`.
pub type FieldErrors = Vec<(String, String)>;

#[derive(Debug, Error)]
pub enum PolicyError {
    #[error("policy not found")]
    Missing,
    #[error("policy kind {0:?} is not supported")]
    UnsupportedKind(String),
    #[error("policy {name:?} has an invalid configuration: {reason}")]
    InvalidConfig { name: String, reason: String },
    #[error("policy timed out after {0} seconds")]
    Timeout(u64),
    /// The expression raised or could not run; the text is shown as the result's message.
    #[error("{0}")]
    Expression(String),
    /// Details are logged, not shown: database errors may reveal schema or data.
    #[error("policy could not read its data")]
    Database(#[from] sea_orm::DbErr),
    #[error("policy evaluation failed: {0}")]
    Internal(String),
}

/// A policy's typed configuration, tagged by kind (the `policies.kind` / `policies.config`
/// columns).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum PolicyConfig {
    Expression(expression::ExpressionPolicy),
    Password(password::PasswordPolicy),
    Reputation(reputation::ReputationPolicy),
    Dummy(dummy::DummyPolicy),
}

impl PolicyConfig {
    /// Builds a configuration from a blueprint entry's `kind` (see [`BLUEPRINT_MODELS`]) and its
    /// `attrs`. Unknown attributes are ignored; missing ones take authentik's defaults.
    pub fn from_attrs(kind: &str, attrs: serde_json::Value) -> Result<Self, serde_json::Error> {
        let attrs = if attrs.is_null() {
            serde_json::json!({})
        } else {
            attrs
        };
        serde_json::from_value(serde_json::json!({"kind": kind, "config": attrs}))
    }

    /// Reads a `policies` row into its typed configuration.
    pub fn from_row(row: &policy::Model) -> Result<Self, PolicyError> {
        let known = BLUEPRINT_MODELS.iter().any(|(_, kind)| *kind == row.kind);
        if !known {
            return Err(PolicyError::UnsupportedKind(row.kind.clone()));
        }
        Self::from_attrs(&row.kind, row.config.clone()).map_err(|e| PolicyError::InvalidConfig {
            name: row.name.clone(),
            reason: e.to_string(),
        })
    }

    /// The `kind` column value and the `config` column value.
    pub fn to_columns(&self) -> (String, serde_json::Value) {
        crate::store::tagged_columns(self)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Expression(_) => "expression",
            Self::Password(_) => "password",
            Self::Reputation(_) => "reputation",
            Self::Dummy(_) => "dummy",
        }
    }

    /// Checks the configuration when it is saved (blueprint apply, admin API), so mistakes show
    /// up then and not at someone's login. Expressions are compiled here; errors name the line
    /// and column in the expression as written.
    pub fn validate(&self) -> Result<(), FieldErrors> {
        let errors = match self {
            Self::Expression(p) => p.validate(),
            Self::Password(p) => p.validate(),
            Self::Reputation(p) => p.validate(),
            Self::Dummy(p) => p.validate(),
        };
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The policy kinds above, for `EngineServices::policies`.
pub fn evaluator() -> std::sync::Arc<dyn PolicyEvaluator> {
    std::sync::Arc::new(Evaluator)
}

/// [`PolicyEvaluator`] over [`evaluate`].
struct Evaluator;

#[async_trait::async_trait]
impl PolicyEvaluator for Evaluator {
    async fn evaluate(
        &self,
        services: &EngineServices,
        policy: &policy::Model,
        request: &PolicyRequest<'_>,
        timeout: Duration,
    ) -> Result<PolicyResult, PolicyEvalError> {
        evaluate(services, policy, request, timeout)
            .await
            .map_err(|e| match e {
                PolicyError::Missing => PolicyEvalError::Missing,
                other => PolicyEvalError::Failed(Box::new(other)),
            })
    }
}

/// Evaluates one policy for `request`, giving up after `timeout`.
pub async fn evaluate(
    services: &EngineServices,
    row: &policy::Model,
    request: &PolicyRequest<'_>,
    timeout: Duration,
) -> Result<PolicyResult, PolicyError> {
    let config = PolicyConfig::from_row(row)?;
    let run = async {
        match &config {
            PolicyConfig::Expression(p) => p.evaluate(services, row, request, timeout).await,
            PolicyConfig::Password(p) => Ok(p.evaluate(request)),
            PolicyConfig::Reputation(p) => p.evaluate(services, request).await,
            PolicyConfig::Dummy(p) => Ok(p.evaluate().await),
        }
    };
    let result = tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| PolicyError::Timeout(timeout.as_secs()))?;
    if row.execution_logging {
        log_execution(services, row, &config, request, &result).await;
    }
    result
}

/// authentik's `execution_logging`: every evaluation of the policy becomes an event.
async fn log_execution(
    services: &EngineServices,
    row: &policy::Model,
    config: &PolicyConfig,
    request: &PolicyRequest<'_>,
    result: &Result<PolicyResult, PolicyError>,
) {
    let outcome = match result {
        Ok(r) => serde_json::json!({"passing": r.passing, "messages": r.messages}),
        Err(e) => serde_json::json!({"error": e.to_string()}),
    };
    if let Some(dry_run) = &services.dry_run {
        dry_run.record(format!(
            "event {:?} (policy {:?})",
            events::action::POLICY_EXECUTION,
            row.name
        ));
        return;
    }
    let event = events::NewEvent {
        action: events::action::POLICY_EXECUTION,
        user: request.user.map(|u| (u.id, u.username.as_str())),
        client_ip: &request.request.client_ip,
        context: serde_json::json!({
            "policy": {"pk": row.id, "name": row.name, "kind": config.kind()},
            "result": outcome,
        }),
        now: chrono::Utc::now(),
    };
    if let Err(error) = events::record(&services.db, event).await {
        tracing::warn!(policy = %row.name, %error, "recording a policy execution failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(kind: &str, config: serde_json::Value) -> policy::Model {
        policy::Model {
            id: uuid::Uuid::nil(),
            name: "p".into(),
            kind: kind.into(),
            config,
            execution_logging: false,
        }
    }

    #[test]
    fn blueprint_attrs_deserialise_with_authentik_defaults_and_ignore_unknown_keys() {
        let config = PolicyConfig::from_attrs(
            "reputation",
            json!({"check_ip": false, "name": "ignored", "execution_logging": true}),
        )
        .unwrap();
        assert_eq!(
            config,
            PolicyConfig::Reputation(reputation::ReputationPolicy {
                check_ip: false,
                check_username: true,
                threshold: -5,
            })
        );
    }

    #[test]
    fn configuration_round_trips_through_columns() {
        let config = PolicyConfig::from_attrs("password", json!({"length_min": 8})).unwrap();
        let (kind, value) = config.to_columns();
        assert_eq!(kind, "password");
        assert_eq!(PolicyConfig::from_row(&row(&kind, value)).unwrap(), config);
    }

    #[test]
    fn unknown_kind_and_bad_config_are_errors_not_panics() {
        assert!(matches!(
            PolicyConfig::from_row(&row("geoip", json!({}))),
            Err(PolicyError::UnsupportedKind(_))
        ));
        assert!(matches!(
            PolicyConfig::from_row(&row("password", json!({"length_min": "eight"}))),
            Err(PolicyError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn every_blueprint_model_maps_to_a_deserialisable_kind() {
        for (model, kind) in BLUEPRINT_MODELS {
            assert_eq!(kind_for_blueprint_model(model), Some(*kind));
            let attrs = if *kind == "expression" {
                json!({"expression": "return True"})
            } else {
                json!({})
            };
            let config = PolicyConfig::from_attrs(kind, attrs).unwrap();
            assert_eq!(config.kind(), *kind);
        }
        assert_eq!(
            kind_for_blueprint_model("authentik_policies_geoip.geoippolicy"),
            None
        );
    }
}
