//! Challenges: what the executor asks the browser to show. One struct per `component`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ResponseErrors;

/// A challenge as sent on the wire: the component-specific body plus the common envelope.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Challenge {
    /// Added by stages; absent on challenges the executor makes itself (redirect, flow error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_info: Option<FlowInfo>,
    #[serde(flatten)]
    pub kind: ChallengeKind,
    /// Present only when a response was rejected and the stage is shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_errors: Option<ResponseErrors>,
}

impl Challenge {
    pub fn bare(kind: ChallengeKind) -> Self {
        Self {
            flow_info: None,
            kind,
            response_errors: None,
        }
    }

    pub fn component(&self) -> &'static str {
        self.kind.component()
    }

    /// Error messages for one field, empty when there are none.
    pub fn errors_for(&self, field: &str) -> Vec<String> {
        self.response_errors
            .as_ref()
            .map(|e| e.for_field(field))
            .unwrap_or_default()
    }
}

/// The `component` discriminator and the body that goes with it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "component")]
pub enum ChallengeKind {
    #[serde(rename = "ak-stage-identification")]
    Identification(IdentificationChallenge),
    #[serde(rename = "ak-stage-password")]
    Password(PasswordChallenge),
    #[serde(rename = "ak-stage-access-denied")]
    AccessDenied(AccessDeniedChallenge),
    #[serde(rename = "ak-stage-flow-error")]
    FlowError(FlowErrorChallenge),
    #[serde(rename = "xak-flow-redirect")]
    Redirect(RedirectChallenge),
    #[serde(rename = "ak-stage-user-login")]
    UserLogin(UserLoginChallenge),
    #[serde(rename = "ak-stage-prompt")]
    Prompt(PromptChallenge),
    #[serde(rename = "ak-stage-email")]
    Email(EmailChallenge),
    #[serde(rename = "ak-stage-captcha")]
    Captcha(CaptchaChallenge),
    #[serde(rename = "ak-stage-consent")]
    Consent(ConsentChallenge),
    #[serde(rename = "ak-stage-authenticator-totp")]
    AuthenticatorTotp(AuthenticatorTotpChallenge),
    #[serde(rename = "ak-stage-authenticator-static")]
    AuthenticatorStatic(AuthenticatorStaticChallenge),
    #[serde(rename = "ak-stage-authenticator-webauthn")]
    AuthenticatorWebauthn(AuthenticatorWebauthnChallenge),
    #[serde(rename = "ak-stage-authenticator-validate")]
    AuthenticatorValidate(AuthenticatorValidateChallenge),
    #[serde(rename = "ak-stage-authenticator-sms")]
    AuthenticatorSms(AuthenticatorSmsChallenge),
    #[serde(rename = "ak-stage-authenticator-duo")]
    AuthenticatorDuo(AuthenticatorDuoChallenge),
    #[serde(rename = "ak-stage-authenticator-email")]
    AuthenticatorEmail(AuthenticatorEmailChallenge),
}

impl ChallengeKind {
    pub fn component(&self) -> &'static str {
        use super::component as c;
        match self {
            Self::Identification(_) => c::IDENTIFICATION,
            Self::Password(_) => c::PASSWORD,
            Self::AccessDenied(_) => c::ACCESS_DENIED,
            Self::FlowError(_) => c::FLOW_ERROR,
            Self::Redirect(_) => c::REDIRECT,
            Self::UserLogin(_) => c::USER_LOGIN,
            Self::Prompt(_) => c::PROMPT,
            Self::Email(_) => c::EMAIL,
            Self::Captcha(_) => c::CAPTCHA,
            Self::Consent(_) => c::CONSENT,
            Self::AuthenticatorTotp(_) => c::AUTHENTICATOR_TOTP,
            Self::AuthenticatorStatic(_) => c::AUTHENTICATOR_STATIC,
            Self::AuthenticatorWebauthn(_) => c::AUTHENTICATOR_WEBAUTHN,
            Self::AuthenticatorValidate(_) => c::AUTHENTICATOR_VALIDATE,
            Self::AuthenticatorSms(_) => c::AUTHENTICATOR_SMS,
            Self::AuthenticatorDuo(_) => c::AUTHENTICATOR_DUO,
            Self::AuthenticatorEmail(_) => c::AUTHENTICATOR_EMAIL,
        }
    }
}

