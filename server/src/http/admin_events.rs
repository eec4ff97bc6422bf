//! `/api/v3/events/events/…`: the audit log in authentik's `Event` shape, read-only. Filters:
//! `action`, `username` (substring of the account's name, or of the name a failed login
//! tried), `client_ip`, and keyflow's `created__gte` /
//! `created__lte` (RFC 3339); newest first, at most `admin::audit::MAX_EVENTS`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::admin_api::api_time;
use super::resource::{filter_text, uuid_id, Cx, ListQuery, Resource};
use crate::admin::audit::{self, EventQuery};
use crate::admin::AdminError;
use crate::store::event;

/// The app authentik names for an action's source.
fn app_of(action: &str) -> &'static str {
    match action {
        "login" | "login_failed" | "logout" | "user_write" | "password_set" => "authentik.core",
        "model_created" | "model_updated" | "model_deleted" => "authentik.core",
        "email_sent" => "authentik.stages.email",
        "invitation_used" => "authentik.stages.invitation",
        "policy_execution" => "authentik.policies",
        _ => "authentik.events",
    }
}

/// authentik's `Event`.
fn event_json(row: &event::Model) -> Value {
    // authentik shows the name that was tried for a failed login (from the context).
    let tried = row.context.get("username").and_then(Value::as_str);
    let user = match (row.user_id, tried) {
        (Some(pk), _) => json!({"pk": pk, "username": row.username}),
        (None, Some(name)) => json!({"username": name}),
        (None, None) => json!({}),
    };
    json!({
        "pk": row.id,
        "user": user,
        "action": row.action,
        "app": app_of(&row.action),
        "context": row.context,
        "client_ip": (!row.client_ip.is_empty()).then_some(&row.client_ip),
        "created": api_time(row.created_at),
        "expires": null,
        "brand": {},
    })
}

fn time_filter(query: &ListQuery, key: &str) -> Result<Option<DateTime<Utc>>, AdminError> {
    let Some(text) = filter_text(query, key) else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|_| AdminError::field(key, "Enter a valid date/time, e.g. 2026-12-01T08:00:00Z."))
}

/// `events/events`: the audit log (list and retrieve only).
pub struct EventsResource;

#[async_trait::async_trait]
impl Resource for EventsResource {
    fn collection(&self) -> String {
        "events/events".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        let filters = EventQuery {
            action: filter_text(query, "action"),
            username: filter_text(query, "username"),
            client_ip: filter_text(query, "client_ip"),
            since: time_filter(query, "created__gte")?,
            until: time_filter(query, "created__lte")?,
        };
        let rows = audit::list(&cx.state.services.db, cx.actor, &filters).await?;
        Ok(rows.iter().map(event_json).collect())
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        let row = audit::get(&cx.state.services.db, cx.actor, uuid_id(id)?).await?;
        Ok(event_json(&row))
    }

    /// The log is append-only.
    async fn destroy(&self, _cx: &Cx<'_>, _id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        Err(AdminError::MethodNotAllowed("DELETE"))
    }
}
