//! An SMS authenticator: one-time codes texted to `phone_number`. Only a keyed hash of the
//! pending code is stored (see `mfa::sent_codes`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sms_devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    /// The set-up stage the number was registered with (its gateway sends the codes).
    pub stage_id: Uuid,
    pub name: String,
    /// E.164 (`+15551234567`), or `hash:<sha256 hex>` for a verify-only stage: such a device
    /// proves the number was the person's once, and is never used to sign in.
    pub phone_number: String,
    /// False until the person typed the first code sent to the number.
    pub confirmed: bool,
    pub created: DateTimeUtc,
    pub last_used: Option<DateTimeUtc>,
    /// Hex HMAC-SHA256 of the code last sent; `None` when none is pending (used, or not sent).
    pub token_hash: Option<String>,
    /// When the pending code stops working.
    pub token_expiry: Option<DateTimeUtc>,
    pub throttling_failure_count: i32,
    pub throttling_failure_timestamp: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
