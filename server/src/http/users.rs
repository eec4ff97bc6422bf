//! `/api/v3/core/users/…` in authentik's shapes: `me` for any signed-in caller, and the admin
//! endpoints (list, create, retrieve, delete, set_password) for superusers. Validation errors are
//! DRF's: HTTP 400 with `{"field": ["message"]}`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
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
    executor::parse_body,
    pagination::PageRequest,
    AppState,
};
use crate::engine::fields::MAX_TEXT_LEN;
use crate::events::{self, action};
use crate::store::{group, user};
use crate::users::{self, AccountDetails, CreateError, NewUser, UserFilter};

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
    let me = user_self(caller.user(), &state.services.settings.default_avatar);
    Ok(Json(json!({ "user": me, "users": [me] })))
}

/// Timestamps as DRF writes them: ISO 8601, UTC as `Z`.
pub(crate) fn api_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// authentik's `PartialGroup`. `num_pk` is authentik's own derivation (the first five digits of
/// the UUID as an integer), which LDAP outposts rely on.
fn partial_group(group: &group::Model) -> Value {
    let digits = group.id.as_u128().to_string();
    let num_pk: i32 = digits[..digits.len().min(5)].parse().unwrap_or_default();
    json!({
        "pk": group.id,
        "num_pk": num_pk,
        "name": group.name,
        "is_superuser": group.is_superuser,
        "attributes": group.attributes,
    })
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

/// DRF-style field errors: field name → messages.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(pub(crate) BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    pub(crate) fn into_response(self) -> Response {
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

pub(crate) fn not_found_pk(pk: &str) -> String {
    format!("Invalid pk \"{pk}\" - object does not exist.")
}

/// A create request that passed validation.
struct NewAccount {
    username: String,
    name: String,
    email: String,
    path: String,
    user_type: String,
    details: AccountDetails,
}

async fn validate_new_account(state: &AppState, body: &Value) -> Result<NewAccount, Response> {
    let mut errors = FieldErrors::default();
    let Value::Object(body) = body else {
        let kind = match body {
            Value::Array(_) => "list",
            Value::String(_) => "str",
            Value::Number(_) => "int",
            Value::Bool(_) => "bool",
            _ => "NoneType",
        };
        errors.add(
            "non_field_errors",
            format!("Invalid data. Expected a dictionary, but got {kind}."),
        );
        return Err(errors.into_response());
    };
    let username = text_field(
        body,
        "username",
        true,
        false,
        true,
        users::USERNAME_MAX_LEN,
        &mut errors,
    );
    let name = text_field(body, "name", true, true, true, MAX_TEXT_LEN, &mut errors);
    let email = text_field(
        body,
        "email",
        false,
        true,
        true,
        users::EMAIL_MAX_LEN,
        &mut errors,
    )
    .unwrap_or_default();
    if !email.is_empty() && !plausible_email(&email) {
        errors.add("email", "Enter a valid email address.");
    }
    let is_active = bool_field(body, "is_active", &mut errors).unwrap_or(true);
    let attributes = match body.get("attributes") {
        None => json!({}),
        Some(value @ Value::Object(_)) => value.clone(),
        Some(_) => {
            errors.add(
                "attributes",
                "Value must be a dictionary, and not have any duplicate keys.",
            );
            json!({})
        }
    };
    let path = text_field(body, "path", false, false, true, MAX_TEXT_LEN, &mut errors)
        .unwrap_or_else(|| users::DEFAULT_PATH.to_owned());
    if let Some(problem) = users::path_problem(&path) {
        errors.add("path", problem);
    }
    let user_type = text_field(body, "type", false, false, true, 64, &mut errors)
        .unwrap_or_else(|| "internal".to_owned());
    if !users::USER_TYPES.contains(&user_type.as_str()) {
        errors.add("type", format!("\"{user_type}\" is not a valid choice."));
    } else if user_type == "internal_service_account" {
        errors.add(
            "type",
            "Setting a user to internal service account is not allowed.",
        );
    }
    let mut groups = Vec::new();
    for pk in pk_list(body, "groups", &mut errors) {
        match Uuid::parse_str(&pk) {
            Ok(id) => groups.push(id),
            Err(_) => errors.add("groups", not_found_pk(&pk)),
        }
    }
    for missing in users::missing_groups(&state.services.db, &groups)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
    {
        errors.add("groups", not_found_pk(&missing.to_string()));
    }
    // keyflow has no roles (yet): any role named does not exist.
    for pk in pk_list(body, "roles", &mut errors) {
        errors.add("roles", not_found_pk(&pk));
    }
    if let Some(username) = &username {
        let taken = users::username_taken(&state.services.db, username)
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        if taken {
            errors.add("username", "This field must be unique.");
        }
    }
    match (username, name) {
        (Some(username), Some(name)) if errors.0.is_empty() => Ok(NewAccount {
            username,
            name,
            email,
            path,
            user_type,
            details: AccountDetails {
                is_active,
                attributes,
                groups,
            },
        }),
        _ => Err(errors.into_response()),
    }
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

async fn record(
    state: &AppState,
    action: &str,
    caller: &Caller,
    peer: SocketAddr,
    context: Value,
) -> Result<(), ApiError> {
    let user = caller.user();
    events::record(
        &state.services.db,
        events::NewEvent {
            action,
            user: Some((user.id, &user.username)),
            client_ip: &peer.ip().to_string(),
            context,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

fn parse_pk(pk: &str) -> Result<i32, ApiError> {
    pk.parse().map_err(|_| ApiError::NotFound)
}

async fn load(state: &AppState, pk: &str) -> Result<user::Model, ApiError> {
    users::find(&state.services.db, parse_pk(pk)?)
        .await?
        .ok_or(ApiError::NotFound)
}

async fn render(state: &AppState, accounts: &[user::Model]) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i32> = accounts.iter().map(|u| u.id).collect();
    let groups = users::direct_groups(&state.services.db, &ids).await?;
    let avatar = &state.services.settings.default_avatar;
    Ok(accounts
        .iter()
        .map(|u| user_json(u, groups.get(&u.id).map_or(&[][..], Vec::as_slice), avatar))
        .collect())
}

/// `GET /api/v3/core/users/?username=&page=&page_size=`, ordered by username.
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
    let filter = UserFilter {
        username: params.get("username").cloned(),
    };
    let (rows, count) =
        users::page(&state.services.db, &filter, request.page, request.page_size).await?;
    if let Err(invalid) = request.check(count) {
        return Ok(invalid.into_response());
    }
    Ok(request.respond(count, render(&state, &rows).await?))
}

/// `POST /api/v3/core/users/`: 201 with the new user. Passwords are set separately
/// (`set_password`), as in authentik.
pub async fn create(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::POST).await?;
    let body = parse_body(&headers, &body)?;
    let account = match validate_new_account(&state, &body).await {
        Ok(account) => account,
        Err(response) => return Ok(response),
    };
    let created = users::create_account(
        &state.services.db,
        NewUser {
            username: &account.username,
            email: &account.email,
            name: &account.name,
            password_hash: String::new(),
            is_superuser: false,
            user_type: &account.user_type,
            path: &account.path,
        },
        account.details,
        Utc::now(),
    )
    .await;
    let created = match created {
        Ok(created) => created,
        Err(CreateError::UsernameTaken) => {
            let mut errors = FieldErrors::default();
            errors.add("username", "This field must be unique.");
            return Ok(errors.into_response());
        }
        Err(CreateError::Database(error)) => return Err(error.into()),
    };
    record(
        &state,
        action::MODEL_CREATED,
        &caller,
        peer,
        model_context(&created),
    )
    .await?;
    let rendered = render(&state, std::slice::from_ref(&created)).await?;
    let body = rendered.into_iter().next().unwrap_or_default();
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `GET /api/v3/core/users/{pk}/`
pub async fn retrieve(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    admin::require_superuser(&state, &headers, &Method::GET).await?;
    let account = load(&state, &pk).await?;
    let rendered = render(&state, std::slice::from_ref(&account)).await?;
    Ok(Json(rendered.into_iter().next().unwrap_or_default()))
}

/// `DELETE /api/v3/core/users/{pk}/`: 204. The account's sessions and tokens go with it.
pub async fn destroy(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::DELETE).await?;
    let account = load(&state, &pk).await?;
    if !users::delete(&state.services.db, account.id).await? {
        return Err(ApiError::NotFound);
    }
    record(
        &state,
        action::MODEL_DELETED,
        &caller,
        peer,
        model_context(&account),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v3/core/users/{pk}/set_password/` with `{"password": "…"}`: 204. As in Django, a
/// new password ends the account's other sessions (the caller's own one survives).
pub async fn set_password(
    State(state): State<AppState>,
    Path(pk): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = admin::require_superuser(&state, &headers, &Method::POST).await?;
    let account = load(&state, &pk).await?;
    let body = parse_body(&headers, &body)?;
    let mut errors = FieldErrors::default();
    let password = match &body {
        Value::Object(map) => text_field(
            map,
            "password",
            true,
            false,
            false,
            MAX_TEXT_LEN,
            &mut errors,
        ),
        _ => {
            errors.add("password", "This field is required.");
            None
        }
    };
    let Some(password) = password else {
        return Ok(errors.into_response());
    };
    let hash = state
        .services
        .passwords
        .hash(password)
        .await
        .map_err(ApiError::from)?;
    let now = Utc::now();
    users::set_password_hash(&state.services.db, account.id, hash, now).await?;
    let keep = caller.session_id().unwrap_or_else(Uuid::nil);
    crate::sessions::delete_other_sessions(&state.services.db, account.id, keep).await?;
    events::record(
        &state.services.db,
        events::NewEvent {
            action: action::PASSWORD_SET,
            user: Some((account.id, &account.username)),
            client_ip: &peer.ip().to_string(),
            context: json!({"set_by": {"pk": caller.user().id, "username": caller.user().username}}),
            now,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_for_shape_only() {
        assert!(plausible_email("a@example.com"));
        assert!(!plausible_email("a@example"));
        assert!(!plausible_email("@example.com"));
        assert!(!plausible_email("a b@example.com"));
    }

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
