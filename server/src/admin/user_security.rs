//! A user's MFA devices and sessions as an administrator sees and ends them (issue #14, "Users":
//! see and delete their MFA devices, see and revoke their sessions). Every change is recorded
//! as a `model_deleted` event naming the actor.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{model_context, record, Actor, AdminError};
use crate::events::action;
use crate::mfa::devices::{self, Device, DeviceClass, DeviceFilter};
use crate::store::session;

/// Devices of every user, or of `user_id`, of every class or of `class`, confirmed or not
/// (a set-up left half way shows as unconfirmed).
pub async fn devices(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Option<i32>,
    class: Option<DeviceClass>,
) -> Result<Vec<Device>, AdminError> {
    actor.ensure_superuser()?;
    let filter = DeviceFilter {
        user_id,
        class,
        confirmed_only: false,
    };
    Ok(devices::list(db, filter).await?)
}

/// One device; [`AdminError::NotFound`] when there is none of that class and id.
pub async fn device(
    db: &DatabaseConnection,
    actor: &Actor,
    class: DeviceClass,
    id: i32,
) -> Result<Device, AdminError> {
    actor.ensure_superuser()?;
    devices::find(db, class, id)
        .await?
        .ok_or(AdminError::NotFound)
}

/// Deletes a device (its owner then signs in without it) and records it.
pub async fn delete_device(
    db: &DatabaseConnection,
    actor: &Actor,
    class: DeviceClass,
    id: i32,
) -> Result<Device, AdminError> {
    let found = device(db, actor, class, id).await?;
    devices::delete(db, &found).await?;
    let (app, model) = found
        .class
        .meta_model_name()
        .split_once('.')
        .unwrap_or(("", ""));
    let mut context = model_context(app, model, &found.uid(), &found.name);
    context["user"] = serde_json::json!(found.user_id);
    record(db, actor, action::MODEL_DELETED, context).await?;
    Ok(found)
}

/// Signed-in sessions that have not expired, of everyone or of `user_id`, most recently used
/// first. Anonymous sessions (a flow in progress, nobody signed in) are not listed.
pub async fn sessions(
    db: &DatabaseConnection,
    actor: &Actor,
    user_id: Option<i32>,
    now: DateTime<Utc>,
) -> Result<Vec<session::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut query = session::Entity::find()
        .filter(session::Column::UserId.is_not_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .order_by_desc(session::Column::LastSeenAt);
    if let Some(user_id) = user_id {
        query = query.filter(session::Column::UserId.eq(user_id));
    }
    Ok(query.all(db).await?)
}

/// One signed-in session.
pub async fn session(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<session::Model, AdminError> {
    actor.ensure_superuser()?;
    session::Entity::find_by_id(id)
        .filter(session::Column::UserId.is_not_null())
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// Ends a session at once: its next request is anonymous (the row, and any plan stored with
/// it, is gone). Revoking one's own session signs oneself out.
pub async fn revoke_session(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<session::Model, AdminError> {
    let found = session(db, actor, id).await?;
    session::Entity::delete_by_id(found.id).exec(db).await?;
    let mut context = model_context(
        "authentik_core",
        "authenticatedsession",
        &found.id.to_string(),
        &found.user_agent,
    );
    context["user"] = serde_json::json!(found.user_id);
    record(db, actor, action::MODEL_DELETED, context).await?;
    Ok(found)
}
