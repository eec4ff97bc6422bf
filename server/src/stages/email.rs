//! Email (spec §4.12, component `ak-stage-email`): mails a link that continues the flow, and
//! waits. The link carries a flow token (see [`crate::flow_tokens`]) that freezes the running
//! plan with a consent step in front ([`super::consent`]); that consent step spends the token,
//! so each link works once, whichever browser opens it first.
//!
//! - First visit: no pending user → denied; an unsaved pending user in a recovery flow (an
//!   unknown address) → nothing is sent but the answer is the same; otherwise a token is made
//!   and the mail queued. Reloading the waiting page sends nothing more.
//! - POST = "send again": rate-limited per address (`recovery_max_attempts` mails within
//!   `recovery_cache_timeout`, counted in the database so it holds across instances); the
//!   answer is always the challenge with the non-field error `email-sent`.
//! - Back from the link (`is_restored`): the token's user must be the pending user and the
//!   consent step must have spent that token; then the user is activated if configured.

use app::protocol::{ChallengeKind, EmailChallenge, FlowDesignation, MessageLevel, ResponseErrors};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::consent::{self, ConsentStage, SPENT_FLOW_TOKEN_KEY};
use super::StageConfig;
use crate::duration::FlowDuration;
use crate::engine::plan::{FlowPlan, PlannedStage};
use crate::engine::{
    stage::{Stage, StageCx, StageOutcome},
    EngineError, EngineResult,
};
use crate::events;
use crate::flow_tokens::{self, NewFlowToken, RestoredToken};
use crate::flows::parse_stored;
use crate::mail::{MailError, OutgoingMail};
use crate::store::{email_send_attempt, user};

/// Set once the first mail went out (or was pretended): a reload does not send again.
const EMAIL_SENT_KEY: &str = "goauthentik.io/stages/email/email_sent";
/// Overrides the recipient (authentik's `email` context key).
const EMAIL_OVERRIDE_KEY: &str = "email";
/// The code and text of the answer to every POST ("the mail was sent again").
pub const EMAIL_SENT_CODE: &str = "email-sent";
pub const CONSENT_HEADER: &str = "Continue to confirm this email address.";
pub const SENT_AGAIN: &str = "Email Successfully sent.";
pub const VERIFIED: &str = "Successfully verified Email.";
pub const NO_PENDING_USER: &str = "No pending user.";
pub const INVALID_TOKEN: &str = "Invalid token";

/// A duration default written the way authentik writes it (`minutes=30`).
pub(crate) fn minutes(n: i64) -> FlowDuration {
    FlowDuration {
        text: format!("minutes={n}"),
        value: Duration::minutes(n),
    }
}

/// How to reach the mail server. `password` is write-only: exports leave it out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct SmtpSettings {
    /// Use the install-wide `email.*` settings instead of the fields below.
    pub use_global_settings: bool,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub use_tls: bool,
    pub use_ssl: bool,
    /// Seconds.
    pub timeout: u32,
    pub from_address: String,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            use_global_settings: false,
            host: "localhost".into(),
            port: 25,
            username: String::new(),
            password: String::new(),
            use_tls: false,
            use_ssl: false,
            timeout: 10,
            from_address: "system@authentik.local".into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct EmailStage {
    #[serde(flatten)]
    pub smtp: SmtpSettings,
    pub token_expiry: FlowDuration,
    pub subject: String,
    pub template: String,
    pub activate_user_on_success: bool,
    pub recovery_max_attempts: u32,
    pub recovery_cache_timeout: FlowDuration,
}

impl Default for EmailStage {
    fn default() -> Self {
        Self {
            smtp: SmtpSettings::default(),
            token_expiry: minutes(30),
            subject: "authentik".into(),
            template: "email/password_reset.html".into(),
            activate_user_on_success: false,
            recovery_max_attempts: 5,
            recovery_cache_timeout: minutes(5),
        }
    }
}

/// "Too many …" with the wait in whole minutes, as authentik words it.
pub fn too_many_attempts(minutes: i64) -> String {
    format!("Too many account verification attempts. Please try again after {minutes} minutes.")
}

