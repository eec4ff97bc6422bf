//! `/api/v3/core/users/…` in authentik's shapes: `me` for any signed-in caller, and the admin
//! endpoints (list, create, retrieve, delete, set_password) for superusers. Validation errors are
//! DRF's: HTTP 400 with `{"field": ["message"]}`.

use std::collections::HashMap;

use axum::{
    extract::State,
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    admin::{self, Caller},
    errors::ApiError,
    resource::{ActionAnswer, ActionScope, ActionSpec, Body, Cx, ListQuery, Resource},
    AppState,
};
use crate::admin::users::{
    self as admin_users, AdminError, UpdateMode, UserChanges, UserQuery, UserView,
};
use crate::engine::fields::MAX_TEXT_LEN;
use crate::events::{self, action};
use crate::store::{group, user};

/// The caller: a Bearer API token, else the session user (`true` when it came by token).
pub async fn authenticated_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(user::Model, bool)>, ApiError> {
    Ok(admin::authenticate(state, headers, &Method::GET)
        .await?
        .map(|caller| {
            let by_token = matches!(caller, Caller::Token(_));
            (caller.user().clone(), by_token)
        }))
}

/// authentik's `UserSelf`.
pub fn user_self(user: &user::Model, avatar: &str) -> Value {
    json!({
        "pk": user.id,
        "username": user.username,
        "name": user.name,
        "is_active": user.is_active,
        "is_superuser": user.is_superuser,
        "is_current": true,
        "groups": [],
        "roles": [],
        "email": user.email,
        "avatar": avatar,
        "uid": user.uuid.simple().to_string(),
        "settings": {},
        "type": user.user_type,
        "system_permissions": [],
    })
}

pub async fn me(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = admin::require_user(&state, &headers, &Method::GET).await?;
    let mut me = user_self(caller.user(), &state.services.settings.default_avatar);
    me["is_superuser"] =
        json!(admin_users::effective_superuser(&state.services.db, caller.user()).await?);
    Ok(Json(json!({ "user": me, "users": [me] })))
}

/// Timestamps as DRF writes them: ISO 8601, UTC as `Z`.
pub(crate) fn api_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// authentik's `PartialGroup`. `num_pk` is authentik's own derivation (the first five digits of
/// the UUID as an integer), which LDAP outposts rely on.
fn partial_group(group: &group::Model) -> Value {
    json!({
        "pk": group.id,
        "num_pk": num_pk(group.id),
        "name": group.name,
        "is_superuser": group.is_superuser,
        "attributes": group.attributes,
    })
}

/// authentik's numeric group id: the first five digits of the UUID as an integer.
pub(crate) fn num_pk(id: Uuid) -> i32 {
    let digits = id.as_u128().to_string();
    digits[..digits.len().min(5)].parse().unwrap_or_default()
}

/// authentik's `User` (the admin view of an account). keyflow keeps no separate modification
/// time; the last password change (or creation) is the latest change it records.
pub fn user_json(user: &user::Model, groups: &[group::Model], avatar: &str) -> Value {
    let password_changed = user.password_change_date.unwrap_or(user.date_joined);
    json!({
        "pk": user.id,
        "username": user.username,
        "name": user.name,
        "is_active": user.is_active,
        "last_login": user.last_login.map(api_time),
        "date_joined": api_time(user.date_joined),
        "is_superuser": user.is_superuser,
        "groups": groups.iter().map(|g| g.id).collect::<Vec<_>>(),
        "groups_obj": groups.iter().map(partial_group).collect::<Vec<_>>(),
        "roles": [],
        "roles_obj": [],
        "email": user.email,
        "avatar": avatar,
        "attributes": user.attributes,
        "uid": user.uuid.simple().to_string(),
        "path": user.path,
        "type": user.user_type,
        "uuid": user.uuid,
        "password_change_date": api_time(password_changed),
        "last_updated": api_time(password_changed.max(user.date_joined)),
    })
}

pub(crate) use crate::admin::FieldErrors;

/// DRF's 400 with `{"field": ["message"]}`.
impl IntoResponse for FieldErrors {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!(self.0))).into_response()
    }
}

