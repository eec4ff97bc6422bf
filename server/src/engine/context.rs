//! The plan context: what stages learn and pass on (pending user, prompt data, auth method…).
//! Keys carry authentik's names so policies and blueprints written for authentik read the same.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The user a flow is working on. `pk == None` is an unsaved user: the stand-in that
/// identification uses for unknown identifiers (`pretend_user_exists`), so later stages behave
/// the same whether or not the account exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingUser {
    pub pk: Option<i32>,
    pub username: String,
    pub email: String,
    /// Set once a stage authenticated this user (password on the identification page, passkey):
    /// authentik's default flow skips the password stage when a backend is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

fn is_false(value: &bool) -> bool {
    !value
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_user: Option<PendingUser>,
    /// What the person typed, shown instead of the matched username when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_user_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub prompt_data: Map<String, Value>,
    /// Final redirect target set by keyflow itself or by policies (may be absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub auth_method_args: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_backend: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_message: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_sso: bool,
    /// Stage-private keys (`goauthentik.io/stages/...`) and anything policies set.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

impl FlowContext {
    pub fn get_extra<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.extra
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn set_extra<T: Serialize>(&mut self, key: &str, value: T) {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), value);
        }
    }

    pub fn remove_extra(&mut self, key: &str) {
        self.extra.remove(key);
    }

    /// Copies every key set in `other` over this context (a restored flow token's plan takes
    /// the running session plan's context on top, spec §1.5). Keys absent from `other` stay.
    pub fn merge_from(&mut self, other: &FlowContext) {
        let (Ok(Value::Object(mut merged)), Ok(Value::Object(top))) =
            (serde_json::to_value(&*self), serde_json::to_value(other))
        else {
            return;
        };
        merged.extend(top);
        match serde_json::from_value::<FlowContext>(Value::Object(merged)) {
            Ok(updated) => *self = updated,
            Err(error) => tracing::warn!(%error, "could not merge plan contexts"),
        }
    }

    /// Applies the plan-context keys a policy set (see `PolicyResult::context`). A value that
    /// does not fit its key's type (e.g. `pending_user` set to a string) is dropped with a
    /// warning, never half-applied.
    pub fn apply_policy_writes(&mut self, writes: &Map<String, Value>) {
        for (key, value) in writes {
            let Ok(Value::Object(mut current)) = serde_json::to_value(&*self) else {
                return;
            };
            current.insert(key.clone(), value.clone());
            match serde_json::from_value::<FlowContext>(Value::Object(current)) {
                Ok(updated) => *self = updated,
                Err(error) => {
                    tracing::warn!(key, %error, "a policy wrote a plan-context value of the wrong shape")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_serialises_with_authentik_key_names() {
        let mut context = FlowContext {
            pending_user: Some(PendingUser {
                pk: Some(1),
                username: "akadmin".into(),
                email: "a@b.c".into(),
                backend: None,
            }),
            auth_method: Some("password".into()),
            ..Default::default()
        };
        context.set_extra("goauthentik.io/stages/password/failed_attempts", 2);
        let value = serde_json::to_value(&context).unwrap();
        assert_eq!(
            value,
            json!({
                "pending_user": {"pk": 1, "username": "akadmin", "email": "a@b.c"},
                "auth_method": "password",
                "goauthentik.io/stages/password/failed_attempts": 2
            })
        );
        let back: FlowContext = serde_json::from_value(value).unwrap();
        assert_eq!(back, context);
    }

    #[test]
    fn merge_from_puts_the_other_context_on_top() {
        let mut restored = FlowContext {
            auth_method: Some("token".into()),
            redirect: Some("/a".into()),
            ..Default::default()
        };
        restored.set_extra("kept", 1);
        let mut session = FlowContext {
            redirect: Some("/b".into()),
            ..Default::default()
        };
        session.set_extra("added", 2);
        restored.merge_from(&session);
        assert_eq!(restored.auth_method.as_deref(), Some("token"));
        assert_eq!(restored.redirect.as_deref(), Some("/b"));
        assert_eq!(restored.get_extra::<i32>("kept"), Some(1));
        assert_eq!(restored.get_extra::<i32>("added"), Some(2));
    }
}
