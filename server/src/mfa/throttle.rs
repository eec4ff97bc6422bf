//! Throttling of code-based devices, as django-otp does it for authentik: after `n` consecutive
//! failures the device refuses any code (right or wrong) until `2^(n-1)` seconds after the last
//! failure. A success resets the count.
//!
//! ```text
//!  ok ──fail──▶ n=1 (wait 1 s) ──fail──▶ n=2 (wait 2 s) ──fail──▶ … n (wait 2^(n-1) s, ≤ 1 h)
//!   ▲                                                                │
//!   └────────────────────────────── success ─────────────────────────┘
//! ```

use chrono::{DateTime, Duration, Utc};

/// Longest wait, so a device attacked for days is not locked for years.
const MAX_DELAY_SECONDS: i64 = 3600;

/// Until when a device with this failure record refuses codes (`None`: it accepts now).
pub fn blocked_until(
    failures: i32,
    last_failure: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let last = last_failure?;
    if failures <= 0 {
        return None;
    }
    let exponent = u32::try_from(failures - 1).unwrap_or(0).min(30);
    let delay = (1i64 << exponent).min(MAX_DELAY_SECONDS);
    let until = last + Duration::seconds(delay);
    (until > now).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_with_each_failure() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        assert_eq!(blocked_until(0, Some(t0), t0), None);
        assert_eq!(blocked_until(3, None, t0), None);
        assert_eq!(
            blocked_until(1, Some(t0), t0),
            Some(t0 + Duration::seconds(1))
        );
        assert_eq!(blocked_until(1, Some(t0), t0 + Duration::seconds(1)), None);
        assert_eq!(
            blocked_until(4, Some(t0), t0 + Duration::seconds(7)),
            Some(t0 + Duration::seconds(8))
        );
        assert_eq!(blocked_until(4, Some(t0), t0 + Duration::seconds(8)), None);
        assert_eq!(
            blocked_until(500, Some(t0), t0),
            Some(t0 + Duration::seconds(MAX_DELAY_SECONDS))
        );
    }
}
