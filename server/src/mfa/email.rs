//! Email one-time codes (spec §4.9, validation's `email` class): six random digits mailed to a
//! confirmed address, valid until the stage's `token_expiry`, usable once.
//!
//! Only `HMAC-SHA256(key, "<device id>:<code>")` is stored (see [`MfaKeys::email_code_hash`]):
//! a code has just 10^6 values, so a plain hash would fall to enumeration from a database leak;
//! the key lives outside the database. Checks compare in constant time.
//!
//! ```text
//! send: code = 6 random digits ─▶ row.token_hash = H(code), token_expiry = now + expiry ─▶ mail
//! check: throttled? ─▶ refuse │ no code / expired / H(typed) ≠ token_hash ─▶ failure (+throttle)
//!        └ UPDATE … SET token_hash = NULL WHERE id = ? AND token_hash = H(typed): 1 row ─▶ accepted
//! ```
//!
//! The conditional `UPDATE` is what makes a code single-use: two requests racing with the same
//! code cannot both change the row (the same pattern as TOTP steps in [`super::devices`]).

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use sea_orm::{
    sea_query::{Expr, ExprTrait, Func},
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use subtle::ConstantTimeEq;
use uuid::Uuid;

use super::crypto::MfaKeys;
use super::devices::CodeOutcome;
use super::throttle::blocked_until;
use crate::store::email_device;

/// Digits of a mailed code.
pub const CODE_DIGITS: usize = 6;
/// authentik's name for a new email device.
pub const DEVICE_NAME: &str = "Email Authenticator";

/// Six random digits from the OS generator (leading zeros kept).
pub fn generate_code() -> String {
    let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
    format!("{n:06}")
}

/// How authentik shows an address it mails codes to: the first character of the local part
/// and of each domain label, the rest starred; parts of two characters or fewer fully
/// starred; the top-level domain kept. `jane.doe@mail.example.com` → `j*******@m***.e******.com`.
/// Text without `@` is starred entirely.
pub fn mask_email(email: &str) -> String {
    fn mask_part(part: &str) -> String {
        let count = part.chars().count();
        if count <= 2 {
            return "*".repeat(count);
        }
        let mut chars = part.chars();
        let first = chars.next().map(String::from).unwrap_or_default();
        first + &"*".repeat(count - 1)
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return "*".repeat(email.chars().count());
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let (tld, rest) = labels.split_last().unwrap_or((&"", &[]));
    let mut masked: Vec<String> = rest.iter().map(|label| mask_part(label)).collect();
    masked.push((*tld).to_owned());
    format!("{}@{}", mask_part(local), masked.join("."))
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
pub fn check(device: &email_device::Model, presented: &str, now: DateTime<Utc>) -> CodeCheck {
    if blocked_until(
        device.throttling_failure_count,
        device.throttling_failure_timestamp,
        now,
    )
    .is_some()
    {
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

/// A new, unconfirmed device of `user_id` for `stage_id` mailing to `email` (no code yet).
pub async fn create(
    db: &DatabaseConnection,
    user_id: i32,
    stage_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> Result<email_device::Model, DbErr> {
    email_device::ActiveModel {
        user_id: Set(user_id),
        stage_id: Set(stage_id),
        name: Set(DEVICE_NAME.to_owned()),
        email: Set(email.to_owned()),
        confirmed: Set(false),
        created: Set(now),
        last_used: Set(None),
        token_hash: Set(None),
        token_expiry: Set(None),
        throttling_failure_count: Set(0),
        throttling_failure_timestamp: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Points an unconfirmed device at another address; any pending code is dropped.
pub async fn change_address(
    db: &DatabaseConnection,
    device_id: i32,
    email: &str,
) -> Result<(), DbErr> {
    email_device::Entity::update_many()
        .col_expr(email_device::Column::Email, Expr::value(email.to_owned()))
        .col_expr(
            email_device::Column::TokenHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            email_device::Column::TokenExpiry,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(email_device::Column::Id.eq(device_id))
        .filter(email_device::Column::Confirmed.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

/// Makes a new code for `device_id`, valid for `valid_for`, replacing any pending one. The
/// plain code is returned for the mail and is stored nowhere.
pub async fn new_code(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device_id: i32,
    valid_for: Duration,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), DbErr> {
    let code = generate_code();
    let expires = now + valid_for;
    email_device::Entity::update_many()
        .col_expr(
            email_device::Column::TokenHash,
            Expr::value(Some(keys.email_code_hash(device_id, &code))),
        )
        .col_expr(
            email_device::Column::TokenExpiry,
            Expr::value(Some(expires)),
        )
        .filter(email_device::Column::Id.eq(device_id))
        .exec(db)
        .await?;
    Ok((code, expires))
}

/// Checks a typed code against one device, with throttling, expiry and single use.
pub async fn verify(
    db: &DatabaseConnection,
    keys: &MfaKeys,
    device: &email_device::Model,
    code: &str,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    let Some(code) = normalise_code(code) else {
        return record_failure(db, device, now).await;
    };
    let presented = keys.email_code_hash(device.id, &code);
    match check(device, &presented, now) {
        CodeCheck::Throttled => Ok(CodeOutcome::Throttled),
        CodeCheck::Matches => {
            let taken = email_device::Entity::update_many()
                .col_expr(
                    email_device::Column::TokenHash,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(
                    email_device::Column::TokenExpiry,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(email_device::Column::ThrottlingFailureCount, Expr::value(0))
                .col_expr(
                    email_device::Column::ThrottlingFailureTimestamp,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .filter(email_device::Column::Id.eq(device.id))
                .filter(email_device::Column::TokenHash.eq(presented))
                .exec(db)
                .await?;
            if taken.rows_affected == 1 {
                return Ok(CodeOutcome::Accepted);
            }
            // Another request used this code first: a replay.
            record_failure(db, device, now).await
        }
        CodeCheck::NoCode | CodeCheck::Expired | CodeCheck::Mismatch => {
            record_failure(db, device, now).await
        }
    }
}

async fn record_failure(
    db: &DatabaseConnection,
    device: &email_device::Model,
    now: DateTime<Utc>,
) -> Result<CodeOutcome, DbErr> {
    email_device::Entity::update_many()
        .col_expr(
            email_device::Column::ThrottlingFailureCount,
            Expr::col(email_device::Column::ThrottlingFailureCount).add(1),
        )
        .col_expr(
            email_device::Column::ThrottlingFailureTimestamp,
            Expr::value(Some(now)),
        )
        .filter(email_device::Column::Id.eq(device.id))
        .exec(db)
        .await?;
    Ok(CodeOutcome::Rejected)
}

/// Confirms a device unless another confirmed device of the same stage already has its
/// address (compared case-insensitively). `false`: a duplicate, nothing changed.
pub async fn confirm(db: &DatabaseConnection, device: &email_device::Model) -> Result<bool, DbErr> {
    if address_taken(db, device.stage_id, &device.email, Some(device.id)).await? {
        return Ok(false);
    }
    email_device::Entity::update_many()
        .col_expr(email_device::Column::Confirmed, Expr::value(true))
        .filter(email_device::Column::Id.eq(device.id))
        .exec(db)
        .await?;
    Ok(true)
}

/// Whether a confirmed device of `stage_id` (other than `except`) already uses `email`.
pub async fn address_taken(
    db: &DatabaseConnection,
    stage_id: Uuid,
    email: &str,
    except: Option<i32>,
) -> Result<bool, DbErr> {
    let found = email_device::Entity::find()
        .filter(email_device::Column::StageId.eq(stage_id))
        .filter(email_device::Column::Confirmed.eq(true))
        .filter(email_device::Column::Id.ne(except.unwrap_or(-1)))
        .filter(
            Expr::expr(Func::lower(Expr::col(email_device::Column::Email)))
                .eq(email.trim().to_lowercase()),
        )
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The user's confirmed device for `stage_id`, if any ("already registered").
pub async fn confirmed_for_stage(
    db: &DatabaseConnection,
    user_id: i32,
    stage_id: Uuid,
) -> Result<Option<email_device::Model>, DbErr> {
    email_device::Entity::find()
        .filter(email_device::Column::UserId.eq(user_id))
        .filter(email_device::Column::StageId.eq(stage_id))
        .filter(email_device::Column::Confirmed.eq(true))
        .order_by_asc(email_device::Column::Id)
        .one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(hash: Option<&str>, expiry: Option<DateTime<Utc>>) -> email_device::Model {
        email_device::Model {
            id: 1,
            user_id: 1,
            stage_id: Uuid::nil(),
            name: DEVICE_NAME.into(),
            email: "ann@example.com".into(),
            confirmed: true,
            created: Utc::now(),
            last_used: None,
            token_hash: hash.map(str::to_owned),
            token_expiry: expiry,
            throttling_failure_count: 0,
            throttling_failure_timestamp: None,
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
    fn addresses_are_masked_like_authentik() {
        assert_eq!(
            mask_email("jane.doe@mail.example.com"),
            "j*******@m***.e******.com"
        );
        assert_eq!(mask_email("ab@example.org"), "**@e******.org");
        assert_eq!(mask_email("akadmin@ex.io"), "a******@**.io");
        assert_eq!(mask_email("zoë@bücher.de"), "z**@b*****.de");
        assert_eq!(mask_email("localhost"), "*********");
        assert_eq!(mask_email("root@localhost"), "r***@localhost");
    }

    #[test]
    fn a_code_matches_only_its_hash_before_it_expires() {
        let keys = MfaKeys::derive("secret");
        let now = Utc::now();
        let hash = keys.email_code_hash(1, "123456");
        let live = device(Some(&hash), Some(now + Duration::minutes(30)));
        assert_eq!(check(&live, &hash, now), CodeCheck::Matches);
        let other = keys.email_code_hash(1, "654321");
        assert_eq!(check(&live, &other, now), CodeCheck::Mismatch);
        let expired = device(Some(&hash), Some(now - Duration::seconds(1)));
        assert_eq!(check(&expired, &hash, now), CodeCheck::Expired);
        // Used (or never sent): nothing matches, not even the old code.
        let used = device(None, None);
        assert_eq!(check(&used, &hash, now), CodeCheck::NoCode);
    }

    #[test]
    fn a_throttled_device_does_not_look_at_the_code() {
        let keys = MfaKeys::derive("secret");
        let now = Utc::now();
        let hash = keys.email_code_hash(1, "123456");
        let mut throttled = device(Some(&hash), Some(now + Duration::minutes(30)));
        throttled.throttling_failure_count = 2;
        throttled.throttling_failure_timestamp = Some(now - Duration::seconds(1));
        assert_eq!(check(&throttled, &hash, now), CodeCheck::Throttled);
        // 2 failures: 2 s after the last one it looks again.
        assert_eq!(
            check(&throttled, &hash, now + Duration::seconds(1)),
            CodeCheck::Matches
        );
    }
}
