//! `/api/v3/authenticators/…`: a signed-in user lists, renames and deletes their own MFA
//! devices, in authentik's shapes. Session callers need the CSRF token for PATCH and DELETE
//! (see `admin::authenticate`); nobody reaches another user's device (it is a 404, so ids are
//! not probed either).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{ConnectInfo, Path, Query, State},
    http::{HeaderMap, Method, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::net::SocketAddr;

use super::{admin, errors::ApiError, executor::parse_body, pagination::PageRequest, AppState};
use crate::events;
use crate::mfa::devices::{self, Device, DeviceClass};
use crate::store::{email_device, user};

/// authentik's longest device name.
pub const MAX_NAME_LEN: usize = 64;

fn api_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// authentik's class name of the device model (`type` in the "all" list).
fn type_name(class: DeviceClass) -> &'static str {
    match class {
        DeviceClass::Static => "authentik_stages_authenticator_static.StaticDevice",
        DeviceClass::Totp => "authentik_stages_authenticator_totp.TOTPDevice",
        DeviceClass::Webauthn => "authentik_stages_authenticator_webauthn.WebAuthnDevice",
        DeviceClass::Duo => "authentik_stages_authenticator_duo.DuoDevice",
        DeviceClass::Sms => "authentik_stages_authenticator_sms.SMSDevice",
        DeviceClass::Email => "authentik_stages_authenticator_email.EmailDevice",
    }
}

/// An entry of `GET /api/v3/authenticators/all/` (authentik's `Device`).
pub fn device_json(device: &Device) -> Value {
    json!({
        "pk": device.uid(),
        "name": device.name,
        "type": type_name(device.class),
        "verbose_name": device.class.verbose_name(),
        "verbose_name_plural": format!("{}s", device.class.verbose_name()),
        "meta_model_name": device.class.meta_model_name(),
        "confirmed": device.confirmed,
        "created": api_time(device.created),
        "last_updated": api_time(device.last_used.unwrap_or(device.created)),
        "last_used": device.last_used.map(api_time),
        "extra_description": Value::Null,
        "external_id": Value::Null,
    })
}

/// authentik's `PartialUser`.
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

/// authentik's `EmailDevice` (`/email/…`): the address in full, for its owner.
fn email_json(row: &email_device::Model, owner: &user::Model) -> Value {
    json!({
        "name": row.name,
        "pk": row.id,
        "email": row.email,
        "user": partial_user(owner),
    })
}

/// The caller's confirmed email device rows, oldest first.
async fn own_email_rows(
    state: &AppState,
    user_id: i32,
) -> Result<Vec<email_device::Model>, ApiError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    Ok(email_device::Entity::find()
        .filter(email_device::Column::UserId.eq(user_id))
        .filter(email_device::Column::Confirmed.eq(true))
        .order_by_asc(email_device::Column::Id)
        .all(&state.services.db)
        .await?)
}

/// `GET /api/v3/authenticators/email/`: the caller's email devices, paginated
/// (`PaginatedEmailDeviceList`).
pub async fn list_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = admin::require_user(&state, &headers, &Method::GET).await?;
    let request = match PageRequest::from_query(&params) {
        Ok(request) => request,
        Err(invalid) => return Ok(invalid.into_response()),
    };
    let rows = own_email_rows(&state, caller.user().id).await?;
    let count = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    if let Err(invalid) = request.check(count) {
        return Ok(invalid.into_response());
    }
    let skip = usize::try_from((request.page - 1) * request.page_size).unwrap_or(usize::MAX);
    let take = usize::try_from(request.page_size).unwrap_or(usize::MAX);
    let results = rows
        .iter()
        .skip(skip)
        .take(take)
        .map(|row| email_json(row, caller.user()))
        .collect();
    Ok(request.respond(count, results))
}

