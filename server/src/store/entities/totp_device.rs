//! A TOTP authenticator (RFC 6238). The key is stored encrypted (see `mfa::crypto`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    /// False while the user has not yet entered a first code.
    pub confirmed: bool,
    pub created: DateTimeUtc,
    pub last_used: Option<DateTimeUtc>,
    /// Encrypted key, never the key itself.
    pub secret: String,
    pub digits: i32,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Seconds per time step.
    pub period: i32,
    /// The last time step a code was accepted for (-1: none yet).
    pub last_t: i64,
    pub throttling_failure_count: i32,
    pub throttling_failure_timestamp: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
