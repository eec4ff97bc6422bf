//! A WebAuthn credential (security key or passkey), written by the WebAuthn stages.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webauthn_devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub confirmed: bool,
    pub created: DateTimeUtc,
    pub last_used: Option<DateTimeUtc>,
    /// base64url credential id.
    #[sea_orm(unique)]
    pub credential_id: String,
    /// The serialized credential (passkey JSON), public key included.
    pub public_key: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub backup_state: bool,
    pub aaguid: String,
    pub rp_id: String,
    /// SHA-256 (hex) of the attestation certificate, when the authenticator sent one.
    pub attestation_certificate_fingerprint: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
