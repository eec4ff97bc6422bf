//! Administering accounts: the rules behind authentik's `/api/v3/core/users/` (list and search,
//! create, update, delete, set a password), free of HTTP so that the REST handlers and the
//! admin UI call the same functions.
//!
//! Input arrives already typed ([`UserChanges`]: `None` = not given); the rules here are the
//! ones that need no knowledge of JSON: lengths, the email's shape, the path, the user type,
//! unique usernames, existing groups. Violations come back as [`AdminError::Invalid`] with
//! DRF-style messages per field. Deactivating an account (`is_active` to false) ends every
//! session it has, in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use uuid::Uuid;

pub use super::error::{AdminError, FieldErrors};
use crate::auth::password::PasswordHasher;
use crate::engine::fields::MAX_TEXT_LEN;
use crate::store::{group, group_member, session, user};
use crate::users::{self, EMAIL_MAX_LEN, USERNAME_MAX_LEN, USER_TYPES};

/// DRF's message for a primary key that names nothing.
pub fn not_found_pk(pk: &str) -> String {
    format!("Invalid pk \"{pk}\" - object does not exist.")
}

pub const USERNAME_TAKEN: &str = "This field must be unique.";
const REQUIRED: &str = "This field is required.";
const BLANK: &str = "This field may not be blank.";

/// Fields an administrator sets on an account; `None` leaves a field as it is (or at its
/// default on create).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserChanges {
    pub username: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub is_active: Option<bool>,
    pub path: Option<String>,
    /// `internal`, `external`, `service_account` (`internal_service_account` is refused).
    pub user_type: Option<String>,
    /// A JSON object.
    pub attributes: Option<serde_json::Value>,
    /// Direct group memberships; replaces the current set.
    pub groups: Option<Vec<Uuid>>,
}

/// Whether an update replaces the whole account (PUT: required fields must be given) or only
/// the given fields (PATCH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateMode {
    Full,
    Partial,
}

/// An account with its direct groups (by name), as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct UserView {
    pub user: user::Model,
    pub groups: Vec<group::Model>,
    /// authentik's `is_superuser`: the account's own flag, or granted by a group (see
    /// [`super::groups::grants_superuser`]).
    pub is_superuser: bool,
}

/// The account's own superuser flag, or one granted through its groups.
pub async fn effective_superuser(
    db: &impl ConnectionTrait,
    user: &user::Model,
) -> Result<bool, DbErr> {
    Ok(user.is_superuser || super::groups::grants_superuser(db, user.id).await?)
}

/// Which accounts a listing shows, and which page.
#[derive(Clone, Debug, Default)]
pub struct UserQuery {
    /// Case-insensitive substring of the username, name or email.
    pub search: Option<String>,
    /// Exact username.
    pub username: Option<String>,
    pub is_active: Option<bool>,
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
}

fn plausible_email(email: &str) -> bool {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn check_len(errors: &mut FieldErrors, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        errors.add(
            field,
            format!("Ensure this field has no more than {max} characters."),
        );
    }
}

/// The field rules that need no database; `creating`/`Full` mode require username and name.
fn check_fields(changes: &UserChanges, require: bool) -> FieldErrors {
    let mut errors = FieldErrors::default();
    match &changes.username {
        None if require => errors.add("username", REQUIRED),
        Some(username) if username.trim().is_empty() => errors.add("username", BLANK),
        Some(username) => check_len(&mut errors, "username", username, USERNAME_MAX_LEN),
        None => {}
    }
    match &changes.name {
        None if require => errors.add("name", REQUIRED),
        Some(name) => check_len(&mut errors, "name", name, MAX_TEXT_LEN),
        None => {}
    }
    if let Some(email) = &changes.email {
        check_len(&mut errors, "email", email, EMAIL_MAX_LEN);
        if !email.is_empty() && !plausible_email(email) {
            errors.add("email", "Enter a valid email address.");
        }
    }
    if let Some(path) = &changes.path {
        if let Some(problem) = users::path_problem(path) {
            errors.add("path", problem);
        }
    }
    if let Some(user_type) = &changes.user_type {
        if !USER_TYPES.contains(&user_type.as_str()) {
            errors.add("type", format!("\"{user_type}\" is not a valid choice."));
        } else if user_type == "internal_service_account" {
            errors.add(
                "type",
                "Setting a user to internal service account is not allowed.",
            );
        }
    }
    if let Some(attributes) = &changes.attributes {
        if !attributes.is_object() {
            errors.add(
                "attributes",
                "Value must be a dictionary, and not have any duplicate keys.",
            );
        }
    }
    errors
}

