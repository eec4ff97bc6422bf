//! The stages: one module per stage kind, each holding that kind's typed configuration (stored
//! as JSON in `stages.config`) and its [`Stage`] implementation. Adding a stage kind means one
//! module here, one variant below and one component in `app::ui::stages`.

pub mod authenticator_email;
pub mod authenticator_static;
pub mod authenticator_totp;
pub mod authenticator_validate;
pub mod consent;
pub mod deny;
pub mod device_events;
pub mod email;
pub mod identification;
pub mod password;
pub mod user_login;
pub mod user_logout;
// Configuration only so far: their Stage impls answer "not implemented yet".
pub mod authenticator_duo;
pub mod authenticator_sms;
pub mod authenticator_webauthn;
pub mod captcha;
pub mod invitation;
pub mod not_implemented;
pub mod prompt;
pub mod redirect;
pub mod user_delete;
pub mod user_write;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::engine::{
    completion::CompletionHooks,
    plan::InMemoryStage,
    stage::{Stage, StageCx, StageOutcome, StageRegistry},
    EngineError, EngineResult,
};
use crate::store::stage;

/// The completion hooks stages rely on (see `engine::completion`), for `EngineServices`.
pub fn completion_hooks() -> CompletionHooks {
    CompletionHooks::new(vec![Arc::new(invitation::SettleInvitation)])
}

/// The stage kinds below, for `EngineServices::stages`.
pub fn registry() -> Arc<dyn StageRegistry> {
    Arc::new(Registry)
}

/// [`StageRegistry`] over [`StageConfig`].
struct Registry;

impl StageRegistry for Registry {
    fn build(&self, row: &stage::Model) -> EngineResult<Box<dyn Stage>> {
        Ok(Box::new(StageConfig::from_row(row)?))
    }

    fn build_in_memory(&self, config: &InMemoryStage) -> EngineResult<Box<dyn Stage>> {
        Ok(Box::new(StageConfig::from_in_memory(config)?))
    }

    fn injections(&self, row: &stage::Model) -> EngineResult<Vec<(uuid::Uuid, String)>> {
        Ok(match StageConfig::from_row(row)? {
            StageConfig::AuthenticatorValidate(validate)
                if validate.not_configured_action
                    == authenticator_validate::NotConfiguredAction::Configure =>
            {
                validate
                    .configuration_stages
                    .iter()
                    .map(|id| {
                        (
                            *id,
                            "the user has no authenticator (not_configured_action: configure)"
                                .to_owned(),
                        )
                    })
                    .collect()
            }
            _ => Vec::new(),
        })
    }
}

#[async_trait::async_trait]
impl Stage for StageConfig {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        self.stage().challenge(cx).await
    }

    async fn respond(
        &self,
        cx: &mut StageCx<'_>,
        response: &serde_json::Value,
    ) -> EngineResult<StageOutcome> {
        self.stage().respond(cx, response).await
    }
}

/// A stage's typed configuration, tagged by kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "snake_case")]
pub enum StageConfig {
    Identification(identification::IdentificationStage),
    Password(password::PasswordStage),
    UserLogin(user_login::UserLoginStage),
    UserLogout(user_logout::UserLogoutStage),
    Deny(deny::DenyStage),
    Prompt(prompt::PromptStage),
    UserWrite(user_write::UserWriteStage),
    UserDelete(user_delete::UserDeleteStage),
    Invitation(invitation::InvitationStage),
    Email(email::EmailStage),
    Captcha(captcha::CaptchaStage),
    Consent(consent::ConsentStage),
    Redirect(redirect::RedirectStage),
    AuthenticatorSms(authenticator_sms::AuthenticatorSmsStage),
    AuthenticatorDuo(authenticator_duo::AuthenticatorDuoStage),
    AuthenticatorEmail(authenticator_email::AuthenticatorEmailStage),
    AuthenticatorWebauthn(authenticator_webauthn::AuthenticatorWebauthnStage),
    AuthenticatorTotp(authenticator_totp::AuthenticatorTotpStage),
    AuthenticatorStatic(authenticator_static::AuthenticatorStaticStage),
    AuthenticatorValidate(authenticator_validate::AuthenticatorValidateStage),
}

impl StageConfig {
    /// Reads a `stages` row into its typed configuration.
    pub fn from_row(row: &stage::Model) -> Result<Self, EngineError> {
        let tagged = serde_json::json!({"kind": row.kind, "config": row.config});
        serde_json::from_value(tagged).map_err(|e| {
            EngineError::CorruptData(format!("stage {:?} ({}): {e}", row.name, row.kind))
        })
    }

    /// The `kind` column value and the `config` column value.
    pub fn to_columns(&self) -> (String, serde_json::Value) {
        crate::store::tagged_columns(self)
    }