/// Reads one text field as DRF's `CharField` does (numbers become text, whitespace is trimmed
/// when `trim` is set). `Ok(None)` means absent.
pub(crate) fn text_field(
    body: &Map<String, Value>,
    key: &str,
    required: bool,
    allow_blank: bool,
    trim: bool,
    max_len: usize,
    errors: &mut FieldErrors,
) -> Option<String> {
    let value = match body.get(key) {
        None => {
            if required {
                errors.add(key, "This field is required.");
            }
            return None;
        }
        Some(Value::Null) => {
            errors.add(key, "This field may not be null.");
            return None;
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            errors.add(key, "Not a valid string.");
            return None;
        }
    };
    let value = if trim { value.trim().to_owned() } else { value };
    if value.is_empty() && !allow_blank {
        errors.add(key, "This field may not be blank.");
        return None;
    }
    if value.chars().count() > max_len {
        errors.add(
            key,
            format!("Ensure this field has no more than {max_len} characters."),
        );
        return None;
    }
    Some(value)
}

pub(crate) fn bool_field(
    body: &Map<String, Value>,
    key: &str,
    errors: &mut FieldErrors,
) -> Option<bool> {
    match body.get(key) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) if matches!(s.as_str(), "true" | "True" | "1") => Some(true),
        Some(Value::String(s)) if matches!(s.as_str(), "false" | "False" | "0") => Some(false),
        Some(_) => {
            errors.add(key, "Must be a valid boolean.");
            None
        }
    }
}

/// A list of primary keys (`groups`, `roles`); unknown keys are reported by the caller.
fn pk_list(body: &Map<String, Value>, key: &str, errors: &mut FieldErrors) -> Vec<String> {
    match body.get(key) {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => {
            let kind = if other.is_object() { "dict" } else { "str" };
            errors.add(
                key,
                format!("Expected a list of items but got type \"{kind}\"."),
            );
            vec![]
        }
    }
}

pub(crate) fn not_found_pk(pk: &str) -> String {
    admin_users::not_found_pk(pk)
}

/// DRF's answer to a body that is not a JSON object.
pub(crate) fn not_a_dictionary(body: &Value) -> FieldErrors {
    let kind = match body {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        _ => "NoneType",
    };
    let mut errors = FieldErrors::default();
    errors.add(
        "non_field_errors",
        format!("Invalid data. Expected a dictionary, but got {kind}."),
    );
    errors
}

/// `attributes`: a JSON object (null counts as not given).
pub(crate) fn attributes_field(
    body: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Option<Value> {
    match body.get("attributes") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Object(_)) => Some(value.clone()),
        Some(_) => {
            errors.add(
                "attributes",
                "Value must be a dictionary, and not have any duplicate keys.",
            );
            None
        }
    }
}

/// Reads a user body (authentik's `UserRequest`) into typed changes and the type errors found
/// (a field with a type error is left out of the changes); the account rules are the
/// service's. Read-only fields are ignored, as DRF does. `Err` when the body is no object.
fn user_changes(body: &Value) -> Result<(UserChanges, FieldErrors), FieldErrors> {
    let Value::Object(body) = body else {
        return Err(not_a_dictionary(body));
    };
    let mut errors = FieldErrors::default();
    let unlimited = usize::MAX;
    let username = text_field(body, "username", false, true, true, unlimited, &mut errors);
    let name = text_field(body, "name", false, true, true, unlimited, &mut errors);
    let email = text_field(body, "email", false, true, true, unlimited, &mut errors);
    let is_active = bool_field(body, "is_active", &mut errors);
    let path = text_field(body, "path", false, false, true, unlimited, &mut errors);
    let user_type = text_field(body, "type", false, false, true, unlimited, &mut errors);
    let attributes = attributes_field(body, &mut errors);
    let groups = if body.contains_key("groups") {
        let mut ids = Vec::new();
        for pk in pk_list(body, "groups", &mut errors) {
            match Uuid::parse_str(&pk) {
                Ok(id) => ids.push(id),
                Err(_) => errors.add("groups", not_found_pk(&pk)),
            }
        }
        Some(ids)
    } else {
        None
    };
    // keyflow has no roles (yet): any role named does not exist.
    for pk in pk_list(body, "roles", &mut errors) {
        errors.add("roles", not_found_pk(&pk));
    }
    let changes = UserChanges {
        username,
        name,
        email,
        is_active,
        path,
        user_type,
        attributes,
        groups,
    };
    Ok((changes, errors))
}

