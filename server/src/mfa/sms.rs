//! SMS authenticator devices (spec §4.8, validation's `sms` class): the phone number side. The
//! codes texted there are [`super::sent_codes`]'.
//!
//! Numbers are kept in E.164 (`+` and 8–15 digits). A verify-only stage replaces the number
//! with `hash:<sha256 hex of the number>` on confirmation: the person proved the number was
//! theirs, keyflow keeps no number, and the device can never be used to sign in; the hash
//! still stops the same number from being registered twice on that stage.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, DbErr,
    EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::sms_device;

/// authentik's name for a new SMS device.
pub const DEVICE_NAME: &str = "SMS Device";
/// The prefix of a verify-only device's stored number.
pub const HASHED_PREFIX: &str = "hash:";

/// The text of a code message (authentik's wording, with the brand's name).
pub fn message_text(brand: &str, code: &str) -> String {
    format!("Use this code to authenticate in {brand}: {code}")
}

/// A typed phone number in E.164: spaces, dots, dashes and brackets are dropped, a leading
/// `00` becomes `+`. `None`: not an international number.
pub fn normalise_number(raw: &str) -> Option<String> {
    let kept: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')' | '\u{a0}'))
        .collect();
    let digits = kept.strip_prefix('+').or_else(|| kept.strip_prefix("00"))?;
    let valid = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then(|| format!("+{digits}"))
}

/// The stored form of a verify-only number.
pub fn hashed_number(number: &str) -> String {
    format!(
        "{HASHED_PREFIX}{}",
        hex::encode(Sha256::digest(number.as_bytes()))
    )
}

pub fn is_hashed(stored: &str) -> bool {
    stored.starts_with(HASHED_PREFIX)
}

/// How a number is shown back: the last two digits only (`+*********67`).
pub fn mask_number(number: &str) -> String {
    if is_hashed(number) {
        return "hidden".to_owned();
    }
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    let shown = digits.len().saturating_sub(2);
    let stars = "*".repeat(shown);
    let tail: String = digits[shown..].iter().collect();
    format!("+{stars}{tail}")
}

/// A new, unconfirmed device of `user_id` for `stage_id` texting `number` (no code yet).
pub async fn create(
    db: &DatabaseConnection,
    user_id: i32,
    stage_id: Uuid,
    number: &str,
    now: DateTime<Utc>,
) -> Result<sms_device::Model, DbErr> {
    sms_device::ActiveModel {
        user_id: Set(user_id),
        stage_id: Set(stage_id),
        name: Set(DEVICE_NAME.to_owned()),
        phone_number: Set(number.to_owned()),
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

/// Points an unconfirmed device at another number; any pending code is dropped.
pub async fn change_number(
    db: &DatabaseConnection,
    device_id: i32,
    number: &str,
) -> Result<(), DbErr> {
    sms_device::Entity::update_many()
        .col_expr(
            sms_device::Column::PhoneNumber,
            Expr::value(number.to_owned()),
        )
        .col_expr(
            sms_device::Column::TokenHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            sms_device::Column::TokenExpiry,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(sms_device::Column::Id.eq(device_id))
        .filter(sms_device::Column::Confirmed.eq(false))
        .exec(db)
        .await?;
    Ok(())
}

/// Confirms a device (storing only the number's hash when `verify_only`) unless another
/// confirmed device of the same stage has the number. `false`: a duplicate, nothing changed.
pub async fn confirm(
    db: &DatabaseConnection,
    device: &sms_device::Model,
    verify_only: bool,
) -> Result<bool, DbErr> {
    if number_taken(db, device.stage_id, &device.phone_number, Some(device.id)).await? {
        return Ok(false);
    }
    let stored = if verify_only {
        hashed_number(&device.phone_number)
    } else {
        device.phone_number.clone()
    };
    sms_device::Entity::update_many()
        .col_expr(sms_device::Column::Confirmed, Expr::value(true))
        .col_expr(sms_device::Column::PhoneNumber, Expr::value(stored))
        .filter(sms_device::Column::Id.eq(device.id))
        .exec(db)
        .await?;
    Ok(true)
}

/// Whether a confirmed device of `stage_id` (other than `except`) has `number`, plain or
/// hashed.
pub async fn number_taken(
    db: &DatabaseConnection,
    stage_id: Uuid,
    number: &str,
    except: Option<i32>,
) -> Result<bool, DbErr> {
    let found = sms_device::Entity::find()
        .filter(sms_device::Column::StageId.eq(stage_id))
        .filter(sms_device::Column::Confirmed.eq(true))
        .filter(sms_device::Column::Id.ne(except.unwrap_or(-1)))
        .filter(
            Condition::any()
                .add(sms_device::Column::PhoneNumber.eq(number))
                .add(sms_device::Column::PhoneNumber.eq(hashed_number(number))),
        )
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The user's confirmed device for `stage_id`, if any.
pub async fn confirmed_for_stage(
    db: &DatabaseConnection,
    user_id: i32,
    stage_id: Uuid,
) -> Result<Option<sms_device::Model>, DbErr> {
    sms_device::Entity::find()
        .filter(sms_device::Column::UserId.eq(user_id))
        .filter(sms_device::Column::StageId.eq(stage_id))
        .filter(sms_device::Column::Confirmed.eq(true))
        .order_by_asc(sms_device::Column::Id)
        .one(db)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        assert_eq!(
            normalise_number(" +1 (555) 123-4567 ").as_deref(),
            Some("+15551234567")
        );
        assert_eq!(
            normalise_number("0049 30 1234567").as_deref(),
            Some("+49301234567")
        );
        assert_eq!(normalise_number("5551234567"), None, "no country code");
        assert_eq!(
            normalise_number("+0551234567"),
            None,
            "country codes start 1-9"
        );
        assert_eq!(normalise_number("+1234567"), None, "too short");
        assert_eq!(normalise_number("+1234567890123456"), None, "too long");
        assert_eq!(normalise_number("+1555CALLNOW"), None);
        assert_eq!(normalise_number(""), None);
    }

    #[test]
    fn verify_only_numbers_are_hashed_and_hidden() {
        let hashed = hashed_number("+15551234567");
        assert!(is_hashed(&hashed));
        assert_eq!(hashed.len(), HASHED_PREFIX.len() + 64);
        assert_ne!(hashed, hashed_number("+15551234568"));
        assert_eq!(mask_number(&hashed), "hidden");
        assert_eq!(mask_number("+15551234567"), "+*********67");
    }

    #[test]
    fn the_message_names_the_brand_and_the_code() {
        assert_eq!(
            message_text("authentik", "012345"),
            "Use this code to authenticate in authentik: 012345"
        );
    }
}
