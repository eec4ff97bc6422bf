//! A browser session, anonymous or authenticated. The cookie holds a random token.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// sha256 of the cookie token: a database leak does not yield usable sessions.
    #[sea_orm(unique)]
    pub token_hash: String,
    pub user_id: Option<i32>,
    pub csrf_token: String,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// false: the cookie ends with the browser (no Max-Age); the row still expires.
    pub persistent: bool,
    pub last_ip: String,
    pub user_agent: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
