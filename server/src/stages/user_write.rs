//! User write (spec §4.18): creates or updates the pending user from `prompt_data`, in one
//! transaction with its group memberships and the flow's completion hooks (a single-use
//! invitation is claimed in the same transaction, so a user is only kept when the claim holds).
//!
//! `prompt_data` keys written: `username`, `email`, `name`; `password` (argon2id, the date of
//! change recorded); `attributes` (an object, merged in); `attributes.a.b` and `attributes_a.b`
//! (nested write into `attributes`, intermediate objects created). `component` and `groups` are
//! skipped, and so is anything else: unlike authentik, which sets any model attribute by name,
//! keyflow never lets form data reach columns such as `is_superuser` or `is_active`.
//!
//! Outcomes: no `prompt_data` → denied [`NO_PENDING_DATA`]; no user and `never_create` →
//! denied [`NO_USER`]; an empty username → denied ("Unknown error", as authentik); a value that
//! cannot be stored (duplicate username, `attributes` not an object, too long) → denied
//! [`WRITE_FAILED`]; never a 500.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::password::BACKEND_INBUILT;
use crate::engine::{
    completion::Settled,
    context::PendingUser,
    stage::{Stage, StageCx, StageOutcome},
    EngineResult,
};
use crate::store::{group_member, user};
use crate::{events, sessions, users};

pub const NO_PENDING_DATA: &str = "No Pending data.";
pub const NO_USER: &str = "No user found and can't create new user.";
pub const WRITE_FAILED: &str = "Failed to update user. Please try again later.";
/// Context keys that override the stage's configuration, and the groups to add.
pub const CONTEXT_USER_PATH: &str = "user_path";
pub const CONTEXT_USER_TYPE: &str = "user_type";
pub const CONTEXT_GROUPS: &str = "groups";

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserCreationMode {
    NeverCreate,
    #[default]
    CreateWhenRequired,
    AlwaysCreate,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum UserType {
    Internal,
    #[default]
    External,
    ServiceAccount,
    InternalServiceAccount,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "internal",
            Self::External => "external",
            Self::ServiceAccount => "service_account",
            Self::InternalServiceAccount => "internal_service_account",
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default)]
pub struct UserWriteStage {
    pub user_creation_mode: UserCreationMode,
    pub create_users_as_inactive: bool,
    /// A group new users are added to.
    pub create_users_group: Option<Uuid>,
    pub user_type: UserType,
    /// Empty means the default path `users`; not templated.
    pub user_path_template: String,
}

/// Why `prompt_data` cannot be written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("`attributes` is not an object")]
    AttributesNotObject,
    #[error("`{0}` is not text or too long")]
    BadText(&'static str),
}

/// The user's fields as `prompt_data` changes them (before saving).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserDraft {
    pub username: String,
    pub email: String,
    pub name: String,
    pub attributes: Map<String, Value>,
    /// A new password in clear text, hashed before saving.
    pub password: Option<String>,
    /// The prompt keys that changed something (for the event; never values).
    pub written: Vec<String>,
}

fn text(value: &Value, field: &'static str, max: usize) -> Result<String, WriteError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(WriteError::BadText(field)),
    };
    if text.chars().count() > max {
        return Err(WriteError::BadText(field));
    }
    Ok(text)
}

/// Writes `value` at `path` inside `root`, creating (or replacing non-object) intermediates.
pub fn set_path(root: &mut Map<String, Value>, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for part in parents {
        let entry = node
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else {
            return;
        };
        node = next;
    }
    node.insert((*last).to_owned(), value);
}

impl UserDraft {
    pub fn from_user(row: &user::Model) -> Self {
        Self {
            username: row.username.clone(),
            email: row.email.clone(),
            name: row.name.clone(),
            attributes: row.attributes.as_object().cloned().unwrap_or_default(),
            password: None,
            written: Vec::new(),
        }
    }

