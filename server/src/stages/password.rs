//! Password: checks the pending user's password. Unknown (pretend) users are checked against a
//! dummy hash so they take as long as real ones; after `failed_attempts_before_cancel` wrong
//! tries in one flow the flow is cancelled ([`attempts`] counts them, for every stage that
//! checks a password).

pub mod attempts;

use app::protocol::{ChallengeKind, PasswordChallenge, ResponseErrors};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::tokens;
use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::store::{token, user};
use crate::{events, reputation};

pub const BACKEND_INBUILT: &str = "authentik.core.auth.InbuiltBackend";
pub const BACKEND_TOKEN: &str = "authentik.core.auth.TokenBackend";
pub const INVALID_PASSWORD: &str = "Invalid password";

fn default_backends() -> Vec<String> {
    vec![BACKEND_INBUILT.to_owned()]
}

fn default_failed_attempts() -> u32 {
    5
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PasswordStage {
    /// authentik backend paths. Inbuilt (the user's password) and Token (app passwords) are
    /// supported; LDAP and Kerberos backends are accepted but never authenticate anyone.
    #[serde(default = "default_backends")]
    pub backends: Vec<String>,
    #[serde(default = "default_failed_attempts")]
    pub failed_attempts_before_cancel: u32,
    #[serde(default)]
    pub allow_show_password: bool,
    /// The flow a signed-in user runs to change their password.
    #[serde(default)]
    pub configure_flow: Option<uuid::Uuid>,
}

impl Default for PasswordStage {
    fn default() -> Self {
        Self {
            backends: default_backends(),
            failed_attempts_before_cancel: default_failed_attempts(),
            allow_show_password: false,
            configure_flow: None,
        }
    }
}

/// How a password was accepted.
pub struct Authenticated {
    pub backend: &'static str,
    pub auth_method: &'static str,
    pub auth_method_args: Value,
}

/// Checks `password` for `user` (None: an unknown user, checked against the dummy hash) with
/// the given backends. Inactive users never authenticate, but take the same time.
pub async fn authenticate(
    cx: &StageCx<'_>,
    user: Option<&user::Model>,
    password: &str,
    backends: &[String],
) -> EngineResult<Option<Authenticated>> {
    let usable = user.filter(|u| u.is_active);
    if backends.iter().any(|b| b == BACKEND_INBUILT) {
        let stored = user.map(|u| u.password.clone());
        let matched = cx
            .services
            .passwords
            .verify(password.to_owned(), stored)
            .await?;
        if matched && usable.is_some() {
            return Ok(Some(Authenticated {
                backend: BACKEND_INBUILT,
                auth_method: "password",
                auth_method_args: json!({}),
            }));
        }
    }
    if let (true, Some(user)) = (backends.iter().any(|b| b == BACKEND_TOKEN), usable) {
        // App passwords are high-entropy keys: a hash lookup is enough (no timing to hide).
        let found = token::Entity::find()
            .filter(token::Column::KeyHash.eq(crate::sessions::hash_token(password)))
            .filter(token::Column::UserId.eq(user.id))
            .filter(token::Column::Intent.eq(tokens::INTENT_APP_PASSWORD))
            .one(cx.db())
            .await?
            .filter(|t| t.expires.is_none_or(|e| e > cx.now));
        if let Some(found) = found {
            return Ok(Some(Authenticated {
                backend: BACKEND_TOKEN,
                auth_method: "token",
                auth_method_args: json!({"token": {"identifier": found.identifier}}),
            }));
        }
    }
    Ok(None)
}

/// Records a failed attempt: reputation of identifier and IP down, a `login_failed` event
/// (marked `"mfa": true` when a second factor failed).
pub async fn record_failure(cx: &StageCx<'_>, identifier: &str, mfa: bool) -> EngineResult<()> {
    reputation::adjust(cx.db(), identifier, &cx.request.client_ip, -1, cx.now).await?;
    let mut context = json!({"username": identifier, "stage": cx.stage_name});
    if mfa {
        context["mfa"] = json!(true);
    }
    events::record(
        cx.db(),
        events::NewEvent {
            action: events::action::LOGIN_FAILED,
            user: None,
            client_ip: &cx.request.client_ip,
            context,
            now: cx.now,
        },
    )
    .await?;
    Ok(())
}

/// One password check with the attempt limit applied.
pub enum PasswordCheck {
    Accepted(Authenticated),
    /// Wrong; the person may try again.
    Rejected,
    /// Wrong, and the limit is reached: end the flow with [`cancelled`].
    LimitReached,
}

/// The answer when the attempt limit is reached, the same on every path and for real and
/// unknown accounts: access denied, "Invalid password" (authentik's lockout answer).
pub fn cancelled() -> StageOutcome {
    StageOutcome::denied(INVALID_PASSWORD)
}

impl PasswordStage {
    /// Checks `password` for `user` (None: an unknown account, checked against the dummy hash)
    /// with this stage's backends. A wrong password is recorded against `identifier`
    /// ([`record_failure`]) and counted against `failed_attempts_before_cancel`; a right one
    /// resets the count.
    pub async fn check(
        &self,
        cx: &mut StageCx<'_>,
        user: Option<&user::Model>,
        identifier: &str,
        password: &str,
    ) -> EngineResult<PasswordCheck> {
        if let Some(ok) = authenticate(cx, user, password, &self.backends).await? {
            attempts::clear(cx.context);
            return Ok(PasswordCheck::Accepted(ok));
        }
        record_failure(cx, identifier, false).await?;
        Ok(
            match attempts::count_failure(cx.context, self.failed_attempts_before_cancel) {
                attempts::AfterFailure::TryAgain => PasswordCheck::Rejected,
                attempts::AfterFailure::Cancel => PasswordCheck::LimitReached,
            },
        )
    }

    fn challenge_kind(&self, cx: &StageCx<'_>) -> ChallengeKind {
        ChallengeKind::Password(PasswordChallenge {
            user: cx.pending_user_info(),
            allow_show_password: self.allow_show_password,
            recovery_url: None,
        })
    }
}

#[async_trait::async_trait]
impl Stage for PasswordStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if cx.context.pending_user.is_none() {
            return Ok(StageOutcome::Denied(None));
        }
        Ok(StageOutcome::Show(self.challenge_kind(cx)))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let Some(pending) = cx.context.pending_user.clone() else {
            return Ok(StageOutcome::Denied(None));
        };
        let mut fields = ResponseFields::new(response);
        let password = fields.required_string("password");
        let password = match (password, fields.finish()) {
            (Some(password), Ok(())) => password,
            (_, Err(errors)) => return Ok(StageOutcome::Invalid(self.challenge_kind(cx), errors)),
            (None, Ok(())) => {
                let errors =
                    ResponseErrors::single("password", "This field is required.", "required");
                return Ok(StageOutcome::Invalid(self.challenge_kind(cx), errors));
            }
        };

        let user = match pending.pk {
            Some(pk) => user::Entity::find_by_id(pk).one(cx.db()).await?,
            None => None,
        };
        let ok = match self
            .check(cx, user.as_ref(), &pending.username, &password)
            .await?
        {
            PasswordCheck::Accepted(ok) => ok,
            PasswordCheck::LimitReached => return Ok(cancelled()),
            PasswordCheck::Rejected => {
                let errors = ResponseErrors::single("password", INVALID_PASSWORD, "invalid");
                return Ok(StageOutcome::Invalid(self.challenge_kind(cx), errors));
            }
        };
        if let Some(pending) = cx.context.pending_user.as_mut() {
            pending.backend = Some(ok.backend.to_owned());
        }
        cx.context.user_backend = Some(ok.backend.to_owned());
        if cx.context.auth_method.is_none() {
            cx.context.auth_method = Some(ok.auth_method.to_owned());
            if let Value::Object(args) = ok.auth_method_args {
                cx.context.auth_method_args.extend(args);
            }
        }
        Ok(StageOutcome::Passed)
    }
}