/// The `{"model": …}` context of model events: what changed, never its secrets.
fn model_context(account: &user::Model) -> Value {
    json!({"model": {
        "app": "authentik_core",
        "model_name": "user",
        "pk": account.id,
        "name": account.username,
    }})
}

fn parse_pk(pk: &str) -> Result<i32, AdminError> {
    pk.parse().map_err(|_| AdminError::NotFound)
}

fn render(state: &AppState, view: &UserView) -> Value {
    let mut body = user_json(
        &view.user,
        &view.groups,
        &state.services.settings.default_avatar,
    );
    body["is_superuser"] = json!(view.is_superuser);
    body
}

/// DRF's boolean filter values; anything else means "not filtered".
pub(crate) fn bool_param(params: &HashMap<String, String>, key: &str) -> Option<bool> {
    match params.get(key).map(|v| v.to_ascii_lowercase()).as_deref() {
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        _ => None,
    }
}

/// A user body as typed changes, or every invalid field at once (type errors, then the
/// account rules for the fields that had none), as DRF reports them.
async fn checked_changes(
    state: &AppState,
    body: Body,
    require: bool,
    pk: Option<i32>,
) -> Result<UserChanges, AdminError> {
    let (changes, mut errors) = user_changes(&Value::Object(body)).map_err(AdminError::Invalid)?;
    if errors.0.is_empty() {
        return Ok(changes);
    }
    match admin_users::validate(&state.services.db, &changes, require, pk).await {
        Ok(()) => {}
        Err(AdminError::Invalid(found)) => {
            for (field, messages) in found.0 {
                errors.0.entry(field).or_insert(messages);
            }
        }
        Err(other) => return Err(other),
    }
    Err(AdminError::Invalid(errors))
}

const USER_ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "set_password",
        scope: ActionScope::Object,
        safe: false,
    },
    ActionSpec {
        name: "recovery",
        scope: ActionScope::Object,
        safe: false,
    },
    ActionSpec {
        name: "recovery_email",
        scope: ActionScope::Object,
        safe: false,
    },
];

/// `recovery` (→ authentik's `Link`, `{"link": …}`) and `recovery_email` (→ 204; the mail is
/// queued), each with optional `flow` (a recovery flow's slug) and, for the mail,
/// `email_stage` (a uuid; else the recovery flow's own email stage).
async fn recovery_action(
    cx: &Cx<'_>,
    name: &str,
    pk: i32,
    body: &Body,
) -> Result<ActionAnswer, AdminError> {
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::trim);
    let flow = text("flow").filter(|s| !s.is_empty());
    let services = &cx.state.services;
    let origin = &cx.actor.origin;
    if name == "recovery" {
        let link =
            crate::admin::recovery::create_link(services, cx.actor, pk, origin, flow).await?;
        return Ok(ActionAnswer::Json(json!({ "link": link.url })));
    }
    let email_stage = match text("email_stage").filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(
            Uuid::parse_str(raw)
                .map_err(|_| AdminError::field("email_stage", "Must be a valid UUID."))?,
        ),
    };
    crate::admin::recovery::send_link(services, cx.actor, pk, origin, flow, email_stage).await?;
    Ok(ActionAnswer::Empty)
}

/// `core/users`: accounts in authentik's `User` shape. List filters: `search` (username, name
/// or email, case-insensitive substring), `username`, `is_active`; ordered by username.
/// Create takes no password (authentik sets it apart: the `set_password` action, 204);
/// `is_active: false` ends every session of the account; delete takes its sessions and tokens.
pub struct UsersResource;

