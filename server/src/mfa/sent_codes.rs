//! One-time codes sent to a device (spec §4.8 SMS, §4.9 email; validation's `sms` and `email`
//! classes): six random digits, valid until an expiry, usable once.
//!
//! Only `HMAC-SHA256(key, "<kind>:<device id>:<code>")` is stored (see [`MfaKeys::code_hash`]):
//! a code has just 10^6 values, so a plain hash would fall to enumeration from a database leak;
//! the key lives outside the database. Checks compare in constant time.
//!
//! ```text
//! send: code = 6 random digits ─▶ row.token_hash = H(code), token_expiry = now + expiry ─▶ send
//! check: throttled? ─▶ refuse │ no code / expired / H(typed) ≠ token_hash ─▶ failure (+throttle)
//!        └ UPDATE … SET token_hash = NULL WHERE id = ? AND token_hash = H(typed): 1 row ─▶ accepted
//! ```
//!
//! The conditional `UPDATE` is what makes a code single-use: two requests racing with the same
//! code cannot both change the row (the same pattern as TOTP steps in [`super::devices`]).
//! Each device table (`email_devices`, `sms_devices`) plugs in through [`SentCodeDevice`].

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    sea_query::{Expr, ExprTrait},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
};
use subtle::ConstantTimeEq;

use super::crypto::MfaKeys;
use super::devices::CodeOutcome;
use super::throttle::blocked_until;
use crate::store::{email_device, sms_device};

/// Digits of a sent code.
pub const CODE_DIGITS: usize = 6;

/// The columns of a device table the shared code logic reads and writes.
pub struct CodeColumns<C> {
    pub id: C,
    pub token_hash: C,
    pub token_expiry: C,
    pub failure_count: C,
    pub failure_timestamp: C,
}

/// A device's pending code and throttling state, as read from its row.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingCode {
    pub device_id: i32,
    pub token_hash: Option<String>,
    pub token_expiry: Option<DateTime<Utc>>,
    pub failure_count: i32,
    pub failure_timestamp: Option<DateTime<Utc>>,
}

/// A device table whose devices get codes sent to them.
pub trait SentCodeDevice: EntityTrait {
    /// Part of each code's hash, so equal ids in two tables never share a hash.
    const KIND: &'static str;
    fn columns() -> CodeColumns<Self::Column>;
    fn pending(model: &Self::Model) -> PendingCode;
}

macro_rules! sent_code_device {
    ($module:ident, $kind:literal) => {
        impl SentCodeDevice for $module::Entity {
            const KIND: &'static str = $kind;
            fn columns() -> CodeColumns<$module::Column> {
                CodeColumns {
                    id: $module::Column::Id,
                    token_hash: $module::Column::TokenHash,
                    token_expiry: $module::Column::TokenExpiry,
                    failure_count: $module::Column::ThrottlingFailureCount,
                    failure_timestamp: $module::Column::ThrottlingFailureTimestamp,
                }
            }
            fn pending(model: &$module::Model) -> PendingCode {
                PendingCode {
                    device_id: model.id,
                    token_hash: model.token_hash.clone(),
                    token_expiry: model.token_expiry,
                    failure_count: model.throttling_failure_count,
                    failure_timestamp: model.throttling_failure_timestamp,
                }
            }
        }
    };
}

sent_code_device!(email_device, "email");
sent_code_device!(sms_device, "sms");

/// Six random digits from the OS generator (leading zeros kept).
pub fn generate_code() -> String {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    format!("{n:06}")
}

/// A typed code in the stored form: digits only (spaces ignored), padded back to six digits
/// when a client sent it as a JSON number and lost leading zeros. `None`: not a code.
pub fn normalise_code(raw: &str) -> Option<String> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    if code.is_empty() || code.len() > CODE_DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{code:0>CODE_DIGITS$}"))
}

/// Why a typed code does or does not match a device (before the single-use write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// Throttled after earlier failures: the code was not looked at.
    Throttled,
    /// No code is pending (never sent, or already used).
    NoCode,
    Expired,
    Mismatch,
    Matches,
}

/// Decides what a typed code (already hashed as `presented`) means for `device` at `now`.
pub fn check(device: &PendingCode, presented: &str, now: DateTime<Utc>) -> CodeCheck {
    if blocked_until(device.failure_count, device.failure_timestamp, now).is_some() {
        return CodeCheck::Throttled;
    }
    let Some(stored) = device.token_hash.as_deref() else {
        return CodeCheck::NoCode;
    };
    if device.token_expiry.is_none_or(|expiry| expiry <= now) {
        return CodeCheck::Expired;
    }
    if bool::from(stored.as_bytes().ct_eq(presented.as_bytes())) {
        CodeCheck::Matches
    } else {
        CodeCheck::Mismatch
    }
}

