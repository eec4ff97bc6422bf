//! A consent given at a `permanent` or `expiring` consent stage (authentik's `UserConsent`),
//! keyed by user, flow and stage (unique together).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "user_consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: i32,
    pub flow_id: Uuid,
    pub stage_id: Uuid,
    /// The permission ids consented to, space-separated.
    pub permissions: String,
    /// `None`: permanent.
    pub expires: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
