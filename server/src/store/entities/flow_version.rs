//! One saved version of a flow: its blueprint export after a change (issue #14 "Versions").
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "flow_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub flow_id: Uuid,
    /// 1, 2, 3, … per flow.
    pub number: i32,
    /// The flow as blueprint YAML (`blueprints::export_flow`).
    #[sea_orm(column_type = "Text")]
    pub snapshot: String,
    pub author_id: Option<i32>,
    /// The author's username when it was saved (`keyflow` for changes keyflow made itself).
    pub author_name: String,
    pub summary: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