    /// Applies every `prompt_data` item (spec §4.18 step 3).
    pub fn apply(&mut self, prompt_data: &Map<String, Value>) -> Result<(), WriteError> {
        for (key, value) in prompt_data {
            match key.as_str() {
                "component" | "groups" => continue,
                "password" => match value {
                    Value::String(password) => self.password = Some(password.clone()),
                    _ => return Err(WriteError::BadText("password")),
                },
                "username" => self.username = text(value, "username", users::USERNAME_MAX_LEN)?,
                "email" => self.email = text(value, "email", users::EMAIL_MAX_LEN)?,
                "name" => self.name = text(value, "name", crate::engine::fields::MAX_TEXT_LEN)?,
                "attributes" => match value {
                    Value::Object(map) => {
                        for (k, v) in map {
                            self.attributes.insert(k.clone(), v.clone());
                        }
                    }
                    _ => return Err(WriteError::AttributesNotObject),
                },
                _ => {
                    let Some(path) = key
                        .strip_prefix("attributes.")
                        .or_else(|| key.strip_prefix("attributes_"))
                    else {
                        continue;
                    };
                    let parts: Vec<&str> = path.split('.').collect();
                    if parts.iter().any(|p| p.is_empty()) {
                        continue;
                    }
                    set_path(&mut self.attributes, &parts, value.clone());
                }
            }
            self.written.push(key.clone());
        }
        Ok(())
    }
}

/// The user a write applies to, or how a new one is made.
enum Target {
    Existing(user::Model),
    New { path: String, user_type: String },
}

impl UserWriteStage {
    /// The type of a new user: the context's `user_type` when valid (an internal service
    /// account becomes a plain service account), else the stage's.
    fn new_user_type(&self, context_type: Option<&str>) -> &'static str {
        let parsed = context_type
            .and_then(|t| serde_json::from_value::<UserType>(Value::String(t.to_owned())).ok());
        match parsed.unwrap_or(self.user_type) {
            UserType::InternalServiceAccount => UserType::ServiceAccount.as_str(),
            other => other.as_str(),
        }
    }

    fn new_user_path(&self, context_path: Option<&str>) -> String {
        let path = context_path.unwrap_or(&self.user_path_template);
        if path.is_empty() || users::path_problem(path).is_some() {
            users::DEFAULT_PATH.to_owned()
        } else {
            path.to_owned()
        }
    }

    async fn target(&self, cx: &mut StageCx<'_>) -> EngineResult<Option<Target>> {
        if cx.context.pending_user.is_none() {
            if let Some(signed_in) = &cx.session.user {
                cx.context.pending_user = Some(pending(signed_in));
            }
        }
        let existing = match cx.context.pending_user.as_ref().and_then(|u| u.pk) {
            Some(pk) => user::Entity::find_by_id(pk).one(cx.db()).await?,
            None => None,
        };
        match existing {
            Some(row) if self.user_creation_mode != UserCreationMode::AlwaysCreate => {
                Ok(Some(Target::Existing(row)))
            }
            _ if self.user_creation_mode == UserCreationMode::NeverCreate => Ok(None),
            _ => {
                let path = cx.context.get_extra::<String>(CONTEXT_USER_PATH);
                let user_type = cx.context.get_extra::<String>(CONTEXT_USER_TYPE);
                Ok(Some(Target::New {
                    path: self.new_user_path(path.as_deref()),
                    user_type: self.new_user_type(user_type.as_deref()).to_owned(),
                }))
            }
        }
    }

    /// The groups to add: `create_users_group` and the context's `groups` (UUIDs, or objects
    /// with a `pk`), existing ones only.
    async fn groups(&self, cx: &StageCx<'_>) -> EngineResult<Vec<Uuid>> {
        let mut wanted: Vec<Uuid> = self.create_users_group.into_iter().collect();
        if let Some(Value::Array(items)) = cx.context.extra.get(CONTEXT_GROUPS) {
            for item in items {
                let pk = match item {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("pk").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(id) = pk.and_then(|s| Uuid::parse_str(s).ok()) {
                    if !wanted.contains(&id) {
                        wanted.push(id);
                    }
                }
            }
        }
        let missing = users::missing_groups(cx.db(), &wanted).await?;
        if !missing.is_empty() {
            tracing::warn!(?missing, "user write: skipping groups that do not exist");
        }
        Ok(wanted
            .into_iter()
            .filter(|g| !missing.contains(g))
            .collect())
    }
}

fn pending(row: &user::Model) -> PendingUser {
    PendingUser {
        pk: Some(row.id),
        username: row.username.clone(),
        email: row.email.clone(),
        backend: None,
    }
}

