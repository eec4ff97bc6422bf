//! Email authenticator devices (spec §4.9, validation's `email` class): the address side.
//! The codes mailed there are [`super::sent_codes`]'.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait, Func},
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};
use uuid::Uuid;

use crate::store::email_device;

/// authentik's name for a new email device.
pub const DEVICE_NAME: &str = "Email Authenticator";

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
}