/// Makes a new code for device `device_id` of table `E`, valid for `valid_for`, replacing any
/// pending one. The plain code is returned for sending and is stored nowhere.
pub async fn new_code<E: SentCodeDevice>(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device_id: i32,
    valid_for: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), DbErr> {
    let code = generate_code();
    let expires = now + valid_for;
    let columns = E::columns();
    E::update_many()
        .col_expr(
            columns.token_hash,
            Expr::value(Some(keys.code_hash(E::KIND, device_id, &code))),
        )
        .col_expr(columns.token_expiry, Expr::value(Some(expires)))
        .filter(columns.id.eq(device_id))
        .exec(db)
        .await?;
    Ok((code, expires))
}

/// Checks a typed code against one device of table `E`, with throttling, expiry and single
/// use.
pub async fn verify<E: SentCodeDevice>(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device: &E::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    let pending = E::pending(device);
    let Some(code) = normalise_code(code) else {
        return record_failure::<E>(db, pending.device_id, now).await;
    };
    let presented = keys.code_hash(E::KIND, pending.device_id, &code);
    match check(&pending, &presented, now) {
        CodeCheck::Throttled => Ok(CodeOutcome::Throttled),
        CodeCheck::Matches => {
            let columns = E::columns();
            let taken = E::update_many()
                .col_expr(columns.token_hash, Expr::value(Option::<String>::None))
                .col_expr(
                    columns.token_expiry,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(columns.failure_count, Expr::value(0))
                .col_expr(
                    columns.failure_timestamp,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(columns.id.eq(pending.device_id))
                .filter(columns.token_hash.eq(presented))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(CodeOutcome::Accepted);
            }
            // Another request used this code first: a replay.
            record_failure::<E>(db, pending.device_id, now).await
        }
        CodeCheck::NoCode | CodeCheck::Expired | CodeCheck::Mismatch => {
            record_failure::<E>(db, pending.device_id, now).await
        }
    }
}

async fn record_failure<E: SentCodeDevice>(
    db: &DatabaseConnection,
    device_id: i32,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    let columns = E::columns();
    E::update_many()
        .col_expr(
            columns.failure_count,
            Expr::col(columns.failure_count).add(1),
        )
        .col_expr(columns.failure_timestamp, Expr::value(Some(now)))
        .filter(columns.id.eq(device_id))
        .exec(db)
        .await?;
    Ok(CodeOutcome::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(hash: Option<&str>, expiry: Option<DateTime<Utc>>) -> PendingCode {
        PendingCode {
            device_id: 1,
            token_hash: hash.map(str::to_owned),
            token_expiry: expiry,
            failure_count: 0,
            failure_timestamp: None,
        }
    }

    #[test]
    fn codes_are_six_random_digits() {
        let codes: std::collections::HashSet<String> = (0..50).map(|_| generate_code()).collect();
        assert!(codes.len() > 40, "codes repeat too often: {codes:?}");
        for code in &codes {
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalise_code(" 012 345 ").as_deref(), Some("012345"));
        assert_eq!(normalise_code("12345").as_deref(), Some("012345"));
        assert_eq!(normalise_code("1234567"), None);
        assert_eq!(normalise_code("12a456"), None);
        assert_eq!(normalise_code(""), None);
    }

    #[test]
    fn a_code_matches_only_its_hash_before_it_expires() {
        let keys = MfaKeys::derive("secret");
        let now = Utc::now();
        let hash = keys.code_hash("sms", 1, "123456");
        let live = pending(Some(&hash), Some(now + Duration::minutes(30)));
        assert_eq!(check(&live, &hash, now), CodeCheck::Matches);
        let other = keys.code_hash("sms", 1, "654321");
        assert_eq!(check(&live, &other, now), CodeCheck::Mismatch);
        // The same code on the email device with the same id is another hash.
        let email = keys.code_hash("email", 1, "123456");
        assert_eq!(check(&live, &email, now), CodeCheck::Mismatch);
        let expired = pending(Some(&hash), Some(now - Duration::seconds(1)));
        assert_eq!(check(&expired, &hash, now), CodeCheck::Expired);
        // Used (or never sent): nothing matches, not even the old code.
        let used = pending(None, None);
        assert_eq!(check(&used, &hash, now), CodeCheck::NoCode);
    }

    #[test]
    fn a_throttled_device_does_not_look_at_the_code() {
        let keys = MfaKeys::derive("secret");
        let now = Utc::now();
        let hash = keys.code_hash("email", 1, "123456");
        let mut throttled = pending(Some(&hash), Some(now + Duration::minutes(30)));
        throttled.failure_count = 2;
        throttled.failure_timestamp = Some(now - Duration::seconds(1));
        assert_eq!(check(&throttled, &hash, now), CodeCheck::Throttled);
        // 2 failures: 2 s after the last one it looks again.
        assert_eq!(
            check(&throttled, &hash, now + Duration::seconds(1)),
            CodeCheck::Matches
        );
    }
}
