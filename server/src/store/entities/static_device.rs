//! A set of single-use static (recovery) tokens; the tokens are `static_token` rows.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "static_devices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub user_id: i32,
    pub name: String,
    pub confirmed: bool,
    pub created: DateTimeUtc,
    pub last_used: Option<DateTimeUtc>,
    pub throttling_failure_count: i32,
    pub throttling_failure_timestamp: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
