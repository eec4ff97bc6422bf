//! An invitation to an enrollment flow; its id is the token people are sent.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub expires: Option<DateTimeUtc>,
    /// When false, `expires` is ignored.
    pub expiring: bool,
    /// When set, only this flow accepts the invitation.
    pub flow_id: Option<Uuid>,
    /// Deleted after its first use.
    pub single_use: bool,
    /// Merged into `prompt_data` when the invitation is used.
    pub fixed_data: Json,
    pub created_by_id: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