/// sha256 of the lower-cased address: the rate limit's key, without keeping the address.
pub(crate) fn address_key(address: &str) -> String {
    hex::encode(Sha256::digest(address.trim().to_lowercase().as_bytes()))
}

/// Counts one mail under `key` (see [`address_key`]) unless `max` were already sent within
/// `window`; `false`: over the limit, send nothing. Kept in the database so that the limit
/// holds across instances. The attempt is written first and counted after, so that two
/// instances racing can only refuse too eagerly, never send too many.
pub(crate) async fn take_send_attempt(
    cx: &StageCx<'_>,
    key: &str,
    max: u32,
    window: Duration,
) -> EngineResult<bool> {
    let since = cx.now - window;
    let id = Uuid::new_v4();
    email_send_attempt::ActiveModel {
        id: Set(id),
        address_hash: Set(key.to_owned()),
        sent_at: Set(cx.now),
    }
    .insert(cx.db())
    .await?;
    let count = email_send_attempt::Entity::find()
        .filter(email_send_attempt::Column::AddressHash.eq(key))
        .filter(email_send_attempt::Column::SentAt.gt(since))
        .count(cx.db())
        .await?;
    if count > u64::from(max) {
        email_send_attempt::Entity::delete_by_id(id)
            .exec(cx.db())
            .await?;
        return Ok(false);
    }
    // Old attempts under this key are of no further use.
    email_send_attempt::Entity::delete_many()
        .filter(email_send_attempt::Column::AddressHash.eq(key))
        .filter(email_send_attempt::Column::SentAt.lte(since))
        .exec(cx.db())
        .await?;
    Ok(true)
}

/// Where the link goes: `<origin>/if/flow/<slug>/?<query without flow_token>&flow_token=<key>`.
pub fn link_url(origin: &str, slug: &str, query: &[(String, String)], key: &str) -> String {
    let mut params: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| k != flow_tokens::QUERY_KEY)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    params.push((flow_tokens::QUERY_KEY, key));
    let encoded = serde_urlencoded::to_string(&params).unwrap_or_default();
    format!("{origin}/if/flow/{slug}/?{encoded}")
}

/// What one send did.
enum SendOutcome {
    /// Queued (or pretended, for an unknown address).
    Queued,
    /// Over the rate limit: nothing sent.
    Limited,
    /// The mail could not be made (template error, recorded as an event).
    Failed,
}

impl EmailStage {
    fn render() -> ChallengeKind {
        ChallengeKind::Email(EmailChallenge {})
    }

    fn too_many(&self, cx: &mut StageCx<'_>) {
        let minutes = self.recovery_cache_timeout.value.num_minutes().max(1);
        cx.message(MessageLevel::Error, too_many_attempts(minutes));
    }

    fn is_recovery(cx: &StageCx<'_>) -> bool {
        parse_stored::<FlowDesignation>(&cx.flow.designation)
            .is_ok_and(|d| d == FlowDesignation::Recovery)
    }

    /// Counts one mail to `address` unless `recovery_max_attempts` were already sent within
    /// `recovery_cache_timeout` (see [`take_send_attempt`]).
    async fn take_attempt(&self, cx: &StageCx<'_>, address: &str) -> EngineResult<bool> {
        take_send_attempt(
            cx,
            &address_key(address),
            self.recovery_max_attempts,
            self.recovery_cache_timeout.value,
        )
        .await
    }

