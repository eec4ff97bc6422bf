//! Consent (spec §4.19, component `ak-stage-consent`): asks the person to confirm before the flow
//! goes on. Each rendering carries a fresh random `token`; only a response echoing the current
//! one passes.
//!
//! The same component is the first step of an email link (spec §4.12 "Link click"): the email
//! stage freezes its plan with an in-memory consent stage in front. While the plan runs from a
//! flow token that has not been spent yet (`is_restored`), the GET checks that the token still
//! exists, and only the valid POST spends it, with a conditional delete — mail scanners that
//! merely open the link spend nothing, and of two browsers posting at once exactly one goes on.
//!
//! Modes: only `always_require` behaves as authentik's; `permanent` and `expiring` remember a
//! consent per application, and keyflow has no applications yet, so they always ask too.

use app::protocol::{ChallengeKind, ConsentChallenge, ConsentPermission, ResponseErrors};
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::duration::FlowDuration;
use crate::engine::{
    fields::ResponseFields,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::flow_tokens::{self, RestoredToken};
use crate::sessions::random_token;

/// The token of the challenge last shown (a plan-context key).
const TOKEN_KEY: &str = "goauthentik.io/stages/consent/token";
/// The flow token (its id) this plan's consent step has spent.
pub const SPENT_FLOW_TOKEN_KEY: &str = "goauthentik.io/stages/consent/spent_flow_token";
/// authentik's `consent_header`: the text shown above the consent prompt.
pub const HEADER_KEY: &str = "consent_header";
/// authentik's `consent_permissions`: `[{id, name}]` to list.
const PERMISSIONS_KEY: &str = "consent_permissions";

pub const INVALID_TOKEN: &str = "Invalid consent token, re-showing prompt";
pub const LINK_ALREADY_USED: &str = "Link was already used, please request a new link.";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    #[default]
    AlwaysRequire,
    Permanent,
    Expiring,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentStage {
    pub mode: ConsentMode,
    /// How long an `expiring` consent lasts.
    pub consent_expire_in: FlowDuration,
}

impl Default for ConsentStage {
    fn default() -> Self {
        Self {
            mode: ConsentMode::AlwaysRequire,
            consent_expire_in: FlowDuration {
                text: "weeks=4".into(),
                value: Duration::weeks(4),
            },
        }
    }
}

/// The flow token this plan was restored from, while it is not yet spent by this plan.
pub fn unspent_flow_token(cx: &StageCx<'_>) -> Option<RestoredToken> {
    let token = cx
        .context
        .get_extra::<RestoredToken>(flow_tokens::IS_RESTORED)?;
    let spent = cx.context.get_extra::<uuid::Uuid>(SPENT_FLOW_TOKEN_KEY);
    (spent != Some(token.id)).then_some(token)
}

impl ConsentStage {
    /// A fresh challenge (new token, remembered in the context).
    fn render(&self, cx: &mut StageCx<'_>) -> ChallengeKind {
        let token = random_token();
        cx.context.set_extra(TOKEN_KEY, &token);
        ChallengeKind::Consent(ConsentChallenge {
            user: cx.pending_user_info(),
            header_text: cx.context.get_extra::<String>(HEADER_KEY),
            permissions: cx
                .context
                .get_extra::<Vec<ConsentPermission>>(PERMISSIONS_KEY)
                .unwrap_or_default(),
            additional_permissions: vec![],
            token,
        })
    }

    fn token_matches(cx: &StageCx<'_>, given: &str) -> bool {
        cx.context
            .get_extra::<String>(TOKEN_KEY)
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(given.as_bytes())))
    }
}

#[async_trait::async_trait]
impl Stage for ConsentStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if let Some(token) = unspent_flow_token(cx) {
            if !flow_tokens::is_live(cx.db(), token.id, cx.now).await? {
                return Ok(StageOutcome::denied(LINK_ALREADY_USED));
            }
        }
        Ok(StageOutcome::Show(self.render(cx)))
    }

    async fn respond(&self, cx: &mut StageCx<'_>, response: &Value) -> EngineResult<StageOutcome> {
        let mut fields = ResponseFields::new(response);
        let given = fields.required_string("token");
        if let Err(errors) = fields.finish() {
            return Ok(StageOutcome::Invalid(self.render(cx), errors));
        }
        if !given.is_some_and(|given| Self::token_matches(cx, &given)) {
            let errors =
                ResponseErrors::single(app::protocol::NON_FIELD_ERRORS, INVALID_TOKEN, "invalid");
            return Ok(StageOutcome::Invalid(self.render(cx), errors));
        }
        if let Some(token) = unspent_flow_token(cx) {
            // Whoever deletes the row first goes on; everyone else used a spent link.
            if !flow_tokens::spend(cx.db(), token.id, cx.now).await? {
                return Ok(StageOutcome::denied(LINK_ALREADY_USED));
            }
            cx.context.set_extra(SPENT_FLOW_TOKEN_KEY, token.id);
        }
        cx.context.remove_extra(TOKEN_KEY);
        Ok(StageOutcome::Passed)
    }
}
