//! Invitation (spec §4.13): lets a flow continue only with a valid invitation (the `invitations`
//! table) and merges the invitation's `fixed_data` into `prompt_data`.
//!
//! The token is read from the page query's `itoken`, then `token`, then `prompt_data.token`. A
//! missing, malformed, unknown or expired token, or one bound to another flow, passes only when
//! `continue_flow_without_invitation` is set; otherwise access is denied
//! ([`INVALID_INVITE`]).
//!
//! Unlike authentik, opening the link spends nothing: the stage leaves a note in the plan
//! context ([`SETTLE_KEY`]) and [`SettleInvitation`], a completion hook
//! (`engine::completion`), checks the invitation again and deletes a single-use one only when
//! the flow completes, or earlier inside user write's transaction, so of two people completing
//! with the same single-use invitation exactly one succeeds and the other keeps nothing.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::engine::{
    completion::{CompletionHook, Settled},
    context::FlowContext,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::events;
use crate::store::invitation;

/// Plan-context keys, as authentik names them.
pub const INVITATION_IN_EFFECT: &str = "invitation_in_effect";
pub const INVITATION: &str = "invitation";
/// keyflow's note for [`SettleInvitation`]: `{"pk": <uuid>, "single_use": bool}`.
pub const SETTLE_KEY: &str = "keyflow/invitation/settle";
/// Query keys and the `prompt_data` key the token is read from, in order.
pub const QUERY_KEYS: [&str; 2] = ["itoken", "token"];
pub const PROMPT_DATA_KEY: &str = "token";
pub const INVALID_INVITE: &str = "Invalid invite/invite not found";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct InvitationStage {
    pub continue_flow_without_invitation: bool,
}

/// What [`SettleInvitation`] must settle when the flow completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct SettleNote {
    pk: Uuid,
    single_use: bool,
}

/// Whether the invitation has expired at `now` (`expiring = false` never expires).
pub fn is_expired(row: &invitation::Model, now: DateTime<Utc>) -> bool {
    row.expiring && row.expires.is_some_and(|expires| expires <= now)
}

/// The invitation token of this flow run, if any was given (not yet checked).
fn token(cx: &StageCx<'_>) -> Option<String> {
    QUERY_KEYS
        .iter()
        .find_map(|key| cx.query.get(key).map(str::to_owned))
        .or_else(|| match cx.context.prompt_data.get(PROMPT_DATA_KEY) {
            Some(Value::String(token)) => Some(token.clone()),
            _ => None,
        })
}

