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

/// `ak-stage-authenticator-totp`: the first code from the newly set-up app.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorTotpResponse {
    pub code: String,
}

/// `ak-stage-authenticator-email`: the address to mail a code to, or the code that arrived
/// (with a code, the address is ignored). Neither: keyflow mails a new code to the address
/// already given (authentik answers "email required").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorEmailResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `ak-stage-authenticator-sms` (spec §4.8): the number to text, or the code texted there;
/// neither asks for a new code (keyflow).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorSmsResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// `ak-stage-authenticator-static`: nothing but the component (any POST confirms).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorStaticResponse {}

/// `ak-stage-authenticator-validate`: one of a device pick, a set-up stage pick, a code, a
/// WebAuthn assertion or a Duo device.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorValidateResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_challenge: Option<super::DeviceChallenge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_stage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webauthn: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duo: Option<i32>,
}
