//! `/api/v3/core/groups/…` in authentik's shape (superusers only; a session also needs the
//! CSRF token for changes): list (`search`, `name`, `is_superuser`, `members_by_pk`), create,
//! retrieve, PUT, PATCH, delete. The rules live in [`crate::admin::groups`]; this module only
//! reads JSON into typed changes and renders authentik's `Group`.

use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    resource::{Body, Cx, ListQuery, Resource},
    users::{
        api_time, attributes_field, bool_field, bool_param, not_a_dictionary, not_found_pk, num_pk,
        text_field, FieldErrors,
    },
};
use crate::admin::groups::{self as admin_groups, GroupChanges, GroupQuery, GroupView, ONE_PARENT};
use crate::admin::users::UpdateMode;
use crate::admin::AdminError;
use crate::events::action;
use crate::store::{group, user};

/// authentik's `RelatedGroup` (parents and children).
fn related_group(group: &group::Model) -> Value {
    json!({
        "pk": group.id,
        "name": group.name,
        "is_superuser": group.is_superuser,
        "attributes": group.attributes,
        "group_uuid": group.id,
    })
}

/// authentik's `PartialUser` (members).
fn partial_user(user: &user::Model) -> Value {
    json!({
        "pk": user.id,
        "username": user.username,
        "name": user.name,
        "is_active": user.is_active,
        "last_login": user.last_login.map(api_time),
        "email": user.email,
        "attributes": user.attributes,
        "uid": user.uuid.simple().to_string(),
    })
}

/// authentik's `Group`. keyflow has no roles: the role lists are empty.
pub fn group_json(view: &GroupView) -> Value {
    let group = &view.group;
    json!({
        "pk": group.id,
        "num_pk": num_pk(group.id),
        "name": group.name,
        "is_superuser": group.is_superuser,
        "parents": view.parent.iter().map(|p| p.id).collect::<Vec<_>>(),
        "parents_obj": view.parent.iter().map(related_group).collect::<Vec<_>>(),
        "users": view.members.iter().map(|u| u.id).collect::<Vec<_>>(),
        "users_obj": view.members.iter().map(partial_user).collect::<Vec<_>>(),
        "attributes": group.attributes,
        "roles": [],
        "roles_obj": [],
        "inherited_roles_obj": [],
        "children": view.children.iter().map(|c| c.id).collect::<Vec<_>>(),
        "children_obj": view.children.iter().map(related_group).collect::<Vec<_>>(),
    })
}

/// A list of UUID primary keys (`parents`), each unparsable one reported.
fn uuid_list(body: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Vec<Uuid> {
    let items = match body.get(key) {
        None | Some(Value::Null) => return vec![],
        Some(Value::Array(items)) => items,
        Some(other) => {
            let kind = if other.is_object() { "dict" } else { "str" };
            errors.add(
                key,
                format!("Expected a list of items but got type \"{kind}\"."),
            );
            return vec![];
        }
    };
    let mut ids = Vec::new();
    for item in items {
        match item.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) => ids.push(id),
            None => {
                let shown = item
                    .as_str()
                    .map_or_else(|| item.to_string(), str::to_owned);
                errors.add(key, format!("“{shown}” is not a valid UUID."));
            }
        }
    }
    ids
}

/// Reads a group body (authentik's `GroupRequest`; the older single `parent` is accepted too)
/// into typed changes.
fn group_changes(body: &Value) -> Result<GroupChanges, FieldErrors> {
    let Value::Object(body) = body else {
        return Err(not_a_dictionary(body));
    };
    let mut errors = FieldErrors::default();
    let name = text_field(body, "name", false, true, true, usize::MAX, &mut errors);
    let is_superuser = bool_field(body, "is_superuser", &mut errors);
    let attributes = attributes_field(body, &mut errors);
    let parent = if body.contains_key("parents") {
        let parents = uuid_list(body, "parents", &mut errors);
        if parents.len() > 1 {
            errors.add("parents", ONE_PARENT);
        }
        Some(parents.first().copied())
    } else {
        match body.get("parent") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => match Uuid::parse_str(s) {
                Ok(id) => Some(Some(id)),
                Err(_) => {
                    errors.add("parent", format!("“{s}” is not a valid UUID."));
                    None
                }
            },
            Some(other) => {
                errors.add("parent", format!("“{other}” is not a valid UUID."));
                None
            }
        }
    };
    let users = match body.get("users") {
        None => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for item in items {
                // DRF takes a pk as a number or as its text ("5").
                let pk = item
                    .as_i64()
                    .or_else(|| item.as_str().and_then(|t| t.trim().parse().ok()));
                match pk.and_then(|n| i32::try_from(n).ok()) {
                    Some(id) => ids.push(id),
                    None => errors.add(
                        "users",
                        format!(
                            "Incorrect type. Expected pk value, received {}.",
                            kind(item)
                        ),
                    ),
                }
            }
            Some(ids)
        }
        Some(other) => {
            errors.add(
                "users",
                format!("Expected a list of items but got type \"{}\".", kind(other)),
            );
            None
        }
    };
    if let Some(Value::Array(roles)) = body.get("roles") {
        for role in roles {
            let shown = role
                .as_str()
                .map_or_else(|| role.to_string(), str::to_owned);
            errors.add("roles", not_found_pk(&shown));
        }
    }
    if !errors.0.is_empty() {
        return Err(errors);
    }
    Ok(GroupChanges {
        name,
        is_superuser,
        parent,
        users,
        attributes,
    })
}

