//! A user's MFA devices and sessions for administrators, in authentik's paths:
//! `authenticators/admin/all` (authentik's `Device` list, a plain array, filter `user`),
//! `authenticators/admin/<kind>` (retrieve and delete one device of that kind) and
//! `core/authenticated_sessions` (authentik's `AuthenticatedSession`; filters `user`,
//! `user__username`; delete revokes). The rules are `admin::user_security`'s.

use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::authenticators::{device_json, kind_json};
use super::resource::{filter_text, uuid_id, Cx, ListQuery, Resource};
use crate::admin::{user_security, AdminError};
use crate::mfa::devices::{Device, DeviceClass};
use crate::store::{session, user};

/// Every device resource: the "all" list and one per kind keyflow stores.
pub fn resources() -> Vec<Box<dyn Resource>> {
    let mut all: Vec<Box<dyn Resource>> = vec![Box::new(AdminDevices { class: None })];
    for class in [
        DeviceClass::Static,
        DeviceClass::Totp,
        DeviceClass::Webauthn,
        DeviceClass::Email,
    ] {
        all.push(Box::new(AdminDevices { class: Some(class) }));
    }
    all.push(Box::new(SessionsResource));
    all
}

/// The `user` filter: a pk; anything else matches nobody (DRF's filter error).
fn user_filter(query: &ListQuery) -> Result<Option<i32>, AdminError> {
    match filter_text(query, "user") {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| AdminError::field("user", "Select a valid choice.")),
    }
}

/// The per-kind shape with its owner's pk (`user`), as the admin paths answer it.
fn owned_kind_json(device: &Device) -> Value {
    let mut body = kind_json(device);
    body["user"] = json!(device.user_id);
    body
}

/// `authenticators/admin/all` (`class: None`) or `authenticators/admin/<kind>`.
pub struct AdminDevices {
    class: Option<DeviceClass>,
}

impl AdminDevices {
    fn class(&self) -> Result<DeviceClass, AdminError> {
        self.class.ok_or(AdminError::NotFound)
    }
}

#[async_trait::async_trait]
impl Resource for AdminDevices {
    fn collection(&self) -> String {
        match self.class {
            None => "authenticators/admin/all".into(),
            Some(class) => format!("authenticators/admin/{}", class.as_str()),
        }
    }

    fn paged(&self) -> bool {
        self.class.is_some()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let user_id = user_filter(query)?;
        let found =
            user_security::devices(&cx.state.services.db, cx.actor, user_id, self.class).await?;
        Ok(found
            .iter()
            .map(|d| match self.class {
                None => device_json(d),
                Some(_) => owned_kind_json(d),
            })
            .collect())
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let id: i32 = id.parse().map_err(|_| AdminError::NotFound)?;
        let found =
            user_security::device(&cx.state.services.db, cx.actor, self.class()?, id).await?;
        Ok(owned_kind_json(&found))
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        let id: i32 = id.parse().map_err(|_| AdminError::NotFound)?;
        user_security::delete_device(&cx.state.services.db, cx.actor, self.class()?, id).await?;
        Ok(())
    }
}

fn api_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// authentik's `AuthenticatedSession`. The user agent is given as its string only (keyflow does
/// not parse it into device / OS / browser families: those say "Other").
fn session_json(row: &session::Model, current: Option<uuid::Uuid>) -> Value {
    json!({
        "uuid": row.id,
        "current": current == Some(row.id),
        "user_agent": {
            "device": {"brand": "", "family": "Other", "model": ""},
            "os": {"family": "Other", "major": "", "minor": "", "patch": "", "patch_minor": ""},
            "user_agent": {"family": "Other", "major": "", "minor": "", "patch": ""},
            "string": row.user_agent,
        },
        "geo_ip": Value::Null,
        "asn": Value::Null,
        "user": row.user_id,
        "last_ip": row.last_ip,
        "last_user_agent": row.user_agent,
        "last_used": api_time(row.last_seen_at),
        "expires": api_time(row.expires_at),
    })
}

/// `core/authenticated_sessions`: signed-in sessions, most recently used first.
pub struct SessionsResource;

#[async_trait::async_trait]
impl Resource for SessionsResource {
    fn collection(&self) -> String {
        "core/authenticated_sessions".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let db = &cx.state.services.db;
        let mut user_id = user_filter(query)?;
        if let Some(username) = filter_text(query, "user__username") {
            cx.actor.ensure_superuser()?;
            let Some(account) = user::Entity::find()
                .filter(user::Column::Username.eq(username))
                .one(db)
                .await?
            else {
                return Ok(Vec::new());
            };
            if user_id.is_some_and(|id| id != account.id) {
                return Ok(Vec::new());
            }
            user_id = Some(account.id);
        }
        let rows = user_security::sessions(db, cx.actor, user_id, Utc::now()).await?;
        Ok(rows
            .iter()
            .map(|row| session_json(row, cx.actor.session))
            .collect())
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = user_security::session(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        Ok(session_json(&row, cx.actor.session))
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        user_security::revoke_session(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        Ok(())
    }
}
