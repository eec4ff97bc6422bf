//! `/api/v3/core/groups/…` in authentik's shape (superusers only; a session also needs the
//! CSRF token for changes): list (`search`, `name`, `is_superuser`, `members_by_pk`), create,
//! retrieve, PUT, PATCH, delete. The rules live in [`crate::admin::groups`]; this module only
//! reads JSON into typed changes and renders authentik's `Group`.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    admin,
    errors::ApiError,
    executor::parse_body,
    pagination::PageRequest,
    users::{
        admin_response, api_time, attributes_field, bool_field, bool_param, not_a_dictionary,
        not_found_pk, num_pk, record, text_field, FieldErrors,
    },
    AppState,
};
use crate::admin::groups::{self as admin_groups, GroupChanges, GroupQuery, GroupView, ONE_PARENT};
use crate::admin::users::UpdateMode;
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
                match item.as_i64().and_then(|n| i32::try_from(n).ok()) {
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

fn parse_pk(pk: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(pk).map_err(|_| ApiError::NotFound)
}

fn model_context(group: &group::Model) -> Value {
    json!({"model": {
        "app": "authentik_core",
        "model_name": "group",
        "pk": group.id,
        "name": group.name,
    }})
}

/// `GET /api/v3/core/groups/?search=&name=&is_superuser=&members_by_pk=&page=&page_size=`,
/// ordered by name.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    let request = match PageRequest::from_query(&params) {
        Ok(request) => request,
        Err(invalid) => return Ok(invalid.into_response()),
    };
    let query = GroupQuery {
        search: params.get("search").cloned(),
        name: params.get("name").cloned(),
        is_superuser: bool_param(&params, "is_superuser"),
        member: params
            .get("members_by_pk")
            .and_then(|v| v.trim().parse().ok()),
        page: request.page,
        page_size: request.page_size,
    };
    let (rows, count) = admin_groups::list(&state.services.db, &query).await?;
    if let Err(invalid) = request.check(count) {
        return Ok(invalid.into_response());
    }
    Ok(request.respond(count, rows.iter().map(group_json).collect()))
}

/// `POST /api/v3/core/groups/`: 201 with the new group.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::POST).await?;
    let body = parse_body(&headers, &body)?;
    let changes = match group_changes(&body) {
        Ok(changes) => changes,
        Err(errors) => return Ok(errors.into_response()),
    };
    let created = match admin_groups::create(&state.services.db, changes).await {
        Ok(created) => created,
        Err(error) => return admin_response(error),
    };
    record(
        &state,
        action::MODEL_CREATED,
        &caller,
        peer,
        model_context(&created.group),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(group_json(&created))).into_response())
}

/// `GET /api/v3/core/groups/{pk}/`
pub async fn retrieve(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    match admin_groups::get(&state.services.db, parse_pk(&pk)?).await {
        Ok(view) => Ok(Json(group_json(&view)).into_response()),
        Err(error) => admin_response(error),
    }
}

async fn update_with(
    state: AppState,
    pk: String,
    peer: SocketAddr,
    headers: HeaderMap,
    body: Bytes,
    method: Method,
    mode: UpdateMode,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &method).await?;
    let pk = parse_pk(&pk)?;
    // A missing group is a 404 before any complaint about the body.
    if let Err(error) = admin_groups::get(&state.services.db, pk).await {
        return admin_response(error);
    }
    let body = parse_body(&headers, &body)?;
    let changes = match group_changes(&body) {
        Ok(changes) => changes,
        Err(errors) => return Ok(errors.into_response()),
    };
    let updated = match admin_groups::update(&state.services.db, pk, changes, mode).await {
        Ok(updated) => updated,
        Err(error) => return admin_response(error),
    };
    record(
        &state,
        action::MODEL_UPDATED,
        &caller,
        peer,
        model_context(&updated.group),
    )
    .await?;
    Ok(Json(group_json(&updated)).into_response())
}

/// `PUT /api/v3/core/groups/{pk}/` (`name` required).
pub async fn update(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_with(
        state,
        pk,
        peer,
        headers,
        body,
        Method::PUT,
        UpdateMode::Full,
    )
    .await
}

/// `PATCH /api/v3/core/groups/{pk}/`: the given fields only.
pub async fn partial_update(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    update_with(
        state,
        pk,
        peer,
        headers,
        body,
        Method::PATCH,
        UpdateMode::Partial,
    )
    .await
}

/// `DELETE /api/v3/core/groups/{pk}/`: 204. Children keep existing, without a parent.
pub async fn destroy(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::DELETE).await?;
    let deleted = match admin_groups::delete(&state.services.db, parse_pk(&pk)?).await {
        Ok(deleted) => deleted,
        Err(error) => return admin_response(error),
    };
    record(
        &state,
        action::MODEL_DELETED,
        &caller,
        peer,
        model_context(&deleted),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
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
        assert_eq!(errors["roles"], [not_found_pk("r")]);
        assert!(errors.contains_key("attributes"));
        assert!(group_changes(&json!([1])).is_err());
    }
}