/// Python's name for a JSON value's type, as DRF puts it in messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn parse_pk(pk: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(pk).map_err(|_| AdminError::NotFound)
}

fn model_context(group: &group::Model) -> Value {
    json!({"model": {
        "app": "authentik_core",
        "model_name": "group",
        "pk": group.id,
        "name": group.name,
    }})
}

/// `core/groups`: groups in authentik's `Group` shape. List filters: `search`, `name`,
/// `is_superuser`, `members_by_pk`. keyflow keeps one parent per group (`parents` with one
/// entry, or `parent`); deleting a group leaves its children without a parent.
pub struct GroupsResource;

#[async_trait::async_trait]
impl Resource for GroupsResource {
    fn collection(&self) -> String {
        "core/groups".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        cx.actor.ensure_superuser()?;
        let query = GroupQuery {
            search: query.get("search").cloned(),
            name: query.get("name").cloned(),
            is_superuser: bool_param(query, "is_superuser"),
            member: query
                .get("members_by_pk")
                .and_then(|v| v.trim().parse().ok()),
            page: 1,
            page_size: i32::MAX as u64,
        };
        let (rows, _) = admin_groups::list(&cx.state.services.db, &query).await?;
        Ok(rows.iter().map(group_json).collect())
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let view = admin_groups::get(&cx.state.services.db, parse_pk(id)?).await?;
        Ok(group_json(&view))
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let changes = group_changes(&Value::Object(body)).map_err(AdminError::Invalid)?;
        let created = admin_groups::create(&cx.state.services.db, changes).await?;
        let context = model_context(&created.group);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_CREATED,
            context,
        )
        .await?;
        Ok(group_json(&created))
    }

    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let pk = parse_pk(id)?;
        // A missing group is a 404 before any complaint about the body.
        admin_groups::get(&cx.state.services.db, pk).await?;
        let changes = group_changes(&Value::Object(body)).map_err(AdminError::Invalid)?;
        let mode = if partial {
            UpdateMode::Partial
        } else {
            UpdateMode::Full
        };
        let updated = admin_groups::update(&cx.state.services.db, pk, changes, mode).await?;
        let context = model_context(&updated.group);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_UPDATED,
            context,
        )
        .await?;
        Ok(group_json(&updated))
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        cx.actor.ensure_superuser()?;
        let deleted = admin_groups::delete(&cx.state.services.db, parse_pk(id)?).await?;
        let context = model_context(&deleted);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_DELETED,
            context,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_changes_or_drf_errors() {
        let parent = Uuid::new_v4();
        let changes = group_changes(&json!({
            "name": " admins ",
            "parents": [parent.to_string()],
            "users": [1, 2],
            "attributes": {"a": 1},
            "is_superuser": true,
            "pk": "ignored",
        }))
        .map_err(|e| e.0)
        .unwrap_or_default();
        assert_eq!(
            changes,
            GroupChanges {
                name: Some("admins".into()),
                is_superuser: Some(true),
                parent: Some(Some(parent)),
                users: Some(vec![1, 2]),
                attributes: Some(json!({"a": 1})),
            }
        );
        let cleared = group_changes(&json!({"parent": null})).map_err(|e| e.0);
        assert_eq!(cleared.map(|c| c.parent), Ok(Some(None)));

        let errors = group_changes(&json!({
            "parents": ["x", Uuid::new_v4().to_string()],
            "users": ["one"],
            "roles": ["r"],
            "attributes": [],
        }))
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
        assert_eq!(errors["parents"], ["“x” is not a valid UUID."]);
        assert_eq!(
            errors["users"],
            ["Incorrect type. Expected pk value, received str."]
        );
        // A pk as text is a pk.
        let members = group_changes(&json!({"users": ["5", 6]})).map(|c| c.users);
        assert_eq!(members.map_err(|e| e.0), Ok(Some(vec![5, 6])));
        assert_eq!(errors["roles"], [not_found_pk("r")]);
        assert!(errors.contains_key("attributes"));
        assert!(group_changes(&json!([1])).is_err());
    }
}
