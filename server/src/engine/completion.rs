//! Completion hooks: work a flow promises to do only once it **completes**, done atomically.
//!
//! A stage that hands out something scarce (a single-use invitation) must not spend it when the
//! person merely opens the link or abandons the form. So the stage only leaves a note in the
//! plan context (its own key, e.g. `invitation`), and a [`CompletionHook`] that understands the
//! note settles it:
//!
//! - at **flow done**, the executor runs every hook inside one database transaction; a hook
//!   that refuses (the invitation was used by someone else meanwhile, or expired) turns the end
//!   of the flow into "access denied" with the hook's message, and nothing it did is kept;
//! - a stage about to make the flow's result permanent (user write) settles the hooks
//!   **inside its own transaction** through [`super::stage::StageCx::settle_completion`]: two
//!   people completing with the same single-use invitation race on the same row, exactly one
//!   commits, and the loser's user is rolled back with its claim. A settled hook removes its
//!   note from the context, so flow done does not settle it again.
//!
//! The engine never names a hook: the server plugs them in through
//! [`super::EngineServices::completion`] (see `stages::completion_hooks`), so `engine` stays
//! free of `stages`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;

use super::{context::FlowContext, EngineResult};

/// What a hook decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Settled {
    /// Nothing to do, or done (inside the transaction).
    Ok,
    /// The flow must not complete: access denied with this message; the transaction is rolled
    /// back.
    Refused(String),
}

/// One kind of "do this when the flow completes".
#[async_trait::async_trait]
pub trait CompletionHook: Send + Sync {
    /// Settles this hook's note in `context`, if there is one, inside `txn`; must remove the
    /// note when it returns [`Settled::Ok`] after acting on it. Database errors abort the flow
    /// (flow-error challenge); a refusal is [`Settled::Refused`].
    async fn settle(
        &self,
        txn: &DatabaseTransaction,
        context: &mut FlowContext,
        now: DateTime<Utc>,
    ) -> EngineResult<Settled>;
}

/// The hooks an engine runs, in order (cheap to clone).
#[derive(Clone, Default)]
pub struct CompletionHooks(Arc<[Arc<dyn CompletionHook>]>);

impl CompletionHooks {
    pub fn new(hooks: Vec<Arc<dyn CompletionHook>>) -> Self {
        Self(hooks.into())
    }

    /// Runs every hook on `context` inside `txn`; the first refusal wins. On a refusal the
    /// caller must roll back `txn` and discard `context`.
    pub async fn settle_all(
        &self,
        txn: &DatabaseTransaction,
        context: &mut FlowContext,
        now: DateTime<Utc>,
    ) -> EngineResult<Settled> {
        for hook in self.0.iter() {
            if let Settled::Refused(message) = hook.settle(txn, context, now).await? {
                return Ok(Settled::Refused(message));
            }
        }
        Ok(Settled::Ok)
    }
}

impl std::fmt::Debug for CompletionHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CompletionHooks({})", self.0.len())
    }
}
