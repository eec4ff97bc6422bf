//! The audit log for administrators: events newest first, filtered by action, user, client IP
//! and time (spec §7). The log is append-only: nothing here changes it.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::{Actor, AdminError};
use crate::store::event;

/// How many events one query answers at most (the newest ones).
pub const MAX_EVENTS: u64 = 1000;

/// Which events to show; `None` leaves a filter out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventQuery {
    /// Exact action, e.g. `login_failed`.
    pub action: Option<String>,
    /// Case-insensitive substring of the username.
    pub username: Option<String>,
    /// Exact client IP.
    pub client_ip: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created at or before.
    pub until: Option<DateTime<Utc>>,
}

/// The newest [`MAX_EVENTS`] events matching `query`, newest first.
pub async fn list(
    db: &DatabaseConnection,
    actor: &Actor,
    query: &EventQuery,
) -> Result<Vec<event::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = event::Entity::find();
    if let Some(action) = &query.action {
        select = select.filter(event::Column::Action.eq(action.as_str()));
    }
    if let Some(name) = &query.username {
        // The account's name; for events without an account (a failed login) the name that
        // was tried, which only the context holds.
        let tried = Expr::expr(Func::lower(
            Expr::col(event::Column::Context).cast_as(Alias::new("text")),
        ))
        .like(super::users::contains_pattern(name));
        select = select.filter(
            Condition::any()
                .add(super::users::search_condition(
                    &[event::Column::Username],
                    name,
                ))
                .add(
                    Condition::all()
                        .add(event::Column::UserId.is_null())
                        .add(tried),
                ),
        );
    }
    if let Some(ip) = &query.client_ip {
        select = select.filter(event::Column::ClientIp.eq(ip.as_str()));
    }
    if let Some(since) = query.since {
        select = select.filter(event::Column::CreatedAt.gte(since));
    }
    if let Some(until) = query.until {
        select = select.filter(event::Column::CreatedAt.lte(until));
    }
    Ok(select
        .order_by_desc(event::Column::CreatedAt)
        .order_by_desc(event::Column::Id)
        .limit(MAX_EVENTS)
        .all(db)
        .await?)
}

/// One event by id.
pub async fn get(
    db: &DatabaseConnection,
    actor: &Actor,
    id: uuid::Uuid,
) -> Result<event::Model, AdminError> {
    actor.ensure_superuser()?;
    event::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}