/// `flow_info`: how the page around the challenge looks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowInfo {
    pub title: String,
    pub background: String,
    /// Always `null` today; kept for authentik clients that read it.
    #[serde(default)]
    pub background_themed_urls: Option<Value>,
    pub cancel_url: String,
    pub layout: FlowLayout,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowLayout {
    #[default]
    Stacked,
    ContentLeft,
    ContentRight,
    SidebarLeft,
    SidebarRight,
    SidebarLeftFrameBackground,
    SidebarRightFrameBackground,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowDesignation {
    Authentication,
    Authorization,
    Invalidation,
    Enrollment,
    Unenrollment,
    Recovery,
    StageConfiguration,
}

/// `pending_user` / `pending_user_avatar`, carried by the "with user info" challenges.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingUserInfo {
    pub pending_user: String,
    pub pending_user_avatar: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentificationChallenge {
    pub user_fields: Option<Vec<String>>,
    pub password_fields: bool,
    pub allow_show_password: bool,
    pub flow_designation: FlowDesignation,
    pub captcha_stage: Option<Box<EmbeddedCaptcha>>,
    pub primary_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enroll_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passwordless_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_pre: Option<String>,
    pub sources: Vec<Value>,
    pub show_source_labels: bool,
    pub enable_remember_me: bool,
    /// WebAuthn request options for passkey login (conditional UI), or null.
    pub passkey_challenge: Option<Value>,
    pub pending_user_identifier: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PasswordChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub allow_show_password: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessDeniedChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub error_message: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowErrorChallenge {
    pub request_id: String,
    /// Only for superusers: never leak internals to anyone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RedirectChallenge {
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserLoginChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptChallenge {
    pub fields: Vec<PromptField>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptField {
    pub field_key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub placeholder: String,
    pub initial_value: String,
    pub order: i32,
    pub sub_text: String,
    pub choices: Option<Vec<PromptChoice>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptChoice {
    pub label: String,
    pub value: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailChallenge {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptchaChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub site_key: String,
    pub js_url: String,
    pub interactive: bool,
}

/// A captcha shown inside another stage's form (identification's `captcha_stage`): the
/// captcha challenge with its `component` name, as authentik nests it. Spelled out rather
/// than flattened: serde's flatten costs the browser bundle a buffering deserializer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedCaptcha {
    pub component: String,
    pub pending_user: String,
    pub pending_user_avatar: String,
    pub site_key: String,
    pub js_url: String,
    pub interactive: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<String>,
    pub permissions: Vec<ConsentPermission>,
    pub additional_permissions: Vec<ConsentPermission>,
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentPermission {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorTotpChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub config_url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorStaticChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub codes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorWebauthnChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    /// PublicKeyCredentialCreationOptions JSON (binary fields base64url).
    pub registration: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorValidateChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub device_challenges: Vec<DeviceChallenge>,
    pub configuration_stages: Vec<SelectableStage>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceChallenge {
    pub device_class: String,
    pub device_uid: String,
    pub challenge: Value,
    pub last_used: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectableStage {
    pub pk: String,
    pub name: String,
    pub verbose_name: String,
    pub meta_model_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorSmsChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub phone_number_required: bool,
}

/// `ak-stage-authenticator-email` (spec §4.9): `email` is the address codes go to, masked
/// (`j***@e******.com`), or null while the person still has to give one (`email_required`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorEmailChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub email: Option<String>,
    pub email_required: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuthenticatorDuoChallenge {
    #[serde(flatten)]
    pub user: PendingUserInfo,
    pub activation_barcode: String,
    pub activation_code: String,
    pub stage_uuid: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn password_challenge_has_authentik_shape() {
        let challenge = Challenge {
            flow_info: Some(FlowInfo {
                title: "Welcome".into(),
                background: "/static/bg.jpg".into(),
                background_themed_urls: None,
                cancel_url: "/flows/-/cancel/".into(),
                layout: FlowLayout::Stacked,
            }),
            kind: ChallengeKind::Password(PasswordChallenge {
                user: PendingUserInfo {
                    pending_user: "akadmin".into(),
                    pending_user_avatar: "/a.png".into(),
                },
                allow_show_password: false,
                recovery_url: None,
            }),
            response_errors: Some(ResponseErrors::single(
                "password",
                "Invalid password",
                "invalid",
            )),
        };
        let value = serde_json::to_value(&challenge).unwrap();
        assert_eq!(
            value,
            json!({
                "flow_info": {"title": "Welcome", "background": "/static/bg.jpg",
                    "background_themed_urls": null, "cancel_url": "/flows/-/cancel/", "layout": "stacked"},
                "component": "ak-stage-password",
                "pending_user": "akadmin",
                "pending_user_avatar": "/a.png",
                "allow_show_password": false,
                "response_errors": {"password": [{"string": "Invalid password", "code": "invalid"}]}
            })
        );
        let back: Challenge = serde_json::from_value(value).unwrap();
        assert_eq!(back, challenge);
    }

    #[test]
    fn redirect_round_trips_without_flow_info() {
        let value = json!({"component": "xak-flow-redirect", "to": "/"});
        let challenge: Challenge = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(challenge.component(), "xak-flow-redirect");
        assert_eq!(serde_json::to_value(&challenge).unwrap(), value);
    }
}