#[async_trait::async_trait]
impl Resource for UsersResource {
    fn collection(&self) -> String {
        "core/users".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        cx.actor.ensure_superuser()?;
        let query = UserQuery {
            search: query.get("search").cloned(),
            username: query.get("username").cloned(),
            is_active: bool_param(query, "is_active"),
            page: 1,
            page_size: i32::MAX as u64,
        };
        let (rows, _) = admin_users::list(&cx.state.services.db, &query).await?;
        Ok(rows.iter().map(|view| render(cx.state, view)).collect())
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let view = admin_users::get(&cx.state.services.db, parse_pk(id)?).await?;
        Ok(render(cx.state, &view))
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let changes = checked_changes(cx.state, body, true, None).await?;
        let created = admin_users::create(&cx.state.services.db, changes, Utc::now()).await?;
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_CREATED,
            model_context(&created.user),
        )
        .await?;
        Ok(render(cx.state, &created))
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
        // A missing account is a 404 before any complaint about the body.
        admin_users::get(&cx.state.services.db, pk).await?;
        let mode = if partial {
            UpdateMode::Partial
        } else {
            UpdateMode::Full
        };
        let changes = checked_changes(cx.state, body, mode == UpdateMode::Full, Some(pk)).await?;
        let updated = admin_users::update(&cx.state.services.db, pk, changes, mode).await?;
        let mut context = model_context(&updated.view.user);
        if let Some(ended) = updated.sessions_ended {
            context["deactivated"] = json!(true);
            context["sessions_ended"] = json!(ended);
        }
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_UPDATED,
            context,
        )
        .await?;
        Ok(render(cx.state, &updated.view))
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        cx.actor.ensure_superuser()?;
        let account = admin_users::delete(&cx.state.services.db, parse_pk(id)?).await?;
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_DELETED,
            model_context(&account),
        )
        .await
    }

    fn actions(&self) -> &'static [ActionSpec] {
        USER_ACTIONS
    }

    /// `set_password` with `{"password": "…"}`: as in Django, a new password ends the
    /// account's other sessions (the caller's own one survives).
    async fn action(
        &self,
        cx: &Cx<'_>,
        name: &str,
        id: Option<&str>,
        body: Body,
    ) -> Result<ActionAnswer, AdminError> {
        cx.actor.ensure_superuser()?;
        if let (Some(id), "recovery" | "recovery_email") = (id, name) {
            return recovery_action(cx, name, parse_pk(id)?, &body).await;
        }
        let (Some(id), "set_password") = (id, name) else {
            return Err(AdminError::NotFound);
        };
        let pk = parse_pk(id)?;
        admin_users::get(&cx.state.services.db, pk).await?;
        let mut errors = FieldErrors::default();
        let password = text_field(
            &body,
            "password",
            true,
            false,
            false,
            MAX_TEXT_LEN,
            &mut errors,
        )
        .ok_or(AdminError::Invalid(errors))?;
        let now = Utc::now();
        let account = admin_users::set_password(
            &cx.state.services.db,
            &cx.state.services.passwords,
            pk,
            password,
            cx.actor.session,
            now,
        )
        .await?;
        events::record(
            &cx.state.services.db,
            events::NewEvent {
                action: action::PASSWORD_SET,
                user: Some((account.id, &account.username)),
                client_ip: &cx.actor.client_ip,
                context: json!({"set_by": {"pk": cx.actor.user_id, "username": cx.actor.username}}),
                now,
            },
        )
        .await?;
        Ok(ActionAnswer::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_follow_drf() {
        let body = json!({"a": "  x  ", "b": "", "c": null, "d": 5, "e": [1]});
        let Value::Object(body) = body else {
            unreachable!()
        };
        let mut errors = FieldErrors::default();
        assert_eq!(
            text_field(&body, "a", true, false, true, 10, &mut errors),
            Some("x".into())
        );
        assert_eq!(
            text_field(&body, "b", true, false, true, 10, &mut errors),
            None
        );
        assert_eq!(
            text_field(&body, "c", true, false, true, 10, &mut errors),
            None
        );
        assert_eq!(
            text_field(&body, "d", true, false, true, 10, &mut errors),
            Some("5".into())
        );
        assert_eq!(
            text_field(&body, "e", true, false, true, 10, &mut errors),
            None
        );
        assert_eq!(
            text_field(&body, "z", true, false, true, 10, &mut errors),
            None
        );
        assert_eq!(errors.0["b"], vec!["This field may not be blank."]);
        assert_eq!(errors.0["c"], vec!["This field may not be null."]);
        assert_eq!(errors.0["e"], vec!["Not a valid string."]);
        assert_eq!(errors.0["z"], vec!["This field is required."]);
    }
}
