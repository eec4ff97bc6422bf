//! Typed values of the flow model (stored as text with authentik's spelling).

use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub use app::protocol::{FlowDesignation, FlowLayout};

/// Who may run a flow; checked by the planner before the flow's policies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthenticationRequirement {
    #[default]
    None,
    RequireAuthenticated,
    RequireUnauthenticated,
    RequireSuperuser,
    RequireRedirect,
    RequireOutpost,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyEngineMode {
    #[default]
    Any,
    All,
}

/// What happens when the flow's own policies deny access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeniedAction {
    #[default]
    MessageContinue,
    Message,
    Continue,
}

/// What a stage binding does when a response is invalid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvalidResponseAction {
    #[default]
    Retry,
    Restart,
    RestartWithContext,
}

/// Parses a stored snake_case value into one of the enums above.
pub fn parse_stored<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(value.to_owned()))
        .map_err(|_| format!("unknown value {value:?}"))
}

/// The stored spelling of one of the enums above.
pub fn stored<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        assert_eq!(
            stored(&InvalidResponseAction::RestartWithContext),
            "restart_with_context"
        );
        assert_eq!(
            parse_stored::<AuthenticationRequirement>("require_superuser"),
            Ok(AuthenticationRequirement::RequireSuperuser)
        );
        assert_eq!(
            parse_stored::<FlowDesignation>("stage_configuration"),
            Ok(FlowDesignation::StageConfiguration)
        );
        assert!(parse_stored::<PolicyEngineMode>("sometimes").is_err());
    }
}
