//! A frozen flow plan in progress, stored server-side so any instance can continue it.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_plans")]
pub struct Model {
    /// One running plan per session.
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_id: Uuid,
    pub flow_id: Uuid,
    /// The serialised `engine::FlowPlan` (remaining bindings and context).
    pub plan: Json,
    /// The page query the flow runs with (`next`, `flow_token`, ...), raw.
    pub query: String,
    pub updated_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