/// `base` with `overlay` merged in; nested objects merge, everything else in `overlay` wins.
pub fn deep_merge(base: &mut Map<String, Value>, overlay: &Map<String, Value>) {
    for (key, value) in overlay {
        match (base.get_mut(key), value) {
            (Some(Value::Object(existing)), Value::Object(incoming)) => {
                deep_merge(existing, incoming)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The invitation as policies and later stages see it in the context.
fn context_value(row: &invitation::Model) -> Value {
    json!({
        "pk": row.id,
        "name": row.name,
        "expires": row.expires,
        "expiring": row.expiring,
        "flow": row.flow_id,
        "single_use": row.single_use,
        "fixed_data": row.fixed_data,
        "created_by": row.created_by_id,
    })
}

impl InvitationStage {
    fn without_invitation(&self) -> StageOutcome {
        if self.continue_flow_without_invitation {
            StageOutcome::Passed
        } else {
            StageOutcome::denied(INVALID_INVITE)
        }
    }
}

#[async_trait::async_trait]
impl Stage for InvitationStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        let Some(id) = token(cx).and_then(|t| Uuid::parse_str(t.trim()).ok()) else {
            return Ok(self.without_invitation());
        };
        let row = invitation::Entity::find_by_id(id).one(cx.db()).await?;
        let Some(row) = row.filter(|row| {
            !is_expired(row, cx.now) && row.flow_id.is_none_or(|flow| flow == cx.flow.id)
        }) else {
            return Ok(self.without_invitation());
        };
        cx.context.set_extra(INVITATION_IN_EFFECT, true);
        cx.context.set_extra(INVITATION, context_value(&row));
        if let Value::Object(fixed) = &row.fixed_data {
            deep_merge(&mut cx.context.prompt_data, fixed);
        }
        cx.context.set_extra(
            SETTLE_KEY,
            SettleNote {
                pk: row.id,
                single_use: row.single_use,
            },
        );
        let user = cx.session.user.clone();
        events::record(
            cx.db(),
            events::NewEvent {
                action: events::action::INVITATION_USED,
                user: user.as_ref().map(|u| (u.id, u.username.as_str())),
                client_ip: &cx.request.client_ip,
                context: json!({
                    "invitation_uuid": row.id.simple().to_string(),
                    "invitation_name": row.name,
                }),
                now: cx.now,
            },
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

/// The completion hook for invitations: the invitation must still exist and not have expired;
/// a single-use one is deleted, and only one flow can delete it.
pub struct SettleInvitation;

#[async_trait::async_trait]
impl CompletionHook for SettleInvitation {
    async fn settle(
        &self,
        txn: &DatabaseTransaction,
        context: &mut FlowContext,
        now: DateTime<Utc>,
    ) -> EngineResult<Settled> {
        let Some(note) = context.get_extra::<SettleNote>(SETTLE_KEY) else {
            return Ok(Settled::Ok);
        };
        let still_valid = Condition::any()
            .add(invitation::Column::Expiring.eq(false))
            .add(invitation::Column::Expires.is_null())
            .add(invitation::Column::Expires.gt(now));
        let valid = if note.single_use {
            // The claim is this one conditional DELETE, the first write of the transaction:
            // concurrent claimers queue on the row (PostgreSQL) or the write lock (SQLite), and
            // every one after the first deletes nothing.
            invitation::Entity::delete_many()
                .filter(invitation::Column::Id.eq(note.pk))
                .filter(still_valid)
                .exec(txn)
                .await?
                .rows_affected
                == 1
        } else {
            invitation::Entity::find()
                .filter(invitation::Column::Id.eq(note.pk))
                .filter(still_valid)
                .one(txn)
                .await?
                .is_some()
        };
        if !valid {
            return Ok(Settled::Refused(INVALID_INVITE.to_owned()));
        }
        context.remove_extra(SETTLE_KEY);
        Ok(Settled::Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(expiring: bool, expires: Option<DateTime<Utc>>) -> invitation::Model {
        invitation::Model {
            id: Uuid::nil(),
            name: "i".into(),
            expires,
            expiring,
            flow_id: None,
            single_use: false,
            fixed_data: json!({}),
            created_by_id: None,
        }
    }

    #[test]
    fn expiry_needs_expiring_and_a_past_date() {
        let now = Utc::now();
        let past = now - chrono::Duration::seconds(1);
        let future = now + chrono::Duration::hours(1);
        assert!(is_expired(&row(true, Some(past)), now));
        assert!(is_expired(&row(true, Some(now)), now));
        assert!(!is_expired(&row(true, Some(future)), now));
        assert!(!is_expired(&row(true, None), now));
        assert!(!is_expired(&row(false, Some(past)), now));
    }

    #[test]
    fn fixed_data_wins_and_nested_objects_merge() {
        let mut base = json!({"username": "typed", "attributes": {"a": 1, "b": {"c": 2}}, "x": 1});
        let overlay = json!({"username": "fixed", "attributes": {"b": {"d": 3}}, "y": [1]});
        let (Value::Object(base_map), Value::Object(overlay)) = (&mut base, overlay) else {
            unreachable!()
        };
        deep_merge(base_map, &overlay);
        assert_eq!(
            base,
            json!({
                "username": "fixed",
                "attributes": {"a": 1, "b": {"c": 2, "d": 3}},
                "x": 1,
                "y": [1]
            })
        );
    }
}