/// The per-kind serializer (`/email/{id}/` is authentik's `EmailDevice`; the others carry
/// `pk`, `name`, `created`, `last_used`).
async fn kind_body(
    state: &AppState,
    owner: &user::Model,
    device: &Device,
) -> Result<Value, ApiError> {
    use sea_orm::EntityTrait;
    if device.class == DeviceClass::Email {
        let row = email_device::Entity::find_by_id(device.id)
            .one(&state.services.db)
            .await?
            .ok_or(ApiError::NotFound)?;
        return Ok(email_json(&row, owner));
    }
    Ok(kind_json(device))
}

/// The per-kind serializer (`/totp/{id}/`, `/static/{id}/`, `/webauthn/{id}/`).
pub(crate) fn kind_json(device: &Device) -> Value {
    let mut value = json!({
        "pk": device.id,
        "name": device.name,
        "created": api_time(device.created),
        "last_used": device.last_used.map(api_time),
    });
    if device.class == DeviceClass::Webauthn {
        value["created_on"] = json!(api_time(device.created));
    }
    value
}

pub async fn list_all(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = admin::require_user(&state, &headers, &Method::GET).await?;
    let list = devices::confirmed_for_user(&state.services.db, caller.user().id).await?;
    Ok(Json(Value::Array(list.iter().map(device_json).collect())))
}

fn class_of(kind: &str) -> Result<DeviceClass, ApiError> {
    match DeviceClass::parse(kind) {
        Some(
            class @ (DeviceClass::Totp
            | DeviceClass::Static
            | DeviceClass::Webauthn
            | DeviceClass::Email),
        ) => Ok(class),
        _ => Err(ApiError::NotFound),
    }
}

/// The caller's own confirmed device `kind`/`id`, else 404.
async fn own_device(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    kind: &str,
    id: &str,
) -> Result<(admin::Caller, Device), ApiError> {
    let class = class_of(kind)?;
    let caller = admin::require_user(state, headers, method).await?;
    let id: i32 = id.parse().map_err(|_| ApiError::NotFound)?;
    let device = devices::find_own(&state.services.db, class, id, caller.user().id)
        .await?
        .filter(|d| d.confirmed)
        .ok_or(ApiError::NotFound)?;
    Ok((caller, device))
}

pub async fn retrieve(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let (caller, device) = own_device(&state, &headers, &Method::GET, &kind, &id).await?;
    Ok(Json(kind_body(&state, caller.user(), &device).await?))
}

/// PATCH (or PUT) `{"name": …}`.
pub async fn rename(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (caller, mut device) = own_device(&state, &headers, &method, &kind, &id).await?;
    let body = parse_body(&headers, &body)?;
    let name = match body.get("name") {
        None if method == Method::PATCH => None,
        None => return Ok(field_error("This field is required.")),
        Some(Value::String(name)) => Some(name.trim().to_owned()),
        Some(_) => return Ok(field_error("Not a valid string.")),
    };
    if let Some(name) = name {
        if name.is_empty() {
            return Ok(field_error("This field may not be blank."));
        }
        if name.chars().count() > MAX_NAME_LEN {
            return Ok(field_error(&format!(
                "Ensure this field has no more than {MAX_NAME_LEN} characters."
            )));
        }
        devices::rename(&state.services.db, &device, &name).await?;
        device.name = name;
    }
    Ok(Json(kind_body(&state, caller.user(), &device).await?).into_response())
}

fn field_error(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "name": [message] }))).into_response()
}

pub async fn destroy(
    State(state): State<AppState>,
    Path((kind, id)): Path<(String, String)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let (caller, device) = own_device(&state, &headers, &Method::DELETE, &kind, &id).await?;
    devices::delete(&state.services.db, &device).await?;
    let user = caller.user();
    events::record(
        &state.services.db,
        events::NewEvent {
            action: events::action::MODEL_DELETED,
            user: Some((user.id, &user.username)),
            client_ip: &peer.ip().to_string(),
            context: json!({"model": {
                "app": device.class.meta_model_name().split('.').next().unwrap_or(""),
                "model_name": device.class.meta_model_name().split('.').nth(1).unwrap_or(""),
                "pk": device.id,
                "name": device.name,
            }}),
            now: Utc::now(),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
