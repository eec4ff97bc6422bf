//! Identification: asks who someone is (username, email or UPN) and, when a password stage is
//! attached, their password on the same page. Unknown identifiers can "pass" with a stand-in user
//! (`pretend_user_exists`) so that the flow does not reveal which accounts exist.

use app::protocol::{
    ChallengeKind, EmbeddedCaptcha, IdentificationChallenge, ResponseErrors, NON_FIELD_ERRORS,
};
use sea_orm::EntityTrait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::captcha::CaptchaStage;
use super::password::{cancelled, PasswordCheck, PasswordStage};
use super::StageConfig;
use crate::engine::{
    context::PendingUser,
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineError, EngineResult,
};
use crate::flows::{parse_stored, FlowDesignation};
use crate::mfa::webauthn_assertion::{self, AssertionPolicy};
use crate::store::{flow, stage, user};
use crate::users::{find_by_identifier, UserField};

pub const FAILED_TO_AUTHENTICATE: &str = "Failed to authenticate.";
pub const NO_IDENTIFICATION_DATA: &str = "No identification data provided.";

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IdentificationStage {
    #[serde(default)]
    pub user_fields: Vec<UserField>,
    /// A password stage whose password is asked on the same page.
    #[serde(default)]
    pub password_stage: Option<Uuid>,
    /// A captcha stage whose widget is solved on the same page (checked before the account).
    #[serde(default)]
    pub captcha_stage: Option<Uuid>,
    #[serde(default = "yes")]
    pub case_insensitive_matching: bool,
    #[serde(default = "yes")]
    pub show_matched_user: bool,
    #[serde(default = "yes")]
    pub pretend_user_exists: bool,
    #[serde(default)]
    pub enable_remember_me: bool,
    #[serde(default)]
    pub enrollment_flow: Option<Uuid>,
    #[serde(default)]
    pub recovery_flow: Option<Uuid>,
    #[serde(default)]
    pub passwordless_flow: Option<Uuid>,
    /// An authenticator validation stage whose WebAuthn settings allow passkey login (autofill)
    /// on this form.
    #[serde(default)]
    pub webauthn_stage: Option<Uuid>,
}

impl Default for IdentificationStage {
    fn default() -> Self {
        Self {
            user_fields: vec![UserField::Email, UserField::Username],
            password_stage: None,
            captcha_stage: None,
            case_insensitive_matching: true,
            show_matched_user: true,
            pretend_user_exists: true,
            enable_remember_me: false,
            enrollment_flow: None,
            recovery_flow: None,
            passwordless_flow: None,
            webauthn_stage: None,
        }
    }
}

impl IdentificationStage {
    /// The configuration of the linked stage `id`, when it exists and `pick` accepts its kind.
    async fn linked<T>(
        cx: &StageCx<'_>,
        id: Option<Uuid>,
        pick: fn(StageConfig) -> Option<T>,
    ) -> EngineResult<Option<T>> {
        let Some(id) = id else {
            return Ok(None);
        };
        let Some(row) = stage::Entity::find_by_id(id).one(cx.db()).await? else {
            return Ok(None);
        };
        Ok(pick(StageConfig::from_row(&row)?))
    }

    async fn password_stage(&self, cx: &StageCx<'_>) -> EngineResult<Option<PasswordStage>> {
        Self::linked(cx, self.password_stage, |config| match config {
            StageConfig::Password(password) => Some(password),
            _ => None,
        })
        .await
    }

    async fn captcha_stage(&self, cx: &StageCx<'_>) -> EngineResult<Option<CaptchaStage>> {
        Self::linked(cx, self.captcha_stage, |config| match config {
            StageConfig::Captcha(captcha) => Some(captcha),
            _ => None,
        })
        .await
    }

    async fn flow_link(&self, cx: &StageCx<'_>, id: Option<Uuid>) -> EngineResult<Option<String>> {
        let Some(id) = id else { return Ok(None) };
        let linked = flow::Entity::find_by_id(id).one(cx.db()).await?;
        Ok(linked.map(|f| app::protocol::flow_page_url(&f.slug, &cx.query.raw)))
    }

    /// The WebAuthn settings of the linked validation stage, when passkey login is on.
    async fn passkey_policy(&self, cx: &StageCx<'_>) -> EngineResult<Option<AssertionPolicy>> {
        let Some(id) = self.webauthn_stage else {
            return Ok(None);
        };
        let Some(row) = stage::Entity::find_by_id(id).one(cx.db()).await? else {
            return Ok(None);
        };
        let policy = AssertionPolicy::from_validate_config(&row.config).map_err(|e| {
            EngineError::CorruptData(format!("stage {:?} ({}): {e}", row.name, row.kind))
        })?;
        Ok(Some(policy))
    }

