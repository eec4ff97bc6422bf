//! The password attempt limit, shared by every stage that checks a password (the password stage
//! and the identification stage's combined username + password page), so the limit is counted
//! one way and holds on every path.
//!
//! One counter per flow, in the plan context under authentik's key
//! `goauthentik.io/stages/password/failed_attempts`:
//!
//! ```text
//!            wrong (count + 1 < limit)
//!           ┌─────────┐
//!           ▼         │
//!   ──▶ [ count ] ────┘
//!           │  \  wrong (count + 1 >= limit)
//!           │   └──────────────────────────▶ Cancel: the plan is dropped, access denied
//!           │ right
//!           ▼
//!     counter removed (a later password check starts from 0)
//! ```
//!
//! Unknown accounts (`pretend_user_exists`) count exactly like real ones, so the answers do
//! not tell them apart. A limit of 0 means "no limit".

use crate::engine::context::FlowContext;

/// Failed tries so far in this flow (a plan-context key).
pub const FAILED_ATTEMPTS_KEY: &str = "goauthentik.io/stages/password/failed_attempts";

/// What follows a wrong password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Show the stage again with its error.
    TryAgain,
    /// The limit is reached: cancel the flow.
    Cancel,
}

/// Counts one wrong password in `context` against `limit` (the password stage's
/// `failed_attempts_before_cancel`; 0: no limit).
pub fn count_failure(context: &mut FlowContext, limit: u32) -> AfterFailure {
    let failed = failed_so_far(context).saturating_add(1);
    context.set_extra(FAILED_ATTEMPTS_KEY, failed);
    if limit > 0 && failed >= limit {
        AfterFailure::Cancel
    } else {
        AfterFailure::TryAgain
    }
}

/// A right password: the next password check in this flow starts from 0.
pub fn clear(context: &mut FlowContext) {
    context.remove_extra(FAILED_ATTEMPTS_KEY);
}

/// Wrong passwords so far in this flow.
pub fn failed_so_far(context: &FlowContext) -> u32 {
    context.get_extra(FAILED_ATTEMPTS_KEY).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_th_wrong_password_cancels() {
        let mut context = FlowContext::default();
        for attempt in 1..5 {
            assert_eq!(
                count_failure(&mut context, 5),
                AfterFailure::TryAgain,
                "attempt {attempt}"
            );
        }
        assert_eq!(count_failure(&mut context, 5), AfterFailure::Cancel);
        assert_eq!(failed_so_far(&context), 5);
    }

    #[test]
    fn a_right_password_starts_the_count_over() {
        let mut context = FlowContext::default();
        count_failure(&mut context, 3);
        count_failure(&mut context, 3);
        clear(&mut context);
        assert_eq!(failed_so_far(&context), 0);
        assert_eq!(count_failure(&mut context, 3), AfterFailure::TryAgain);
    }

    #[test]
    fn zero_means_no_limit() {
        let mut context = FlowContext::default();
        for _ in 0..100 {
            assert_eq!(count_failure(&mut context, 0), AfterFailure::TryAgain);
        }
    }

    #[test]
    fn the_counter_is_shared_between_stages_with_different_limits() {
        // Two wrong tries under a limit of 5 leave one try under a limit of 3.
        let mut context = FlowContext::default();
        count_failure(&mut context, 5);
        count_failure(&mut context, 5);
        assert_eq!(count_failure(&mut context, 3), AfterFailure::Cancel);
    }
}
