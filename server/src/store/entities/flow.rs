//! A flow: an ordered list of stage bindings. Its id is also its policy-binding target.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flows")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub slug: String,
    pub name: String,
    pub title: String,
    pub designation: String,
    /// none, require_authenticated, require_unauthenticated, require_superuser, ...
    pub authentication: String,
    pub policy_engine_mode: String,
    pub layout: String,
    pub denied_action: String,
    pub background: String,
    pub compatibility_mode: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