    /// Request options for passkey autofill (any discoverable credential), or `None`.
    async fn passkey_challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<Option<Value>> {
        match self.passkey_policy(cx).await? {
            Some(policy) => webauthn_assertion::challenge(cx, &[], &policy),
            None => Ok(None),
        }
    }

    async fn challenge_kind(&self, cx: &mut StageCx<'_>) -> EngineResult<ChallengeKind> {
        let passkey_challenge = self.passkey_challenge(cx).await?;
        let password = self.password_stage(cx).await?;
        let designation: FlowDesignation =
            parse_stored(&cx.flow.designation).unwrap_or(FlowDesignation::Authentication);
        let fields = self.user_fields.iter().map(crate::flows::stored).collect();
        Ok(ChallengeKind::Identification(IdentificationChallenge {
            user_fields: Some(fields),
            password_fields: password.is_some(),
            allow_show_password: password.as_ref().is_some_and(|p| p.allow_show_password),
            flow_designation: designation,
            captcha_stage: self.captcha_stage(cx).await?.map(|captcha| {
                let shown = captcha.challenge_for(cx);
                Box::new(EmbeddedCaptcha {
                    component: app::protocol::component::CAPTCHA.into(),
                    pending_user: shown.user.pending_user,
                    pending_user_avatar: shown.user.pending_user_avatar,
                    site_key: shown.site_key,
                    js_url: shown.js_url,
                    interactive: shown.interactive,
                })
            }),
            primary_action: if designation == FlowDesignation::Authentication {
                "Log in"
            } else {
                "Continue"
            }
            .into(),
            enroll_url: self.flow_link(cx, self.enrollment_flow).await?,
            recovery_url: self.flow_link(cx, self.recovery_flow).await?,
            passwordless_url: self.flow_link(cx, self.passwordless_flow).await?,
            application_pre: None,
            sources: vec![],
            show_source_labels: false,
            enable_remember_me: self.enable_remember_me,
            passkey_challenge,
            pending_user_identifier: cx.context.pending_user_identifier.clone(),
        }))
    }

    async fn invalid(
        &self,
        cx: &mut StageCx<'_>,
        errors: ResponseErrors,
    ) -> EngineResult<StageOutcome> {
        Ok(StageOutcome::Invalid(
            self.challenge_kind(cx).await?,
            errors,
        ))
    }

    /// Passkey autofill: a discoverable credential identifies and authenticates at once.
    async fn passkey_login(
        &self,
        cx: &mut StageCx<'_>,
        passkey: &Value,
    ) -> EngineResult<StageOutcome> {
        let Some(policy) = self.passkey_policy(cx).await? else {
            let errors =
                ResponseErrors::single("passkey", "Passkey login is not enabled.", "invalid");
            return self.invalid(cx, errors).await;
        };
        match webauthn_assertion::verify(cx, passkey, None, &policy).await? {
            Ok(device) => {
                webauthn_assertion::sign_in_passwordless(cx, &device).await?;
                Ok(StageOutcome::Passed)
            }
            Err(refused) => {
                crate::reputation::adjust(cx.db(), "", &cx.request.client_ip, -1, cx.now).await?;
                let message = refused.message(&cx.services.settings.brand_title);
                self.invalid(cx, ResponseErrors::single("passkey", message, "invalid"))
                    .await
            }
        }
    }

    /// The account `uid` names, if any.
    async fn find(&self, cx: &StageCx<'_>, uid: &str) -> EngineResult<Option<user::Model>> {
        Ok(find_by_identifier(
            cx.db(),
            &self.user_fields,
            uid,
            self.case_insensitive_matching,
        )
        .await?)
    }

    /// Makes `found` (or, for an unknown `uid`, an unsaved stand-in, so later stages behave as
    /// for a real account) the pending user.
    fn set_pending_user(&self, cx: &mut StageCx<'_>, uid: &str, found: Option<&user::Model>) {
        let pending = match found {
            Some(user) => PendingUser {
                pk: Some(user.id),
                username: user.username.clone(),
                email: user.email.clone(),
                backend: None,
            },
            None => PendingUser {
                pk: None,
                username: uid.to_owned(),
                email: uid.to_owned(),
                backend: None,
            },
        };
        cx.context.pending_user = Some(pending);
        if !self.show_matched_user {
            cx.context.pending_user_identifier = Some(uid.to_owned());
        }
    }

