//! The admin service layer: every change an administrator makes to flows, stage bindings,
//! stages, prompt fields, policies and policy bindings goes through these functions, whether it
//! comes from authentik's REST paths (`http::admin_flows`, …) or from the admin UI's server
//! functions. Nothing here knows HTTP: functions take the database, the acting [`Actor`] and
//! typed inputs, and fail with [`AdminError`] (field-level messages, DRF-shaped when rendered).
//!
//! Storage and validation reuse the blueprint model stores (`blueprints::models`), so a field
//! means the same thing in a blueprint, in the API and in the editor. The flow tools (the
//! diagram, the simulator and the linter) are [`diagram`], [`simulate`] and [`lint`].

pub mod audit;
pub mod diagram;
pub mod error;
pub mod flows;
pub mod forms;
pub mod groups;
pub mod lint;
pub mod policies;
pub mod recovery;
pub mod simulate;
pub mod stages;
pub mod user_security;
pub mod users;
pub mod versions;

use chrono::Utc;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use serde_json::{json, Value};

pub use error::{AdminError, FieldErrors};

use crate::blueprints::models::{self as bp, Fields, ModelStore, Record};
use crate::events;

/// Who is making a change: checked for superuser rights, and named in the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i32,
    pub username: String,
    pub is_superuser: bool,
    /// Where the change came from (audit log only).
    pub client_ip: String,
    /// The caller's session (`None` for an API token): setting one's own password keeps it.
    pub session: Option<uuid::Uuid>,
    /// `<scheme>://<host>` as the caller reached keyflow: links made for others start with it.
    pub origin: String,
}

impl Actor {
    /// `Err(Forbidden)` unless the actor is a superuser: every admin function starts with it.
    pub fn ensure_superuser(&self) -> Result<(), AdminError> {
        if self.is_superuser {
            Ok(())
        } else {
            Err(AdminError::Forbidden)
        }
    }
}

/// authentik's `{"model": {app, model_name, pk, name}}` event context.
pub(crate) fn model_context(app: &str, model_name: &str, pk: &str, name: &str) -> Value {
    json!({"model": {"app": app, "model_name": model_name, "pk": pk, "name": name}})
}

/// Records a `model_created` / `model_updated` / `model_deleted` event for the actor.
pub(crate) async fn record(
    db: &DatabaseConnection,
    actor: &Actor,
    action: &str,
    context: Value,
) -> Result<(), AdminError> {
    events::record(
        db,
        events::NewEvent {
            action,
            user: Some((actor.user_id, &actor.username)),
            client_ip: &actor.client_ip,
            context,
            now: Utc::now(),
        },
    )
    .await?;
    Ok(())
}

/// Creates an object through its blueprint store: normalised (typed, defaults filled),
/// references checked, inserted. Returns the new primary key.
pub(crate) async fn insert_via(
    tx: &DatabaseTransaction,
    store: &dyn ModelStore,
    fields: Fields,
) -> Result<Value, AdminError> {
    let fields = store.normalise(fields)?;
    store.check(tx, &fields).await?;
    Ok(store.insert(tx, None, &fields).await?)
}

/// Updates an object through its blueprint store: `changes` are laid over the stored
/// attributes, then normalised and checked as a whole.
pub(crate) async fn update_via(
    tx: &DatabaseTransaction,
    store: &dyn ModelStore,
    current: Record,
    changes: Fields,
) -> Result<Fields, AdminError> {
    let mut fields = current.fields;
    fields.extend(changes);
    let fields = store.normalise(fields)?;
    store.check(tx, &fields).await?;
    store.update(tx, &current.pk, &fields).await?;
    Ok(fields)
}

/// Fails with "This field is required." for each `required` key missing from `fields`.
pub(crate) fn require(fields: &Fields, required: &[&str]) -> Result<(), AdminError> {
    let mut errors = FieldErrors::default();
    for key in required {
        match fields.get(*key) {
            None => errors.add(key, "This field is required."),
            Some(Value::Null) => errors.add(key, "This field may not be null."),
            Some(Value::String(s)) if s.trim().is_empty() => {
                errors.add(key, "This field may not be blank.");
            }
            Some(_) => {}
        }
    }
    errors.into_result()
}

/// Re-exported for the REST layer's record helpers.
pub(crate) use bp::uuid_of;
