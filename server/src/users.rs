//! User lookups and changes shared by stages and the admin API.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use sea_orm::{
    sea_query::{Expr, ExprTrait, Func},
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::{group, group_member, user};

/// Which user attribute an identifier is matched against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserField {
    Email,
    Username,
    /// `attributes.upn`
    Upn,
}

/// The first user (by id) whose any of `fields` equals `identifier`.
pub async fn find_by_identifier(
    db: &DatabaseConnection,
    fields: &[UserField],
    identifier: &str,
    case_insensitive: bool,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    if fields.is_empty() {
        return Ok(None);
    }
    let mut any = Condition::any();
    for field in fields {
        any = any.add(match field {
            UserField::Username | UserField::Email => {
                let column = if *field == UserField::Username {
                    user::Column::Username
                } else {
                    user::Column::Email
                };
                if case_insensitive {
                    Expr::expr(Func::lower(Expr::col(column))).eq(identifier.to_lowercase())
                } else {
                    column.eq(identifier)
                }
            }
            UserField::Upn => {
                let json_upn = match db.get_database_backend() {
                    DatabaseBackend::Postgres => "(users.attributes ->> 'upn')",
                    _ => "json_extract(users.attributes, '$.upn')",
                };
                if case_insensitive {
                    Expr::cust(format!("lower({json_upn})")).eq(identifier.to_lowercase())
                } else {
                    Expr::cust(json_upn).eq(identifier)
                }
            }
        });
    }
    user::Entity::find()
        .filter(any)
        .order_by_asc(user::Column::Id)
        .one(db)
        .await
}

/// What is needed to create a user; the password is hashed by the caller.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: String,
    pub is_superuser: bool,
    pub user_type: &'a str,
    pub path: &'a str,
}

pub async fn create(
    db: &DatabaseConnection,
    new: NewUser<'_>,
    now: DateTime<Utc>,
) -> Result<user::Model, sea_orm::DbErr> {
    new_row(new, now).insert(db).await
}

fn new_row(new: NewUser<'_>, now: DateTime<Utc>) -> user::ActiveModel {
    let has_password = !new.password_hash.is_empty();
    user::ActiveModel {
        uuid: Set(Uuid::new_v4()),
        username: Set(new.username.to_owned()),
        email: Set(new.email.to_owned()),
        name: Set(new.name.to_owned()),
        password: Set(new.password_hash),
        is_active: Set(true),
        is_superuser: Set(new.is_superuser),
        attributes: Set(serde_json::json!({})),
        path: Set(new.path.to_owned()),
        user_type: Set(new.user_type.to_owned()),
        last_login: Set(None),
        date_joined: Set(now),
        password_change_date: Set(has_password.then_some(now)),
        ..Default::default()
    }
}

/// Longest username accepted (authentik's, and Django's, limit).
pub const USERNAME_MAX_LEN: usize = 150;
/// Longest email address accepted (RFC 5321's path limit, as Django's `EmailField`).
pub const EMAIL_MAX_LEN: usize = 254;
/// The path new users get when none is given.
pub const DEFAULT_PATH: &str = "users";
/// authentik's user types; the last is reserved for outposts and cannot be set through the API.
pub const USER_TYPES: [&str; 4] = [
    "internal",
    "external",
    "service_account",
    "internal_service_account",
];

/// Why a user path is refused, in authentik's words (`users`, `users/staff` are fine).
pub fn path_problem(path: &str) -> Option<&'static str> {
    if path.starts_with('/') || path.ends_with('/') {
        Some("No leading or trailing slashes allowed.")
    } else if path.split('/').any(str::is_empty) {
        Some("No empty segments in user path allowed.")
    } else {
        None
    }
}

/// What an administrator may set beyond [`NewUser`] when creating an account.
pub struct AccountDetails {
    pub is_active: bool,
    pub attributes: serde_json::Value,
    pub groups: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("a user with that username already exists")]
    UsernameTaken,
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// Creates an account with its group memberships in one transaction. A username taken between
/// the caller's check and the insert is reported as [`CreateError::UsernameTaken`].
pub async fn create_account(
    db: &DatabaseConnection,
    new: NewUser<'_>,
    details: AccountDetails,
    now: DateTime<Utc>,
) -> Result<user::Model, CreateError> {
    let txn = crate::store::begin_write(db).await?;
    let mut row = new_row(new, now);
    row.is_active = Set(details.is_active);
    row.attributes = Set(details.attributes);
    let created = match row.insert(&txn).await {
        Ok(created) => created,
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(CreateError::UsernameTaken)
        }
        Err(error) => return Err(error.into()),
    };
    for group_id in details.groups {
        group_member::ActiveModel {
            group_id: Set(group_id),
            user_id: Set(created.id),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(created)
}

pub async fn find(db: &DatabaseConnection, id: i32) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

/// Deletes an account; its sessions, tokens and memberships go with it (foreign keys cascade).
/// Returns whether it existed.
pub async fn delete(db: &DatabaseConnection, id: i32) -> Result<bool, sea_orm::DbErr> {
    Ok(user::Entity::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// The groups each of `user_ids` is directly a member of, ordered by name.
pub async fn direct_groups(
    db: &impl ConnectionTrait,
    user_ids: &[i32],
) -> Result<HashMap<i32, Vec<group::Model>>, sea_orm::DbErr> {
    let mut by_user: HashMap<i32, Vec<group::Model>> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(by_user);
    }
    let memberships = group_member::Entity::find()
        .filter(group_member::Column::UserId.is_in(user_ids.iter().copied()))
        .all(db)
        .await?;
    let groups: HashMap<Uuid, group::Model> = group::Entity::find()
        .filter(group::Column::Id.is_in(memberships.iter().map(|m| m.group_id)))
        .order_by_asc(group::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    for membership in memberships {
        if let Some(group) = groups.get(&membership.group_id) {
            by_user
                .entry(membership.user_id)
                .or_default()
                .push(group.clone());
        }
    }
    for groups in by_user.values_mut() {
        groups.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(by_user)
}

/// Of `ids`, the ones that are not existing groups.
pub async fn missing_groups(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let found: Vec<Uuid> = group::Entity::find()
        .filter(group::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    Ok(ids
        .iter()
        .filter(|id| !found.contains(id))
        .copied()
        .collect())
}

pub async fn set_password_hash(
    db: &DatabaseConnection,
    user_id: i32,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    user::ActiveModel {
        id: Set(user_id),
        password: Set(password_hash),
        password_change_date: Set(Some(now)),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}