    /// Makes a flow token for the running plan and queues the link mail (or, for an unknown
    /// address in a recovery flow, pretends to). `None`: there is nobody to mail.
    async fn send(&self, cx: &mut StageCx<'_>) -> EngineResult<Option<SendOutcome>> {
        let Some(pending) = cx.context.pending_user.clone() else {
            return Ok(None);
        };
        let saved = match pending.pk {
            Some(pk) => user::Entity::find_by_id(pk).one(cx.db()).await?,
            None => None,
        };
        let address = cx
            .context
            .get_extra::<String>(EMAIL_OVERRIDE_KEY)
            .filter(|a| !a.is_empty())
            .or_else(|| saved.as_ref().map(|u| u.email.clone()))
            .unwrap_or_else(|| pending.email.clone());
        let Some(user) = saved else {
            // An unknown account: only a recovery flow pretends (so that it does not tell
            // which addresses exist); anywhere else there is nobody to mail.
            if pending.pk.is_none() && Self::is_recovery(cx) {
                return Ok(Some(if self.take_attempt(cx, &address).await? {
                    SendOutcome::Queued
                } else {
                    SendOutcome::Limited
                }));
            }
            return Ok(None);
        };
        if !self.take_attempt(cx, &address).await? {
            return Ok(Some(SendOutcome::Limited));
        }
        let expires = flow_tokens::link_expiry(cx.now, self.token_expiry.value);
        let key = self.create_token(cx, user.id, expires).await?;
        let url = link_url(&cx.request.origin(), &cx.flow.slug, &cx.query.params, &key);
        match self
            .queue_mail(cx, &user, &address, &url, &key, expires)
            .await?
        {
            Ok(()) => Ok(Some(SendOutcome::Queued)),
            Err(_) => Ok(Some(SendOutcome::Failed)),
        }
    }

    /// A flow token holding a copy of the running plan with the consent step in front.
    async fn create_token(
        &self,
        cx: &mut StageCx<'_>,
        user_id: i32,
        expires: DateTime<Utc>,
    ) -> EngineResult<String> {
        let mut stages = Vec::with_capacity(cx.plan_stages.len() + 1);
        stages.push(PlannedStage::in_memory(
            StageConfig::Consent(ConsentStage::default()).to_in_memory()?,
        ));
        stages.extend_from_slice(cx.plan_stages);
        let mut context = cx.context.clone();
        context.set_extra(consent::HEADER_KEY, CONSENT_HEADER);
        context.set_extra(EMAIL_SENT_KEY, true);
        context.remove_extra(flow_tokens::IS_RESTORED);
        context.remove_extra(SPENT_FLOW_TOKEN_KEY);
        let plan = FlowPlan {
            flow_id: cx.flow.id,
            stages,
            context,
        };
        let identifier = flow_tokens::slugify(&format!(
            "ak-email-stage-{}-{}",
            cx.stage_name,
            Uuid::new_v4()
        ));
        let (key, _) = flow_tokens::create(
            cx.db(),
            NewFlowToken {
                identifier,
                user_id,
                plan: &plan,
                expires,
                revoke_on_execution: false,
            },
            cx.now,
        )
        .await?;
        Ok(key)
    }

    /// Hands the mail to the queue (delivered in the background, with retries). A template
    /// that does not render is the administrator's mistake: a `configuration_error` event, and
    /// the flow is denied.
    async fn queue_mail(
        &self,
        cx: &StageCx<'_>,
        user: &user::Model,
        address: &str,
        url: &str,
        key: &str,
        expires: DateTime<Utc>,
    ) -> EngineResult<Result<(), String>> {
        let mail = OutgoingMail {
            to_name: user.name.clone(),
            to_address: address.to_owned(),
            subject: self.subject.clone(),
            template: self.template.clone(),
            context: json!({
                "url": url,
                "user": {"username": user.username, "name": user.name, "email": user.email},
                "expires": expires.to_rfc3339(),
                "token": key,
            }),
            smtp: self.smtp.clone(),
            stage_id: Some(cx.stage_id),
        };
        match cx.services.mail.enqueue(mail).await {
            Ok(_) => Ok(Ok(())),
            Err(MailError::Queue(error)) => {
                Err(EngineError::CorruptData(format!("mail queue: {error}")))
            }
            Err(error) => {
                events::record(
                    cx.db(),
                    events::NewEvent {
                        action: events::action::CONFIGURATION_ERROR,
                        user: Some((user.id, &user.username)),
                        client_ip: &cx.request.client_ip,
                        context: json!({
                            "message": error.to_string(),
                            "stage": cx.stage_name,
                        }),
                        now: cx.now,
                    },
                )
                .await?;
                Ok(Err(error.to_string()))
            }
        }
    }