/// What one save did.
enum Saved {
    Done(Box<user::Model>),
    Refused(&'static str),
}

/// Saves the user and memberships in `txn`; a unique violation is a refusal, not an error.
async fn save(
    txn: &DatabaseTransaction,
    target: &Target,
    draft: &UserDraft,
    password_hash: Option<String>,
    is_active: bool,
    groups: &[Uuid],
    now: DateTime<Utc>,
) -> Result<Saved, sea_orm::DbErr> {
    let mut row = match target {
        Target::Existing(existing) => user::ActiveModel {
            id: Set(existing.id),
            ..Default::default()
        },
        Target::New { path, user_type } => user::ActiveModel {
            uuid: Set(Uuid::new_v4()),
            password: Set(String::new()),
            is_active: Set(is_active),
            is_superuser: Set(false),
            path: Set(path.clone()),
            user_type: Set(user_type.clone()),
            last_login: Set(None),
            date_joined: Set(now),
            password_change_date: Set(None),
            ..Default::default()
        },
    };
    row.username = Set(draft.username.clone());
    row.email = Set(draft.email.clone());
    row.name = Set(draft.name.clone());
    row.attributes = Set(Value::Object(draft.attributes.clone()));
    if let Some(hash) = password_hash {
        row.password = Set(hash);
        row.password_change_date = Set(Some(now));
    }
    let saved = match target {
        Target::Existing(_) => row.update(txn).await,
        Target::New { .. } => row.insert(txn).await,
    };
    let saved = match saved {
        Ok(saved) => saved,
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(Saved::Refused(WRITE_FAILED));
        }
        Err(error) => return Err(error),
    };
    let already: HashSet<Uuid> = group_member::Entity::find()
        .filter(group_member::Column::UserId.eq(saved.id))
        .all(txn)
        .await?
        .into_iter()
        .map(|m| m.group_id)
        .collect();
    for group_id in groups.iter().filter(|g| !already.contains(g)) {
        group_member::ActiveModel {
            group_id: Set(*group_id),
            user_id: Set(saved.id),
        }
        .insert(txn)
        .await?;
    }
    Ok(Saved::Done(Box::new(saved)))
}