/// All field rules, including the unique username (other than `except`'s own) and existing
/// groups; `require`: username and name must be given (create, full update).
pub async fn validate(
    db: &impl ConnectionTrait,
    changes: &UserChanges,
    require: bool,
    except: Option<i32>,
) -> Result<(), AdminError> {
    let mut errors = check_fields(changes, require);
    if let Some(username) = &changes.username {
        let mut taken = user::Entity::find().filter(user::Column::Username.eq(username.as_str()));
        if let Some(id) = except {
            taken = taken.filter(user::Column::Id.ne(id));
        }
        if taken.count(db).await? > 0 {
            errors.add("username", USERNAME_TAKEN);
        }
    }
    if let Some(groups) = &changes.groups {
        let found = group::Entity::find()
            .filter(group::Column::Id.is_in(groups.iter().copied()))
            .count(db)
            .await?;
        if found as usize != groups.len() {
            for missing in users::missing_groups(db, groups).await? {
                errors.add("groups", not_found_pk(&missing.to_string()));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AdminError::Invalid(errors))
    }
}

fn unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

async fn set_groups(db: &impl ConnectionTrait, user_id: i32, groups: &[Uuid]) -> Result<(), DbErr> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    for group_id in groups.iter().filter(|id| seen.insert(**id)) {
        group_member::ActiveModel {
            group_id: Set(*group_id),
            user_id: Set(user_id),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

async fn view(db: &impl ConnectionTrait, user: user::Model) -> Result<UserView, DbErr> {
    let mut groups = users::direct_groups(db, &[user.id]).await?;
    let groups = groups.remove(&user.id).unwrap_or_default();
    let is_superuser = effective_superuser(db, &user).await?;
    Ok(UserView {
        user,
        groups,
        is_superuser,
    })
}

/// `term` for a `LIKE` that matches it literally anywhere (`%`, `_` and `\` escaped).
pub(crate) fn contains_pattern(term: &str) -> LikeExpr {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    LikeExpr::new(escaped).escape('\\')
}

/// A case-insensitive "contains" over `columns` (LOWER(col) LIKE '%term%').
pub(crate) fn search_condition<C: ColumnTrait>(columns: &[C], term: &str) -> Condition {
    columns.iter().fold(Condition::any(), |any, column| {
        any.add(Expr::expr(Func::lower(Expr::col(*column))).like(contains_pattern(term)))
    })
}

/// One page of accounts ordered by username, and how many match in all.
pub async fn list(
    db: &DatabaseConnection,
    query: &UserQuery,
) -> Result<(Vec<UserView>, u64), DbErr> {
    let mut select = user::Entity::find();
    if let Some(username) = &query.username {
        select = select.filter(user::Column::Username.eq(username.as_str()));
    }
    if let Some(active) = query.is_active {
        select = select.filter(user::Column::IsActive.eq(active));
    }
    if let Some(term) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        select = select.filter(search_condition(
            &[
                user::Column::Username,
                user::Column::Name,
                user::Column::Email,
            ],
            term,
        ));
    }
    let paginator = select
        .order_by_asc(user::Column::Username)
        .order_by_asc(user::Column::Id)
        .paginate(db, std::cmp::max(query.page_size, 1));
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(query.page.saturating_sub(1)).await?;
    let ids: Vec<i32> = rows.iter().map(|u| u.id).collect();
    let mut groups = users::direct_groups(db, &ids).await?;
    let mut views = Vec::with_capacity(rows.len());
    for user in rows {
        views.push(UserView {
            groups: groups.remove(&user.id).unwrap_or_default(),
            is_superuser: effective_superuser(db, &user).await?,
            user,
        });
    }
    Ok((views, total))
}

pub async fn get(db: &DatabaseConnection, pk: i32) -> Result<UserView, AdminError> {
    let user = users::find(db, pk).await?.ok_or(AdminError::NotFound)?;
    Ok(view(db, user).await?)
}

/// Creates an account (without a password: see [`set_password`]). `username` and `name` are
/// required; `is_active` defaults to true, `path` to `users`, `type` to `internal`.
pub async fn create(
    db: &DatabaseConnection,
    changes: UserChanges,
    now: DateTime<Utc>,
) -> Result<UserView, AdminError> {
    validate(db, &changes, true, None).await?;
    let (Some(username), Some(name)) = (changes.username.as_deref(), changes.name.as_deref())
    else {
        return Err(AdminError::field("username", REQUIRED));
    };
    let created = users::create_account(
        db,
        users::NewUser {
            username: username.trim(),
            email: changes.email.as_deref().unwrap_or_default(),
            name,
            password_hash: String::new(),
            is_superuser: false,
            user_type: changes.user_type.as_deref().unwrap_or("internal"),
            path: changes.path.as_deref().unwrap_or(users::DEFAULT_PATH),
        },
        users::AccountDetails {
            is_active: changes.is_active.unwrap_or(true),
            attributes: changes
                .attributes
                .clone()
                .unwrap_or_else(|| serde_json::json!({})),
            groups: changes.groups.clone().unwrap_or_default(),
        },
        now,
    )
    .await;
    match created {
        Ok(created) => Ok(view(db, created).await?),
        Err(users::CreateError::UsernameTaken) => {
            Err(AdminError::field("username", USERNAME_TAKEN))
        }
        Err(users::CreateError::Database(error)) => Err(error.into()),
    }
}

/// What an update did beyond the row itself.
#[derive(Clone, Debug, PartialEq)]
pub struct Updated {
    pub view: UserView,
    /// The account was deactivated by this update; this many of its sessions ended.
    pub sessions_ended: Option<u64>,
}

/// Updates an account in one transaction. Setting `is_active` from true to false ends every
/// session of the account (its API tokens stop working too: they need an active user).
pub async fn update(
    db: &DatabaseConnection,
    pk: i32,
    changes: UserChanges,
    mode: UpdateMode,
) -> Result<Updated, AdminError> {
    let current = users::find(db, pk).await?.ok_or(AdminError::NotFound)?;
    validate(db, &changes, mode == UpdateMode::Full, Some(pk)).await?;
    let txn = crate::store::begin_write(db).await?;
    let mut row: user::ActiveModel = current.clone().into();
    if let Some(username) = &changes.username {
        row.username = Set(username.trim().to_owned());
    }
    if let Some(name) = &changes.name {
        row.name = Set(name.clone());
    }
    if let Some(email) = &changes.email {
        row.email = Set(email.clone());
    }
    if let Some(active) = changes.is_active {
        row.is_active = Set(active);
    }
    if let Some(path) = &changes.path {
        row.path = Set(path.clone());
    }
    if let Some(user_type) = &changes.user_type {
        row.user_type = Set(user_type.clone());
    }
    if let Some(attributes) = &changes.attributes {
        row.attributes = Set(attributes.clone());
    }
    let updated = match row.update(&txn).await {
        Ok(updated) => updated,
        Err(error) if unique_violation(&error) => {
            return Err(AdminError::field("username", USERNAME_TAKEN))
        }
        Err(error) => return Err(error.into()),
    };
    if let Some(groups) = &changes.groups {
        set_groups(&txn, pk, groups).await?;
    }
    let sessions_ended = if current.is_active && !updated.is_active {
        let ended = session::Entity::delete_many()
            .filter(session::Column::UserId.eq(pk))
            .exec(&txn)
            .await?;
        Some(ended.rows_affected)
    } else {
        None
    };
    let view = view(&txn, updated).await?;
    txn.commit().await?;
    Ok(Updated {
        view,
        sessions_ended,
    })
}

/// Deletes an account; its sessions, tokens, devices and memberships go with it (foreign keys
/// cascade). Returns the deleted row.
pub async fn delete(db: &DatabaseConnection, pk: i32) -> Result<user::Model, AdminError> {
    let account = users::find(db, pk).await?.ok_or(AdminError::NotFound)?;
    if !users::delete(db, account.id).await? {
        return Err(AdminError::NotFound);
    }
    Ok(account)
}

/// Sets a new password (hashed here) and, as Django does, ends the account's other sessions:
/// every one but `keep` (the administrator's own session when they changed their own
/// password). Returns the account.
pub async fn set_password(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    pk: i32,
    password: String,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<user::Model, AdminError> {
    let account = users::find(db, pk).await?.ok_or(AdminError::NotFound)?;
    if password.is_empty() {
        return Err(AdminError::field("password", BLANK));
    }
    let hash = hasher.hash(password).await.map_err(AdminError::Password)?;
    users::set_password_hash(db, account.id, hash, now).await?;
    crate::sessions::delete_other_sessions(db, account.id, keep.unwrap_or_else(Uuid::nil)).await?;
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(username: &str, name: &str) -> UserChanges {
        UserChanges {
            username: Some(username.into()),
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn username_and_name_are_required_only_when_creating_or_replacing() {
        let empty = UserChanges::default();
        let errors = check_fields(&empty, true);
        assert_eq!(errors.0["username"], [REQUIRED]);
        assert_eq!(errors.0["name"], [REQUIRED]);
        assert!(check_fields(&empty, false).is_empty());
        assert!(check_fields(&changes("alice", ""), true).is_empty());
        assert_eq!(
            check_fields(&changes("  ", "A"), false).0["username"],
            [BLANK]
        );
    }

    #[test]
    fn field_rules() {
        let mut bad = changes(&"x".repeat(USERNAME_MAX_LEN + 1), "A");
        bad.email = Some("not-an-address".into());
        bad.user_type = Some("internal_service_account".into());
        bad.attributes = Some(serde_json::json!([1]));
        let errors = check_fields(&bad, true);
        assert_eq!(
            errors.0["username"],
            ["Ensure this field has no more than 150 characters."]
        );
        assert_eq!(errors.0["email"], ["Enter a valid email address."]);
        assert_eq!(
            errors.0["type"],
            ["Setting a user to internal service account is not allowed."]
        );
        assert!(errors.0.contains_key("attributes"));
        let mut good = changes("alice", "Alice");
        good.email = Some(String::new());
        good.user_type = Some("external".into());
        assert!(check_fields(&good, true).is_empty());
    }

    #[test]
    fn search_terms_match_literally() {
        let pattern = contains_pattern("A_b%");
        assert_eq!(
            format!("{pattern:?}"),
            format!("{:?}", LikeExpr::new("%a\\_b\\%%").escape('\\'))
        );
    }
}