    /// Username and password on one page. A wrong password and an unknown account get the same
    /// answer, are counted the same way against the password stage's attempt limit, and leave
    /// no pending user behind (so even the final "access denied" does not tell them apart).
    async fn combined_login(
        &self,
        cx: &mut StageCx<'_>,
        password_stage: &PasswordStage,
        uid: &str,
        password: &str,
    ) -> EngineResult<StageOutcome> {
        let found = self.find(cx, uid).await?;
        let check = password_stage
            .check(cx, found.as_ref(), uid, password)
            .await?;
        match (check, found) {
            (PasswordCheck::Accepted(ok), Some(user)) => {
                self.set_pending_user(cx, uid, Some(&user));
                if let Some(pending) = cx.context.pending_user.as_mut() {
                    pending.backend = Some(ok.backend.to_owned());
                }
                if cx.context.auth_method.is_none() {
                    cx.context.auth_method = Some(ok.auth_method.to_owned());
                }
                Ok(StageOutcome::Passed)
            }
            (PasswordCheck::LimitReached, _) => Ok(cancelled()),
            _ => {
                let failed =
                    ResponseErrors::single(NON_FIELD_ERRORS, FAILED_TO_AUTHENTICATE, "invalid");
                self.invalid(cx, failed).await
            }
        }
    }
}

#[async_trait::async_trait]
impl Stage for IdentificationStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        // A known identifier (login hint, "not you?" prefill) skips the form when nothing else
        // would be asked on it.
        if let (Some(uid), None, None, None) = (
            cx.context.pending_user_identifier.clone(),
            self.password_stage,
            self.captcha_stage,
            self.webauthn_stage,
        ) {
            let found = self.find(cx, &uid).await?;
            if found.is_some() || self.pretend_user_exists {
                self.set_pending_user(cx, &uid, found.as_ref());
                return Ok(StageOutcome::Passed);
            }
            cx.context.pending_user = None;
            cx.context.pending_user_identifier = None;
        }
        Ok(StageOutcome::Show(self.challenge_kind(cx).await?))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let mut fields = ResponseFields::new(response);
        // A passkey identifies the user by itself: no uid_field needed then.
        let has_passkey = response.get("passkey").is_some_and(|p| !p.is_null());
        let uid = match response.get("uid_field") {
            None if !has_passkey => fields.required_string("uid_field"),
            _ => fields.optional_string("uid_field"),
        };
        let password = fields.optional_string("password");
        let captcha_token = fields.optional_string("captcha_token");
        let passkey = fields.optional_object("passkey").cloned();
        if let Err(errors) = fields.finish() {
            return self.invalid(cx, errors).await;
        }
        if let Some(passkey) = passkey {
            return self.passkey_login(cx, &Value::Object(passkey)).await;
        }
        let Some(uid) = uid.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
            return self
                .invalid(
                    cx,
                    ResponseErrors::single(NON_FIELD_ERRORS, NO_IDENTIFICATION_DATA, "invalid"),
                )
                .await;
        };
        // Every identifier, known or not, must pass the captcha: checking it only for known
        // accounts (as authentik does) would tell a bot which accounts exist.
        if let Some(captcha) = self.captcha_stage(cx).await? {
            let token = captcha_token.unwrap_or_default();
            if captcha.verify(cx, &token).await.is_err() {
                let failed =
                    ResponseErrors::single(NON_FIELD_ERRORS, FAILED_TO_AUTHENTICATE, "invalid");
                return self.invalid(cx, failed).await;
            }
        }
        if let Some(password_stage) = self.password_stage(cx).await? {
            let password = password.unwrap_or_default();
            return self
                .combined_login(cx, &password_stage, &uid, &password)
                .await;
        }
        if let Some(user) = self.find(cx, &uid).await? {
            self.set_pending_user(cx, &uid, Some(&user));
            return Ok(StageOutcome::Passed);
        }
        // Spend the time a password check would take, then pretend or fail.
        let _ = cx
            .services
            .passwords
            .verify(password.unwrap_or_default(), None)
            .await?;
        crate::reputation::adjust(cx.db(), &uid, &cx.request.client_ip, -1, cx.now).await?;
        if self.pretend_user_exists {
            self.set_pending_user(cx, &uid, None);
            return Ok(StageOutcome::Passed);
        }
        let failed = ResponseErrors::single(NON_FIELD_ERRORS, FAILED_TO_AUTHENTICATE, "invalid");
        self.invalid(cx, failed).await
    }
}
