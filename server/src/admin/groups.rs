//! Administering groups: the rules behind authentik's `/api/v3/core/groups/` (list and search,
//! create, update, delete), free of HTTP like [`super::users`].
//!
//! A keyflow group has at most one parent (authentik's API lists `parents`; keyflow accepts
//! zero or one). A group can be neither its own parent nor an ancestor of its parent: the
//! chain must stay a tree, since membership checks walk it upwards. Members (`users`) are
//! replaced as a whole when given. Deleting a group leaves its children without a parent
//! (authentik's `SET_NULL`) and drops its memberships.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde_json::json;
use uuid::Uuid;

use super::users::{not_found_pk, search_condition, AdminError, FieldErrors, UpdateMode};
use crate::store::{group, group_member, user};

/// authentik's limit on group names.
pub const NAME_MAX_LEN: usize = 80;
pub const NAME_TAKEN: &str = "group with this name already exists.";
pub const OWN_PARENT: &str = "A group cannot be its own parent or the parent of an ancestor.";
pub const ONE_PARENT: &str = "keyflow groups have at most one parent.";

/// Fields an administrator sets on a group; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupChanges {
    pub name: Option<String>,
    pub is_superuser: Option<bool>,
    /// `Some(None)` removes the parent.
    pub parent: Option<Option<Uuid>>,
    /// Member user pks; replaces the current members.
    pub users: Option<Vec<i32>>,
    /// A JSON object.
    pub attributes: Option<serde_json::Value>,
}

/// A group with what the API shows beside it.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupView {
    pub group: group::Model,
    pub parent: Option<group::Model>,
    /// Direct children, by name.
    pub children: Vec<group::Model>,
    /// Direct members, by username.
    pub members: Vec<user::Model>,
}

/// Which groups a listing shows, and which page.
#[derive(Clone, Debug, Default)]
pub struct GroupQuery {
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    pub is_superuser: Option<bool>,
    /// Only groups with this user as a direct member.
    pub member: Option<i32>,
    /// 1-based.
    pub page: u64,
    pub page_size: u64,
}

