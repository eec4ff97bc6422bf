//! `/api/v3/stages/invitation/invitations/…` in authentik's shapes (`Invitation`,
//! `InvitationRequest`, `PatchedInvitationRequest`, `PaginatedInvitationList`), for superusers
//! (session with CSRF, or a Bearer API token). The pk is the invitation token.
//!
//! As authentik, expired invitations are invisible (not listed, 404). Validation errors are
//! DRF's: HTTP 400 with `{"field": ["message"]}`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::{
    resource::{Body, Cx, ListQuery, Resource},
    users::{api_time, bool_field, not_found_pk, text_field, FieldErrors},
    AppState,
};
use crate::admin::AdminError;
use crate::events::action;
use crate::store::{flow, flow_stage_binding, invitation, policy_binding, user};

/// Longest invitation name (Django's `SlugField` default).
pub const NAME_MAX_LEN: usize = 50;
const INVALID_SLUG: &str =
    "Enter a valid \"slug\" consisting of letters, numbers, underscores or hyphens.";
const INVALID_DATETIME: &str = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].";

/// Invitations an API caller can see: not expired at `now`.
fn visible(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(invitation::Column::Expiring.eq(false))
        .add(invitation::Column::Expires.is_null())
        .add(invitation::Column::Expires.gt(now))
}

/// authentik's `PartialUser`.
fn partial_user(account: &user::Model) -> Value {
    json!({
        "pk": account.id,
        "username": account.username,
        "name": account.name,
        "is_active": account.is_active,
        "last_login": account.last_login.map(api_time),
        "email": account.email,
        "attributes": account.attributes,
        "uid": account.uuid.simple().to_string(),
    })
}

/// authentik's `Flow`.
async fn flow_json(state: &AppState, row: &flow::Model) -> Result<Value, AdminError> {
    let db = &state.services.db;
    let stages: Vec<Uuid> = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(row.id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .all(db)
        .await?
        .into_iter()
        .map(|b| b.stage_id)
        .collect();
    let policies: Vec<Uuid> = policy_binding::Entity::find()
        .filter(policy_binding::Column::TargetId.eq(row.id))
        .order_by_asc(policy_binding::Column::Order)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|b| b.policy_id)
        .collect();
    let background_url = if row.background.is_empty() {
        state.services.settings.default_background.clone()
    } else {
        row.background.clone()
    };
    Ok(json!({
        "pk": row.id,
        "policybindingmodel_ptr_id": row.id,
        "name": row.name,
        "slug": row.slug,
        "title": row.title,
        "designation": row.designation,
        "background": row.background,
        "background_url": background_url,
        "background_themed_urls": null,
        "stages": stages,
        "policies": policies,
        "cache_count": 0,
        "policy_engine_mode": row.policy_engine_mode,
        "compatibility_mode": row.compatibility_mode,
        "export_url": format!("/api/v3/flows/instances/{}/export/", row.slug),
        "layout": row.layout,
        "denied_action": row.denied_action,
        "authentication": row.authentication,
    }))
}

/// authentik's `Invitation`. `created_by` and `flow_obj` are `null` when unset, as authentik
/// sends them.
async fn invitation_json(state: &AppState, row: &invitation::Model) -> Result<Value, AdminError> {
    let db = &state.services.db;
    let created_by = match row.created_by_id {
        Some(id) => user::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let flow_row = match row.flow_id {
        Some(id) => flow::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let flow_obj = match &flow_row {
        Some(f) => flow_json(state, f).await?,
        None => Value::Null,
    };
    Ok(json!({
        "pk": row.id,
        "name": row.name,
        "expires": row.expires.map(api_time),
        "fixed_data": row.fixed_data,
        "created_by": created_by.as_ref().map(partial_user),
        "single_use": row.single_use,
        "flow": row.flow_id,
        "flow_obj": flow_obj,
    }))
}

/// The fields of an `InvitationRequest` that were given (all optional for PATCH).
#[derive(Debug, Default)]
struct InvitationInput {
    name: Option<String>,
    /// `Some(None)`: explicitly cleared.
    expires: Option<Option<DateTime<Utc>>>,
    fixed_data: Option<Map<String, Value>>,
    single_use: Option<bool>,
    flow: Option<Option<Uuid>>,
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "list",
        Value::String(_) => "str",
        Value::Number(_) => "int",
        Value::Bool(_) => "bool",
        Value::Object(_) => "dict",
        Value::Null => "NoneType",
    }
}

async fn validate(
    db: &DatabaseConnection,
    body: &Body,
    partial: bool,
) -> Result<InvitationInput, AdminError> {
    let mut errors = FieldErrors::default();
    let mut input = InvitationInput {
        name: text_field(
            body,
            "name",
            !partial,
            false,
            true,
            NAME_MAX_LEN,
            &mut errors,
        ),
        single_use: bool_field(body, "single_use", &mut errors),
        ..Default::default()
    };
    if let Some(name) = &input.name {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.add("name", INVALID_SLUG);
        }
    }
    input.expires = match body.get("expires") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => match DateTime::parse_from_rfc3339(text.trim()) {
            Ok(time) => Some(Some(time.with_timezone(&Utc))),
            Err(_) => {
                errors.add("expires", INVALID_DATETIME);
                None
            }
        },
        Some(_) => {
            errors.add("expires", INVALID_DATETIME);
            None
        }
    };
    input.fixed_data = match body.get("fixed_data") {
        None => None,
        Some(Value::Object(map)) => Some(map.clone()),
        Some(Value::Null) => {
            errors.add("fixed_data", "This field may not be null.");
            None
        }
        Some(other) => {
            errors.add(
                "fixed_data",
                format!(
                    "Expected a dictionary of items but got type \"{}\".",
                    type_name(other)
                ),
            );
            None
        }
    };
    input.flow = match body.get("flow") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(text)) => match Uuid::parse_str(text.trim()) {
            Ok(id) => match flow::Entity::find_by_id(id).one(db).await {
                Ok(Some(_)) => Some(Some(id)),
                Ok(None) => {
                    errors.add("flow", not_found_pk(text));
                    None
                }
                Err(error) => return Err(error.into()),
            },
            Err(_) => {
                errors.add(
                    "flow",
                    format!("\u{201c}{text}\u{201d} is not a valid UUID."),
                );
                None
            }
        },
        Some(other) => {
            errors.add(
                "flow",
                format!(
                    "Incorrect type. Expected pk value, received {}.",
                    type_name(other)
                ),
            );
            None
        }
    };
    if errors.0.is_empty() {
        Ok(input)
    } else {
        Err(AdminError::Invalid(errors))
    }
}

