//! Binds a policy, a group or a user to a target (flow or stage binding).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "policy_bindings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// A flow id or a flow-stage binding id (any policy-binding target).
    pub target_id: Uuid,
    /// Exactly one of policy, group, user is set.
    pub policy_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub user_id: Option<i32>,
    pub negate: bool,
    pub enabled: bool,
    pub order: i32,
    /// Seconds the policy may run.
    pub timeout: i32,
    /// The result used when the policy fails to evaluate.
    pub failure_result: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