fn check_fields(changes: &GroupChanges, require: bool) -> FieldErrors {
    let mut errors = FieldErrors::default();
    match &changes.name {
        None if require => errors.add("name", "This field is required."),
        Some(name) if name.trim().is_empty() => errors.add("name", "This field may not be blank."),
        Some(name) if name.chars().count() > NAME_MAX_LEN => errors.add(
            "name",
            format!("Ensure this field has no more than {NAME_MAX_LEN} characters."),
        ),
        _ => {}
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

/// Whether making `parent` the parent of `group` would close a loop: walks up from `parent`.
async fn would_loop(db: &impl ConnectionTrait, group: Uuid, parent: Uuid) -> Result<bool, DbErr> {
    let mut seen = BTreeSet::new();
    let mut at = Some(parent);
    while let Some(id) = at {
        if id == group {
            return Ok(true);
        }
        if !seen.insert(id) {
            // An existing loop (not made through this module); refuse to add to it.
            return Ok(true);
        }
        at = group::Entity::find_by_id(id)
            .one(db)
            .await?
            .and_then(|g| g.parent_id);
    }
    Ok(false)
}

async fn validate(
    db: &impl ConnectionTrait,
    changes: &GroupChanges,
    require: bool,
    this: Option<Uuid>,
) -> Result<(), AdminError> {
    let mut errors = check_fields(changes, require);
    if let Some(name) = &changes.name {
        let mut taken = group::Entity::find().filter(group::Column::Name.eq(name.trim()));
        if let Some(id) = this {
            taken = taken.filter(group::Column::Id.ne(id));
        }
        if taken.count(db).await? > 0 {
            errors.add("name", NAME_TAKEN);
        }
    }
    if let Some(Some(parent)) = changes.parent {
        if group::Entity::find_by_id(parent).one(db).await?.is_none() {
            errors.add("parents", not_found_pk(&parent.to_string()));
        } else if let Some(this) = this {
            if would_loop(db, this, parent).await? {
                errors.add("parents", OWN_PARENT);
            }
        }
    }
    if let Some(members) = &changes.users {
        let wanted: BTreeSet<i32> = members.iter().copied().collect();
        let found: BTreeSet<i32> = user::Entity::find()
            .filter(user::Column::Id.is_in(wanted.iter().copied()))
            .all(db)
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        for missing in wanted.difference(&found) {
            errors.add("users", not_found_pk(&missing.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AdminError::Invalid(errors))
    }
}

async fn set_members(
    db: &impl ConnectionTrait,
    group_id: Uuid,
    users: &[i32],
) -> Result<(), DbErr> {
    group_member::Entity::delete_many()
        .filter(group_member::Column::GroupId.eq(group_id))
        .exec(db)
        .await?;
    let unique: BTreeSet<i32> = users.iter().copied().collect();
    for user_id in unique {
        group_member::ActiveModel {
            group_id: Set(group_id),
            user_id: Set(user_id),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Parents, children and members of each of `groups`.
async fn views(
    db: &impl ConnectionTrait,
    groups: Vec<group::Model>,
) -> Result<Vec<GroupView>, DbErr> {
    let ids: Vec<Uuid> = groups.iter().map(|g| g.id).collect();
    let parent_ids: Vec<Uuid> = groups.iter().filter_map(|g| g.parent_id).collect();
    let parents: HashMap<Uuid, group::Model> = group::Entity::find()
        .filter(group::Column::Id.is_in(parent_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    let mut children: HashMap<Uuid, Vec<group::Model>> = HashMap::new();
    for child in group::Entity::find()
        .filter(group::Column::ParentId.is_in(ids.iter().copied()))
        .order_by_asc(group::Column::Name)
        .all(db)
        .await?
    {
        if let Some(parent) = child.parent_id {
            children.entry(parent).or_default().push(child);
        }
    }
    let memberships = group_member::Entity::find()
        .filter(group_member::Column::GroupId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    let people: HashMap<i32, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(memberships.iter().map(|m| m.user_id)))
        .all(db)
        .await?
        .into_iter()
        .map(|u| (u.id, u))
        .collect();
    let mut members: HashMap<Uuid, Vec<user::Model>> = HashMap::new();
    for membership in memberships {
        if let Some(person) = people.get(&membership.user_id) {
            members
                .entry(membership.group_id)
                .or_default()
                .push(person.clone());
        }
    }
    Ok(groups
        .into_iter()
        .map(|group| {
            let mut members = members.remove(&group.id).unwrap_or_default();
            members.sort_by(|a, b| a.username.cmp(&b.username));
            GroupView {
                parent: group.parent_id.and_then(|p| parents.get(&p).cloned()),
                children: children.remove(&group.id).unwrap_or_default(),
                members,
                group,
            }
        })
        .collect())
}

async fn view(db: &impl ConnectionTrait, group: group::Model) -> Result<GroupView, AdminError> {
    views(db, vec![group])
        .await?
        .pop()
        .ok_or(AdminError::NotFound)
}

/// One page of groups ordered by name, and how many match in all.
pub async fn list(
    db: &DatabaseConnection,
    query: &GroupQuery,
) -> Result<(Vec<GroupView>, u64), DbErr> {
    let mut select = group::Entity::find();
    if let Some(name) = &query.name {
        select = select.filter(group::Column::Name.eq(name.as_str()));
    }
    if let Some(flag) = query.is_superuser {
        select = select.filter(group::Column::IsSuperuser.eq(flag));
    }
    if let Some(member) = query.member {
        let ids: Vec<Uuid> = group_member::Entity::find()
            .filter(group_member::Column::UserId.eq(member))
            .all(db)
            .await?
            .into_iter()
            .map(|m| m.group_id)
            .collect();
        select = select.filter(group::Column::Id.is_in(ids));
    }
    if let Some(term) = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        select = select.filter(search_condition(&[group::Column::Name], term));
    }
    let paginator = select
        .order_by_asc(group::Column::Name)
        .paginate(db, std::cmp::max(query.page_size, 1));
    let total = paginator.num_items().await?;
    let rows = paginator.fetch_page(query.page.saturating_sub(1)).await?;
    Ok((views(db, rows).await?, total))
}

pub async fn get(db: &DatabaseConnection, pk: Uuid) -> Result<GroupView, AdminError> {
    let group = group::Entity::find_by_id(pk)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    view(db, group).await
}

/// Whether `user_id` is a superuser through its groups: a group it belongs to, or any ancestor
/// of one, has `is_superuser` (authentik's `User.is_superuser`: "Users added to this group will
/// be superusers"; members of a child group count as members of its parents).
pub async fn grants_superuser(db: &impl ConnectionTrait, user_id: i32) -> Result<bool, DbErr> {
    let mut frontier: Vec<Uuid> = group_member::Entity::find()
        .filter(group_member::Column::UserId.eq(user_id))
        .all(db)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(id) = frontier.pop() {
        if !seen.insert(id) {
            continue;
        }
        if let Some(group) = group::Entity::find_by_id(id).one(db).await? {
            if group.is_superuser {
                return Ok(true);
            }
            frontier.extend(group.parent_id);
        }
    }
    Ok(false)
}

fn name_taken(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Creates a group (`name` required) with its members, in one transaction.
pub async fn create(
    db: &DatabaseConnection,
    changes: GroupChanges,
) -> Result<GroupView, AdminError> {
    validate(db, &changes, true, None).await?;
    let name = changes.name.as_deref().map(str::trim).unwrap_or_default();
    let txn = crate::store::begin_write(db).await?;
    let row = group::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.to_owned()),
        is_superuser: Set(changes.is_superuser.unwrap_or(false)),
        parent_id: Set(changes.parent.flatten()),
        attributes: Set(changes.attributes.clone().unwrap_or_else(|| json!({}))),
    };
    let created = match row.insert(&txn).await {
        Ok(created) => created,
        Err(error) if name_taken(&error) => return Err(AdminError::field("name", NAME_TAKEN)),
        Err(error) => return Err(error.into()),
    };
    if let Some(users) = &changes.users {
        set_members(&txn, created.id, users).await?;
    }
    let view = view(&txn, created).await?;
    txn.commit().await?;
    Ok(view)
}

/// Updates a group in one transaction (`Full`: `name` is required).
pub async fn update(
    db: &DatabaseConnection,
    pk: Uuid,
    changes: GroupChanges,
    mode: UpdateMode,
) -> Result<GroupView, AdminError> {
    let current = group::Entity::find_by_id(pk)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    validate(db, &changes, mode == UpdateMode::Full, Some(pk)).await?;
    let txn = crate::store::begin_write(db).await?;
    let mut row: group::ActiveModel = current.into();
    if let Some(name) = &changes.name {
        row.name = Set(name.trim().to_owned());
    }
    if let Some(flag) = changes.is_superuser {
        row.is_superuser = Set(flag);
    }
    if let Some(parent) = changes.parent {
        row.parent_id = Set(parent);
    }
    if let Some(attributes) = &changes.attributes {
        row.attributes = Set(attributes.clone());
    }
    let updated = match row.update(&txn).await {
        Ok(updated) => updated,
        Err(error) if name_taken(&error) => return Err(AdminError::field("name", NAME_TAKEN)),
        Err(error) => return Err(error.into()),
    };
    if let Some(users) = &changes.users {
        set_members(&txn, pk, users).await?;
    }
    let view = view(&txn, updated).await?;
    txn.commit().await?;
    Ok(view)
}

/// Deletes a group: its children lose their parent, its memberships and policy bindings to it
/// go. Returns the deleted row.
pub async fn delete(db: &DatabaseConnection, pk: Uuid) -> Result<group::Model, AdminError> {
    let txn = crate::store::begin_write(db).await?;
    let group = group::Entity::find_by_id(pk)
        .one(&txn)
        .await?
        .ok_or(AdminError::NotFound)?;
    group::Entity::update_many()
        .col_expr(
            group::Column::ParentId,
            sea_orm::sea_query::Expr::value(Option::<Uuid>::None),
        )
        .filter(group::Column::ParentId.eq(pk))
        .exec(&txn)
        .await?;
    group::Entity::delete_by_id(pk).exec(&txn).await?;
    txn.commit().await?;
    Ok(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_required_short_and_not_blank() {
        assert_eq!(
            check_fields(&GroupChanges::default(), true).0["name"],
            ["This field is required."]
        );
        assert!(check_fields(&GroupChanges::default(), false).is_empty());
        let blank = GroupChanges {
            name: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(
            check_fields(&blank, false).0["name"],
            ["This field may not be blank."]
        );
        let long = GroupChanges {
            name: Some("g".repeat(NAME_MAX_LEN + 1)),
            attributes: Some(json!("text")),
            ..Default::default()
        };
        let errors = check_fields(&long, false);
        assert!(errors.0.contains_key("name"));
        assert!(errors.0.contains_key("attributes"));
    }
}
