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
//! Modes (authentik's): `always_require` asks every time; `permanent` and `expiring` remember a
//! given consent (see [`crate::consents`], keyed by user, flow and stage since keyflow has no
//! applications) — forever, or for `consent_expire_in` — and pass at once while it holds and
//! covers exactly the permissions asked for now. When the permissions changed, the prompt shows
//! the ones already granted as `permissions` and the new ones as `additional_permissions`. An
//! expired consent asks again. The email link's in-memory step, and flows with no known user,
//! always ask and remember nothing.

use std::collections::BTreeSet;

use app::protocol::{ChallengeKind, ConsentChallenge, ConsentPermission, ResponseErrors};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::consents::{self, ConsentKey};
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
pub const PERMISSIONS_KEY: &str = "consent_permissions";
/// authentik's `consent_additional_permissions`: permissions asked for beyond an earlier consent.
pub const ADDITIONAL_PERMISSIONS_KEY: &str = "consent_additional_permissions";

pub const INVALID_TOKEN: &str = "Invalid consent token, re-showing prompt";
pub const LINK_ALREADY_USED: &str = "Link was already used, please request a new link.";

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMode {
    #[default]
    AlwaysRequire,
    Permanent,
    Expiring,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
            additional_permissions: cx
                .context
                .get_extra::<Vec<ConsentPermission>>(ADDITIONAL_PERMISSIONS_KEY)
                .unwrap_or_default(),
            token,
        })
    }

    /// Until when a consent given now holds: `None` for never remembered, `Some(None)` for
    /// permanent. An expiry too far to represent counts as permanent.
    fn keep_until(&self, now: DateTime<Utc>) -> Option<Option<DateTime<Utc>>> {
        match self.mode {
            ConsentMode::AlwaysRequire => None,
            ConsentMode::Permanent => Some(None),
            ConsentMode::Expiring => Some(now.checked_add_signed(self.consent_expire_in.value)),
        }
    }

    /// Where a consent given at this step is remembered; `None` when it is not: in
    /// `always_require` mode, for the in-memory step of an email link, and when the flow has no
    /// stored user (nobody to remember it for).
    async fn consent_key(&self, cx: &StageCx<'_>) -> EngineResult<Option<ConsentKey>> {
        if self.mode == ConsentMode::AlwaysRequire
            || cx.planned.in_memory.is_some()
            || cx.stage_id.is_nil()
        {
            return Ok(None);
        }
        Ok(cx.pending_or_session_user().await?.map(|user| ConsentKey {
            user_id: user.id,
            flow_id: cx.flow.id,
            stage_id: cx.stage_id,
        }))
    }

    fn token_matches(cx: &StageCx<'_>, given: &str) -> bool {
        cx.context
            .get_extra::<String>(TOKEN_KEY)
            .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(given.as_bytes())))
    }
}

/// Every permission this step asks for: the listed ones and the additional ones (the split
/// between them is only how the prompt shows them), each id once — a policy may set the list
/// again after an earlier rendering moved some of it to the additional ones.
fn requested(cx: &StageCx<'_>) -> Vec<ConsentPermission> {
    let listed = cx
        .context
        .get_extra::<Vec<ConsentPermission>>(PERMISSIONS_KEY)
        .unwrap_or_default();
    let additional = cx
        .context
        .get_extra::<Vec<ConsentPermission>>(ADDITIONAL_PERMISSIONS_KEY)
        .unwrap_or_default();
    let mut seen = BTreeSet::new();
    listed
        .into_iter()
        .chain(additional)
        .filter(|p| seen.insert(p.id.clone()))
        .collect()
}

/// An earlier consent against what is asked now.
#[derive(Debug, PartialEq)]
pub enum Compared {
    /// Exactly the same permission ids: nothing to ask.
    Covered,
    /// Something differs: ask again, showing what was granted before and what is new.
    Changed {
        granted: Vec<ConsentPermission>,
        new: Vec<ConsentPermission>,
    },
}

/// Compares as authentik does: the sets of ids must be equal for the consent to count (one
/// granted permission no longer asked for also asks again).
pub fn compare(requested: Vec<ConsentPermission>, granted: &BTreeSet<String>) -> Compared {
    let asked: BTreeSet<&str> = requested.iter().map(|p| p.id.as_str()).collect();
    if asked.len() == granted.len() && asked.iter().all(|id| granted.contains(*id)) {
        return Compared::Covered;
    }
    let (granted, new) = requested
        .into_iter()
        .partition(|p| granted.contains(p.id.as_str()));
    Compared::Changed { granted, new }
}

#[async_trait::async_trait]
impl Stage for ConsentStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if let Some(token) = unspent_flow_token(cx) {
            if !flow_tokens::is_live(cx.db(), token.id, cx.now).await? {
                return Ok(StageOutcome::denied(LINK_ALREADY_USED));
            }
        }
        if let Some(key) = self.consent_key(cx).await? {
            if let Some(consent) = consents::find_valid(cx.db(), key, cx.now).await? {
                match compare(requested(cx), &consent.permissions) {
                    Compared::Covered => return Ok(StageOutcome::Passed),
                    Compared::Changed { granted, new } => {
                        cx.context.set_extra(PERMISSIONS_KEY, granted);
                        cx.context.set_extra(ADDITIONAL_PERMISSIONS_KEY, new);
                    }
                }
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
        if let (Some(key), Some(expires)) = (self.consent_key(cx).await?, self.keep_until(cx.now)) {
            let ids: Vec<String> = requested(cx).into_iter().map(|p| p.id).collect();
            consents::remember(cx.db(), key, &ids, expires, cx.now).await?;
        }
        cx.context.remove_extra(TOKEN_KEY);
        Ok(StageOutcome::Passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn permission(id: &str) -> ConsentPermission {
        ConsentPermission {
            id: id.into(),
            name: format!("Access to {id}"),
        }
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn the_same_permissions_are_covered_in_any_order() {
        let asked = vec![permission("email"), permission("openid")];
        assert_eq!(
            compare(asked, &ids(&["openid", "email"])),
            Compared::Covered
        );
        assert_eq!(compare(vec![], &ids(&[])), Compared::Covered);
    }

    #[test]
    fn new_permissions_are_asked_for_beside_the_granted_ones() {
        let asked = vec![
            permission("openid"),
            permission("email"),
            permission("groups"),
        ];
        assert_eq!(
            compare(asked, &ids(&["openid"])),
            Compared::Changed {
                granted: vec![permission("openid")],
                new: vec![permission("email"), permission("groups")],
            }
        );
    }

    #[test]
    fn fewer_permissions_than_granted_ask_again() {
        let asked = vec![permission("openid")];
        assert_eq!(
            compare(asked, &ids(&["openid", "email"])),
            Compared::Changed {
                granted: vec![permission("openid")],
                new: vec![],
            }
        );
    }

    #[test]
    fn how_long_a_consent_is_kept() {
        let now = Utc::now();
        let mut stage = ConsentStage::default();
        assert_eq!(stage.keep_until(now), None, "always_require keeps nothing");
        stage.mode = ConsentMode::Permanent;
        assert_eq!(stage.keep_until(now), Some(None));
        stage.mode = ConsentMode::Expiring;
        assert_eq!(stage.keep_until(now), Some(Some(now + Duration::weeks(4))));
        stage.consent_expire_in = FlowDuration::parse("hours=1;minutes=30").unwrap();
        assert_eq!(
            stage.keep_until(now),
            Some(Some(now + Duration::minutes(90)))
        );
    }
}