#[async_trait::async_trait]
impl Stage for UserWriteStage {
    async fn challenge(&self, cx: &mut StageCx<'_>) -> EngineResult<StageOutcome> {
        if cx.context.prompt_data.is_empty() {
            return Ok(StageOutcome::denied(NO_PENDING_DATA));
        }
        let Some(target) = self.target(cx).await? else {
            return Ok(StageOutcome::denied(NO_USER));
        };
        let mut draft = match &target {
            Target::Existing(row) => UserDraft::from_user(row),
            // An unsaved pending user (identification's stand-in for an unknown identifier) is
            // the one created, as authentik saves it; `always_create` starts afresh.
            Target::New { .. } => match cx.context.pending_user.as_ref() {
                Some(unsaved)
                    if unsaved.pk.is_none()
                        && self.user_creation_mode != UserCreationMode::AlwaysCreate =>
                {
                    UserDraft {
                        username: unsaved.username.clone(),
                        email: unsaved.email.clone(),
                        ..Default::default()
                    }
                }
                _ => UserDraft::default(),
            },
        };
        if let Err(error) = draft.apply(&cx.context.prompt_data) {
            tracing::info!(%error, stage = cx.stage_name, "user write refused prompt data");
            return Ok(StageOutcome::denied(WRITE_FAILED));
        }
        if draft.username.trim().is_empty() {
            tracing::info!(
                stage = cx.stage_name,
                "user write: aborting write to empty username"
            );
            return Ok(StageOutcome::Denied(None));
        }
        let password_hash = match draft.password.clone() {
            Some(password) => Some(cx.services.passwords.hash(password).await?),
            None => None,
        };
        let groups = self.groups(cx).await?;

        let txn = crate::store::begin_write(cx.db()).await?;
        // Completion hooks first: their claim (a single-use invitation) is the first write, so
        // a losing claim rolls this user back with it.
        let (settled, settled_context) = cx.settle_completion(&txn).await?;
        if let Settled::Refused(message) = settled {
            txn.rollback().await?;
            return Ok(StageOutcome::denied(message));
        }
        let saved = save(
            &txn,
            &target,
            &draft,
            password_hash.clone(),
            !self.create_users_as_inactive,
            &groups,
            cx.now,
        )
        .await?;
        let account = match saved {
            Saved::Done(account) => *account,
            Saved::Refused(message) => {
                txn.rollback().await?;
                return Ok(StageOutcome::denied(message));
            }
        };
        txn.commit().await?;
        *cx.context = settled_context;

        let created = matches!(target, Target::New { .. });
        if created {
            cx.context.user_backend = Some(BACKEND_INBUILT.to_owned());
        }
        let keep_backend = cx
            .context
            .pending_user
            .as_ref()
            .filter(|p| p.pk == Some(account.id))
            .and_then(|p| p.backend.clone());
        cx.context.pending_user = Some(PendingUser {
            backend: keep_backend,
            ..pending(&account)
        });
        let is_session_user = cx.session.user.as_ref().is_some_and(|u| u.id == account.id);
        if is_session_user {
            cx.session.user = Some(account.clone());
        }
        if password_hash.is_some() {
            // As Django's session auth hash: a new password ends the account's other sessions;
            // the person who changed their own password stays signed in here.
            let keep = if is_session_user {
                cx.session.id
            } else {
                Uuid::nil()
            };
            sessions::delete_other_sessions(cx.db(), account.id, keep).await?;
        }
        events::record(
            cx.db(),
            events::NewEvent {
                action: events::action::USER_WRITE,
                user: Some((account.id, &account.username)),
                client_ip: &cx.request.client_ip,
                context: json!({
                    "created": created,
                    "fields": draft.written,
                    "stage": cx.stage_name,
                }),
                now: cx.now,
            },
        )
        .await?;
        Ok(StageOutcome::Passed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn prompt_data_writes_fields_and_nested_attributes() {
        let mut draft = UserDraft {
            attributes: object(json!({"keep": 1, "deep": {"x": 1}, "flat": 3})),
            ..Default::default()
        };
        draft
            .apply(&object(json!({
                "component": "ak-stage-prompt",
                "username": "ada",
                "email": "ada@example.com",
                "name": 42,
                "password": "secret",
                "groups": ["ignored"],
                "is_superuser": true,
                "attributes": {"top": true},
                "attributes.deep.y": 2,
                "attributes_flat.z": "made",
                "attributes.": "ignored",
            })))
            .unwrap();
        assert_eq!(draft.username, "ada");
        assert_eq!(draft.email, "ada@example.com");
        assert_eq!(draft.name, "42");
        assert_eq!(draft.password.as_deref(), Some("secret"));
        assert_eq!(
            Value::Object(draft.attributes.clone()),
            json!({"keep": 1, "deep": {"x": 1, "y": 2}, "flat": {"z": "made"}, "top": true})
        );
        assert!(!draft.written.contains(&"is_superuser".to_owned()));
        assert!(!draft.written.contains(&"component".to_owned()));
    }

    #[test]
    fn non_object_attributes_and_bad_text_are_refused() {
        let mut draft = UserDraft::default();
        assert_eq!(
            draft.apply(&object(json!({"attributes": "x"}))),
            Err(WriteError::AttributesNotObject)
        );
        assert_eq!(
            draft.apply(&object(json!({"username": ["a"]}))),
            Err(WriteError::BadText("username"))
        );
        let long = "a".repeat(users::USERNAME_MAX_LEN + 1);
        assert_eq!(
            draft.apply(&object(json!({ "username": long }))),
            Err(WriteError::BadText("username"))
        );
    }

    #[test]
    fn context_user_type_overrides_and_is_downgraded() {
        let stage = UserWriteStage::default();
        assert_eq!(stage.new_user_type(None), "external");
        assert_eq!(stage.new_user_type(Some("internal")), "internal");
        assert_eq!(
            stage.new_user_type(Some("internal_service_account")),
            "service_account"
        );
        assert_eq!(stage.new_user_type(Some("wizard")), "external");
    }

    #[test]
    fn user_path_comes_from_context_then_template_then_default() {
        let stage = UserWriteStage {
            user_path_template: "users/enrolled".into(),
            ..Default::default()
        };
        assert_eq!(stage.new_user_path(None), "users/enrolled");
        assert_eq!(stage.new_user_path(Some("staff")), "staff");
        assert_eq!(stage.new_user_path(Some("/bad/")), "users");
        assert_eq!(UserWriteStage::default().new_user_path(None), "users");
    }

    #[test]
    fn set_path_replaces_non_object_intermediates() {
        let mut root = object(json!({"a": 1}));
        set_path(&mut root, &["a", "b", "c"], json!(true));
        assert_eq!(Value::Object(root), json!({"a": {"b": {"c": true}}}));
    }
}