/// The `{"model": …}` context of model events.
fn model_context(row: &invitation::Model) -> Value {
    json!({"model": {
        "app": "authentik_stages_invitation",
        "model_name": "invitation",
        "pk": row.id.simple().to_string(),
        "name": row.name,
    }})
}

/// A visible invitation by pk (a malformed pk is simply not found).
async fn load(state: &AppState, pk: &str) -> Result<invitation::Model, AdminError> {
    let id = Uuid::parse_str(pk).map_err(|_| AdminError::NotFound)?;
    invitation::Entity::find_by_id(id)
        .filter(visible(Utc::now()))
        .one(&state.services.db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// `stages/invitation/invitations`: authentik's `Invitation`, ordered by name (filter: `name`,
/// or keyflow's `search` over names). Its `pk` is the token to send; it is created by the
/// caller. As in authentik, expired invitations are invisible (not listed, 404).
pub struct InvitationsResource;

#[async_trait::async_trait]
impl Resource for InvitationsResource {
    fn collection(&self) -> String {
        "stages/invitation/invitations".into()
    }

    async fn list(&self, cx: &Cx<'_>, query: &ListQuery) -> Result<Vec<Value>, AdminError> {
        cx.actor.ensure_superuser()?;
        let mut select = invitation::Entity::find().filter(visible(Utc::now()));
        if let Some(name) = query.get("name") {
            select = select.filter(invitation::Column::Name.eq(name.as_str()));
        }
        if let Some(term) = super::resource::filter_text(query, "search") {
            select = select.filter(crate::admin::users::search_condition(
                &[invitation::Column::Name],
                &term,
            ));
        }
        let rows = select
            .order_by_asc(invitation::Column::Name)
            .order_by_asc(invitation::Column::Id)
            .all(&cx.state.services.db)
            .await?;
        super::resource::json_rows(&rows, |row| invitation_json(cx.state, row)).await
    }

    async fn retrieve(&self, cx: &Cx<'_>, id: &str) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let row = load(cx.state, id).await?;
        invitation_json(cx.state, &row).await
    }

    async fn create(&self, cx: &Cx<'_>, body: Body) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let input = validate(&cx.state.services.db, &body, false).await?;
        let row = invitation::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(input.name.unwrap_or_default()),
            expires: Set(input.expires.flatten()),
            expiring: Set(true),
            flow_id: Set(input.flow.flatten()),
            single_use: Set(input.single_use.unwrap_or(false)),
            fixed_data: Set(Value::Object(input.fixed_data.unwrap_or_default())),
            created_by_id: Set(Some(cx.actor.user_id)),
        }
        .insert(&cx.state.services.db)
        .await?;
        let context = model_context(&row);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_CREATED,
            context,
        )
        .await?;
        invitation_json(cx.state, &row).await
    }

    /// PATCH, or PUT (all fields then required).
    async fn update(
        &self,
        cx: &Cx<'_>,
        id: &str,
        body: Body,
        partial: bool,
    ) -> Result<Value, AdminError> {
        cx.actor.ensure_superuser()?;
        let row = load(cx.state, id).await?;
        let input = validate(&cx.state.services.db, &body, partial).await?;
        let mut active = invitation::ActiveModel {
            id: Set(row.id),
            ..Default::default()
        };
        if let Some(name) = input.name {
            active.name = Set(name);
        }
        if let Some(expires) = input.expires {
            active.expires = Set(expires);
        }
        if let Some(fixed_data) = input.fixed_data {
            active.fixed_data = Set(Value::Object(fixed_data));
        }
        if let Some(single_use) = input.single_use {
            active.single_use = Set(single_use);
        }
        if let Some(flow) = input.flow {
            active.flow_id = Set(flow);
        }
        let updated = if active.is_changed() {
            active.update(&cx.state.services.db).await?
        } else {
            row
        };
        let context = model_context(&updated);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_UPDATED,
            context,
        )
        .await?;
        invitation_json(cx.state, &updated).await
    }

    async fn destroy(&self, cx: &Cx<'_>, id: &str, _query: &ListQuery) -> Result<(), AdminError> {
        cx.actor.ensure_superuser()?;
        let row = load(cx.state, id).await?;
        let deleted = invitation::Entity::delete_by_id(row.id)
            .exec(&cx.state.services.db)
            .await?;
        if deleted.rows_affected == 0 {
            return Err(AdminError::NotFound);
        }
        let context = model_context(&row);
        crate::admin::record(
            &cx.state.services.db,
            cx.actor,
            action::MODEL_DELETED,
            context,
        )
        .await
    }
}
