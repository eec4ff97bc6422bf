//! A person (or service account) that flows authenticate, enroll or change.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub uuid: Uuid,
    #[sea_orm(unique)]
    pub username: String,
    pub email: String,
    pub name: String,
    /// argon2id in PHC string form; empty means "no usable password".
    pub password: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub attributes: Json,
    pub path: String,
    /// internal, external, service_account, internal_service_account
    pub user_type: String,
    pub last_login: Option<DateTimeUtc>,
    pub date_joined: DateTimeUtc,
    pub password_change_date: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
