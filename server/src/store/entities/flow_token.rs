//! A frozen flow plan behind a link (spec §1.5): the email stage's verification link.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub identifier: String,
    /// sha256 (hex) of the key carried by the link.
    #[sea_orm(unique)]
    pub key_hash: String,
    pub user_id: i32,
    pub flow_id: Uuid,
    /// The serialised `engine::FlowPlan` to restore.
    pub plan: Json,
    pub expires: DateTimeUtc,
    /// Delete the token as soon as it restores a plan (email links keep it until consent).
    pub revoke_on_execution: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
