//! Places a stage in a flow at an order. Its id is also a policy-binding target.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_stage_bindings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub flow_id: Uuid,
    pub stage_id: Uuid,
    pub order: i32,
    pub evaluate_on_plan: bool,
    pub re_evaluate_policies: bool,
    /// retry, restart, restart_with_context
    pub invalid_response_action: String,
    pub policy_engine_mode: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
