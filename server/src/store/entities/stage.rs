//! A configured stage of some kind; the typed configuration lives in `config`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique across all stage kinds, as in authentik.
    #[sea_orm(unique)]
    pub name: String,
    /// The stage kind (`identification`, `password`, ...), see `stages::StageKind`.
    pub kind: String,
    /// The kind-specific configuration, deserialised into that kind's typed struct.
    pub config: Json,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