    /// This configuration as a plan-only stage ([`crate::engine::plan::PlannedStage::in_memory`]).
    pub fn to_in_memory(&self) -> EngineResult<InMemoryStage> {
        Ok(InMemoryStage(serde_json::to_value(self)?))
    }

    /// Reads back what [`Self::to_in_memory`] wrote.
    pub fn from_in_memory(config: &InMemoryStage) -> EngineResult<Self> {
        serde_json::from_value(config.0.clone())
            .map_err(|e| EngineError::CorruptData(format!("in-memory stage: {e}")))
    }

    pub fn stage(&self) -> &dyn Stage {
        match self {
            Self::Identification(s) => s,
            Self::Password(s) => s,
            Self::UserLogin(s) => s,
            Self::UserLogout(s) => s,
            Self::Deny(s) => s,
            Self::Prompt(s) => s,
            Self::UserWrite(s) => s,
            Self::UserDelete(s) => s,
            Self::Invitation(s) => s,
            Self::Email(s) => s,
            Self::Captcha(s) => s,
            Self::Consent(s) => s,
            Self::Redirect(s) => s,
            Self::AuthenticatorSms(s) => s,
            Self::AuthenticatorDuo(s) => s,
            Self::AuthenticatorEmail(s) => s,
            Self::AuthenticatorWebauthn(s) => s,
            Self::AuthenticatorTotp(s) => s,
            Self::AuthenticatorStatic(s) => s,
            Self::AuthenticatorValidate(s) => s,
        }
    }
}

/// The JSON Schema (draft 2020-12, as `schemars` derives it from the Rust types and their doc
/// comments) of a stage kind's configuration and the values an empty configuration reads as;
/// `None` for a kind keyflow does not have. The admin forms are built from it
/// (`admin::forms`).
pub fn config_schema(kind: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    fn of<T>() -> (serde_json::Value, serde_json::Value)
    where
        T: schemars::JsonSchema + serde::de::DeserializeOwned + Serialize,
    {
        let schema = schemars::schema_for!(T).to_value();
        // A type with required fields has no whole default: take each field's own.
        let defaults = serde_json::from_value::<T>(serde_json::json!({}))
            .ok()
            .and_then(|config| serde_json::to_value(config).ok())
            .unwrap_or_else(|| {
                let fields = schema
                    .get("properties")
                    .and_then(serde_json::Value::as_object)
                    .into_iter()
                    .flatten()
                    .filter_map(|(k, p)| p.get("default").map(|d| (k.clone(), d.clone())))
                    .collect();
                serde_json::Value::Object(fields)
            });
        (schema, defaults)
    }
    Some(match kind {
        "identification" => of::<identification::IdentificationStage>(),
        "password" => of::<password::PasswordStage>(),
        "user_login" => of::<user_login::UserLoginStage>(),
        "user_logout" => of::<user_logout::UserLogoutStage>(),
        "deny" => of::<deny::DenyStage>(),
        "prompt" => of::<prompt::PromptStage>(),
        "user_write" => of::<user_write::UserWriteStage>(),
        "user_delete" => of::<user_delete::UserDeleteStage>(),
        "invitation" => of::<invitation::InvitationStage>(),
        "email" => of::<email::EmailStage>(),
        "captcha" => of::<captcha::CaptchaStage>(),
        "consent" => of::<consent::ConsentStage>(),
        "redirect" => of::<redirect::RedirectStage>(),
        "authenticator_sms" => of::<authenticator_sms::AuthenticatorSmsStage>(),
        "authenticator_duo" => of::<authenticator_duo::AuthenticatorDuoStage>(),
        "authenticator_email" => of::<authenticator_email::AuthenticatorEmailStage>(),
        "authenticator_webauthn" => of::<authenticator_webauthn::AuthenticatorWebauthnStage>(),
        "authenticator_totp" => of::<authenticator_totp::AuthenticatorTotpStage>(),
        "authenticator_static" => of::<authenticator_static::AuthenticatorStaticStage>(),
        "authenticator_validate" => of::<authenticator_validate::AuthenticatorValidateStage>(),
        // Prompt fields are not a stage, but their form is built the same way.
        "prompt_field" => of::<prompt::PromptField>(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_round_trips_through_columns() {
        let config = StageConfig::Deny(deny::DenyStage {
            deny_message: "no".into(),
        });
        let (kind, value) = config.to_columns();
        assert_eq!(kind, "deny");
        let row = stage::Model {
            id: uuid::Uuid::nil(),
            name: "d".into(),
            kind,
            config: value,
        };
        assert_eq!(StageConfig::from_row(&row).unwrap(), config);
    }

    #[test]
    fn unknown_kind_is_reported_not_panicked() {
        let row = stage::Model {
            id: uuid::Uuid::nil(),
            name: "x".into(),
            kind: "teleport".into(),
            config: serde_json::json!({}),
        };
        assert!(matches!(
            StageConfig::from_row(&row),
            Err(EngineError::CorruptData(_))
        ));
    }
}
