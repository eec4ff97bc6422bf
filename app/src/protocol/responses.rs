//! Challenge responses: what the browser POSTs back. The server validates the raw JSON per field
//! (so every problem becomes a `response_errors` entry); these types are how clients build it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentificationResponse {
    pub uid_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captcha_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordResponse {
    pub password: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserLoginResponse {
    pub remember_me: bool,
}

/// Builds a response body: the component name plus the response's own fields.
pub fn response_body<T: Serialize>(component: &str, response: &T) -> Value {
    let mut body = serde_json::to_value(response).unwrap_or(Value::Object(Default::default()));
    if let Value::Object(map) = &mut body {
        map.insert("component".into(), Value::String(component.into()));
    }
    body
}