    /// Back from the link: the token's user must be the pending user, and this plan's consent
    /// step must have spent that very token.
    async fn verified(
        &self,
        cx: &mut StageCx<'_>,
        token: RestoredToken,
    ) -> EngineResult<StageOutcome> {
        let spent = cx.context.get_extra::<Uuid>(SPENT_FLOW_TOKEN_KEY);
        if spent != Some(token.id) {
            return Ok(StageOutcome::denied(consent::LINK_ALREADY_USED));
        }
        let pending = cx.context.pending_user.as_ref().and_then(|u| u.pk);
        if pending != Some(token.user) {
            return Ok(StageOutcome::denied(INVALID_TOKEN));
        }
        if self.activate_user_on_success {
            user::ActiveModel {
                id: Set(token.user),
                is_active: Set(true),
                ..Default::default()
            }
            .update(cx.db())
            .await?;
        }
        cx.context.remove_extra(EMAIL_SENT_KEY);
        cx.message(MessageLevel::Success, VERIFIED);
        Ok(StageOutcome::Passed)
    }
}

#[async_trait::async_trait]
impl Stage for EmailStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if let Some(token) = cx
            .context
            .get_extra::<RestoredToken>(flow_tokens::IS_RESTORED)
        {
            return self.verified(cx, token).await;
        }
        if cx.context.pending_user.is_none() {
            return Ok(StageOutcome::denied(NO_PENDING_USER));
        }
        if cx.context.get_extra::<bool>(EMAIL_SENT_KEY) != Some(true) {
            match self.send(cx).await? {
                None => return Ok(StageOutcome::denied(NO_PENDING_USER)),
                Some(SendOutcome::Failed) => return Ok(StageOutcome::Denied(None)),
                Some(SendOutcome::Limited) => self.too_many(cx),
                Some(SendOutcome::Queued) => {}
            }
            cx.context.set_extra(EMAIL_SENT_KEY, true);
        }
        Ok(StageOutcome::Show(Self::render()))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, _response: &Value) -> EngineResult<StageOutcome> {
        if cx
            .context
            .get_extra::<RestoredToken>(flow_tokens::IS_RESTORED)
            .is_some()
            || cx.context.pending_user.is_none()
        {
            return self.challenge(cx).await;
        }
        match self.send(cx).await? {
            None => return Ok(StageOutcome::denied(NO_PENDING_USER)),
            Some(SendOutcome::Failed) => return Ok(StageOutcome::Denied(None)),
            Some(SendOutcome::Limited) => self.too_many(cx),
            Some(SendOutcome::Queued) => cx.message(MessageLevel::Success, SENT_AGAIN),
        }
        cx.context.set_extra(EMAIL_SENT_KEY, true);
        let errors = ResponseErrors::single(
            app::protocol::NON_FIELD_ERRORS,
            EMAIL_SENT_CODE,
            EMAIL_SENT_CODE,
        );
        Ok(StageOutcome::Invalid(Self::render(), errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_keeps_the_query_but_replaces_the_flow_token() {
        let query = vec![
            ("next".to_owned(), "/app?x=1".to_owned()),
            ("flow_token".to_owned(), "old".to_owned()),
        ];
        assert_eq!(
            link_url("https://id.example", "default-recovery-flow", &query, "k3y"),
            "https://id.example/if/flow/default-recovery-flow/?next=%2Fapp%3Fx%3D1&flow_token=k3y"
        );
        assert_eq!(
            link_url("http://h:3000", "f", &[], "k"),
            "http://h:3000/if/flow/f/?flow_token=k"
        );
    }

    #[test]
    fn rate_limit_key_ignores_case_and_surrounding_space() {
        assert_eq!(
            address_key(" Ann@Example.COM"),
            address_key("ann@example.com")
        );
        assert_ne!(
            address_key("ann@example.com"),
            address_key("bob@example.com")
        );
    }

    #[test]
    fn too_many_attempts_is_worded_like_authentik() {
        assert_eq!(
            too_many_attempts(5),
            "Too many account verification attempts. Please try again after 5 minutes."
        );
    }
}
