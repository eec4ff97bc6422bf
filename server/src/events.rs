//! The audit log. Events are rows (queried by admins and tests) and tracing lines. Contexts must
//! never carry secrets: callers pass identifiers and outcomes only.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::store::event;

/// Event actions, spelled as authentik spells them.
pub mod action {
    pub const LOGIN: &str = "login";
    pub const LOGIN_FAILED: &str = "login_failed";
    pub const LOGOUT: &str = "logout";
    pub const USER_WRITE: &str = "user_write";
    pub const PASSWORD_SET: &str = "password_set";
    pub const MODEL_CREATED: &str = "model_created";
    pub const MODEL_DELETED: &str = "model_deleted";
    pub const MODEL_UPDATED: &str = "model_updated";
    pub const SUSPICIOUS_REQUEST: &str = "suspicious_request";
    pub const CONFIGURATION_ERROR: &str = "configuration_error";
    pub const SYSTEM_EXCEPTION: &str = "system_exception";
    pub const POLICY_EXECUTION: &str = "policy_execution";
    pub const EMAIL_SENT: &str = "email_sent";
    pub const INVITATION_USED: &str = "invitation_used";
    /// A blueprint applied by an administrator (authentik has no action of its own for it).
    pub const SYSTEM_TASK_EXECUTION: &str = "system_task_execution";
}

pub struct NewEvent<'a> {
    pub action: &'a str,
    pub user: Option<(i32, &'a str)>,
    pub client_ip: &'a str,
    pub context: Value,
    pub now: DateTime<Utc>,
}

pub async fn record(db: &DatabaseConnection, event: NewEvent<'_>) -> Result<(), sea_orm::DbErr> {
    tracing::info!(
        target: "keyflow::events",
        action = event.action,
        user = event.user.map(|(_, name)| name).unwrap_or(""),
        client_ip = event.client_ip,
        "event"
    );
    event::ActiveModel {
        id: Set(Uuid::new_v4()),
        action: Set(event.action.to_owned()),
        user_id: Set(event.user.map(|(id, _)| id)),
        username: Set(event
            .user
            .map(|(_, name)| name.to_owned())
            .unwrap_or_default()),
        client_ip: Set(event.client_ip.to_owned()),
        context: Set(event.context),
        created_at: Set(event.now),
    }
    .insert(db)
    .await?;
    Ok(())
}
