//! API tokens (Authorization: Bearer) and app passwords.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub identifier: String,
    /// sha256 of the secret key; the key itself is shown once.
    pub key_hash: String,
    pub user_id: i32,
    /// api, app_password, recovery, verification
    pub intent: String,
    pub expires: Option<DateTimeUtc>,
    pub description: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
