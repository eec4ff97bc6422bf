//! Flows and their stage bindings (spec §1.1, §1.2): list, create, edit, delete, and the atomic
//! reorder the editor's drag-and-drop and keyboard moves use.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{insert_via, model_context, record, require, update_via, versions, Actor, AdminError};
use crate::blueprints::models::{
    flows::{binding_record, flow_record, BindingStore, FlowStore},
    Fields, ModelStore,
};
use crate::events::action;
use crate::flows::{
    AuthenticationRequirement, DeniedAction, FlowDesignation, FlowLayout, InvalidResponseAction,
    PolicyEngineMode,
};
use crate::store::{begin_write, flow, flow_stage_binding, policy_binding};

/// The attributes of a flow to set; `None` leaves a field as it is (all are required on create
/// except those with authentik's defaults). Field names are authentik's `FlowRequest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub designation: Option<FlowDesignation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<AuthenticationRequirement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_engine_mode: Option<PolicyEngineMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<FlowLayout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_action: Option<DeniedAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility_mode: Option<bool>,
}

/// Which flows to list. `search` matches name, slug and title (case-insensitive); `ordering` is
/// a field name (`slug`, `name`, `title`, `designation`), `-` first for descending.
#[derive(Clone, Debug, Default)]
pub struct FlowQuery {
    pub search: Option<String>,
    pub designation: Option<String>,
    pub slug: Option<String>,
    pub ordering: Option<String>,
}

/// A flow's stage and policy lists, as authentik's `Flow` shows them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowLinks {
    /// Stage ids in binding order.
    pub stages: Vec<Uuid>,
    /// Policies bound directly to the flow, in binding order.
    pub policies: Vec<Uuid>,
}

fn to_fields<T: Serialize>(input: &T) -> Fields {
    match serde_json::to_value(input) {
        Ok(Value::Object(map)) => map,
        _ => Fields::new(),
    }
}

fn flow_event(row: &flow::Model) -> Value {
    model_context(
        "authentik_flows",
        "flow",
        &row.id.simple().to_string(),
        &row.name,
    )
}

fn binding_event(row: &flow_stage_binding::Model) -> Value {
    model_context(
        "authentik_flows",
        "flowstagebinding",
        &row.id.simple().to_string(),
        &format!("Flow-stage binding #{} to {}", row.order, row.flow_id),
    )
}

/// Flows matching `query`, ordered by slug unless it says otherwise.
pub async fn list_flows(
    db: &DatabaseConnection,
    actor: &Actor,
    query: &FlowQuery,
) -> Result<Vec<flow::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = flow::Entity::find();
    if let Some(designation) = &query.designation {
        select = select.filter(flow::Column::Designation.eq(designation.as_str()));
    }
    if let Some(slug) = &query.slug {
        select = select.filter(flow::Column::Slug.eq(slug.as_str()));
    }
    let mut rows = select.order_by_asc(flow::Column::Slug).all(db).await?;
    if let Some(search) = query.search.as_deref().map(str::to_lowercase) {
        rows.retain(|f| {
            [&f.name, &f.slug, &f.title]
                .iter()
                .any(|v| v.to_lowercase().contains(&search))
        });
    }
    if let Some(ordering) = query.ordering.as_deref() {
        let (descending, field) = match ordering.strip_prefix('-') {
            Some(field) => (true, field),
            None => (false, ordering),
        };
        let key = |f: &flow::Model| -> String {
            match field {
                "name" => f.name.clone(),
                "title" => f.title.clone(),
                "designation" => f.designation.clone(),
                _ => f.slug.clone(),
            }
        };
        rows.sort_by_key(key);
        if descending {
            rows.reverse();
        }
    }
    Ok(rows)
}

async fn flow_by_slug<C: sea_orm::ConnectionTrait>(
    db: &C,
    slug: &str,
) -> Result<flow::Model, AdminError> {
    flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// The flow `slug`.
pub async fn get_flow(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
) -> Result<flow::Model, AdminError> {
    actor.ensure_superuser()?;
    flow_by_slug(db, slug).await
}

/// The stages and directly bound policies of `flow_id`.
pub async fn flow_links(db: &DatabaseConnection, flow_id: Uuid) -> Result<FlowLinks, AdminError> {
    let stages = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow_id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|b| b.stage_id)
        .collect();
    let policies = policy_binding::Entity::find()
        .filter(policy_binding::Column::TargetId.eq(flow_id))
        .order_by_asc(policy_binding::Column::Order)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|b| b.policy_id)
        .collect();
    Ok(FlowLinks { stages, policies })
}

/// authentik's slug rule and length limits, with DRF's messages.
fn check_flow_input(input: &FlowInput) -> Result<(), AdminError> {
    let mut errors = super::FieldErrors::default();
    if let Some(slug) = &input.slug {
        if slug.is_empty() {
            errors.add("slug", "This field may not be blank.");
        } else if !slug
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            errors.add(
                "slug",
                "Enter a valid \u{201c}slug\u{201d} consisting of letters, numbers, underscores or hyphens.",
            );
        }
    }
    for (key, value) in [("name", &input.name), ("title", &input.title)] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            errors.add(key, "This field may not be blank.");
        }
    }
    errors.into_result()
}

async fn ensure_slug_free<C: sea_orm::ConnectionTrait>(
    db: &C,
    slug: &str,
    except: Option<Uuid>,
) -> Result<(), AdminError> {
    let other = flow::Entity::find()
        .filter(flow::Column::Slug.eq(slug))
        .one(db)
        .await?;
    match other {
        Some(other) if Some(other.id) != except => Err(AdminError::field(
            "slug",
            "flow with this slug already exists.",
        )),
        _ => Ok(()),
    }
}

/// Creates a flow. Required: `name`, `slug`, `title`, `designation`.
pub async fn create_flow(
    db: &DatabaseConnection,
    actor: &Actor,
    input: FlowInput,
) -> Result<flow::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = to_fields(&input);
    require(&fields, &["name", "slug", "title", "designation"])?;
    check_flow_input(&input)?;
    let tx = begin_write(db).await?;
    ensure_slug_free(&tx, input.slug.as_deref().unwrap_or_default(), None).await?;
    let pk = insert_via(&tx, &FlowStore, fields).await?;
    tx.commit().await?;
    let row = flow::Entity::find_by_id(super::uuid_of(&pk).unwrap_or_default())
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_CREATED, flow_event(&row)).await?;
    versions::record_version(db, row.id, Some(actor), "Flow created", false).await?;
    Ok(row)
}

/// Changes the flow `slug`. With `partial` false (a PUT) the required fields must be given.
pub async fn update_flow(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
    input: FlowInput,
    partial: bool,
) -> Result<flow::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = to_fields(&input);
    if !partial {
        require(&fields, &["name", "slug", "title", "designation"])?;
    }
    check_flow_input(&input)?;
    let tx = begin_write(db).await?;
    let current = flow_by_slug(&tx, slug).await?;
    if let Some(new_slug) = &input.slug {
        ensure_slug_free(&tx, new_slug, Some(current.id)).await?;
    }
    update_via(&tx, &FlowStore, flow_record(&current), fields).await?;
    tx.commit().await?;
    let row = flow::Entity::find_by_id(current.id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_UPDATED, flow_event(&row)).await?;
    versions::record_version(db, row.id, Some(actor), "Flow edited", false).await?;
    Ok(row)
}

/// Deletes the flow `slug` with its stage bindings and the policy bindings on both (the stages
/// themselves stay: other flows may use them).
pub async fn delete_flow(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = flow_by_slug(&tx, slug).await?;
    FlowStore
        .delete(&tx, &serde_json::json!(current.id))
        .await?;
    tx.commit().await?;
    record(db, actor, action::MODEL_DELETED, flow_event(&current)).await?;
    Ok(())
}

// --- stage bindings ------------------------------------------------------------------------

/// The attributes of a flow-stage binding to set (authentik's `FlowStageBindingRequest`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingInput {
    /// The flow's pk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluate_on_plan: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub re_evaluate_policies: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_response_action: Option<InvalidResponseAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_engine_mode: Option<PolicyEngineMode>,
}

/// Which bindings to list: of one flow and/or one stage; ordered by `order` (then pk).
#[derive(Clone, Debug, Default)]
pub struct BindingQuery {
    pub target: Option<Uuid>,
    pub stage: Option<Uuid>,
    /// `order` (default) or `-order`.
    pub descending: bool,
}

pub async fn list_bindings(
    db: &DatabaseConnection,
    actor: &Actor,
    query: &BindingQuery,
) -> Result<Vec<flow_stage_binding::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = flow_stage_binding::Entity::find();
    if let Some(target) = query.target {
        select = select.filter(flow_stage_binding::Column::FlowId.eq(target));
    }
    if let Some(stage) = query.stage {
        select = select.filter(flow_stage_binding::Column::StageId.eq(stage));
    }
    let mut rows = select
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Id)
        .all(db)
        .await?;
    if query.descending {
        rows.reverse();
    }
    Ok(rows)
}

pub async fn get_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<flow_stage_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    flow_stage_binding::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// Binds a stage to a flow. Required: `target`, `stage`, `order`.
pub async fn create_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    input: BindingInput,
) -> Result<flow_stage_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = to_fields(&input);
    require(&fields, &["target", "stage", "order"])?;
    let tx = begin_write(db).await?;
    let pk = insert_via(&tx, &BindingStore, fields).await?;
    tx.commit().await?;
    let row = flow_stage_binding::Entity::find_by_id(super::uuid_of(&pk).unwrap_or_default())
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_CREATED, binding_event(&row)).await?;
    versions::record_version(db, row.flow_id, Some(actor), "Stage bound", false).await?;
    Ok(row)
}

pub async fn update_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    input: BindingInput,
    partial: bool,
) -> Result<flow_stage_binding::Model, AdminError> {
    actor.ensure_superuser()?;
    let fields = to_fields(&input);
    if !partial {
        require(&fields, &["target", "stage", "order"])?;
    }
    let tx = begin_write(db).await?;
    let current = flow_stage_binding::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    update_via(&tx, &BindingStore, binding_record(&current), fields).await?;
    tx.commit().await?;
    let row = flow_stage_binding::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_UPDATED, binding_event(&row)).await?;
    versions::record_version(db, row.flow_id, Some(actor), "Binding edited", false).await?;
    if current.flow_id != row.flow_id {
        versions::record_version(
            db,
            current.flow_id,
            Some(actor),
            "Binding moved away",
            false,
        )
        .await?;
    }
    Ok(row)
}

/// Removes a binding and the policy bindings on it (the stage stays).
pub async fn delete_binding(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = flow_stage_binding::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    BindingStore.delete(&tx, &serde_json::json!(id)).await?;
    tx.commit().await?;
    record(db, actor, action::MODEL_DELETED, binding_event(&current)).await?;
    versions::record_version(db, current.flow_id, Some(actor), "Binding removed", false).await?;
    Ok(())
}

/// Field for reorder errors (the request's list of binding pks).
pub const REORDER_FIELD: &str = "bindings";
/// Spacing of the orders a reorder writes (room to insert between them later).
pub const REORDER_STEP: i32 = 10;

/// Puts the flow's bindings in the order of `order` (binding pks, first runs first), writing
/// orders 10, 20, 30, … in one transaction. The list must name exactly the flow's current
/// bindings, each once: an editor showing a stale list gets an error, not a half-applied move.
/// Returns the bindings in their new order.
pub async fn reorder_bindings(
    db: &DatabaseConnection,
    actor: &Actor,
    slug: &str,
    order: &[Uuid],
) -> Result<Vec<flow_stage_binding::Model>, AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let flow = flow_by_slug(&tx, slug).await?;
    let current = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .all(&tx)
        .await?;
    let stored: HashSet<Uuid> = current.iter().map(|b| b.id).collect();
    let given: HashSet<Uuid> = order.iter().copied().collect();
    if given.len() != order.len() {
        return Err(AdminError::field(
            REORDER_FIELD,
            "A binding is listed more than once.",
        ));
    }
    if given != stored {
        let unknown = given.difference(&stored).count();
        let missing = stored.difference(&given).count();
        return Err(AdminError::field(
            REORDER_FIELD,
            format!(
                "The list does not match the flow's bindings ({unknown} unknown, {missing} missing): \
                 the flow was changed elsewhere; reload it and try again."
            ),
        ));
    }
    for (position, id) in (1..).zip(order) {
        flow_stage_binding::Entity::update(flow_stage_binding::ActiveModel {
            id: Set(*id),
            order: Set(position * REORDER_STEP),
            ..Default::default()
        })
        .exec(&tx)
        .await?;
    }
    tx.commit().await?;
    record(
        db,
        actor,
        action::MODEL_UPDATED,
        model_context(
            "authentik_flows",
            "flow",
            &flow.id.simple().to_string(),
            &flow.name,
        ),
    )
    .await?;
    versions::record_version(db, flow.id, Some(actor), "Bindings reordered", false).await?;
    let rows = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::FlowId.eq(flow.id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .order_by_asc(flow_stage_binding::Column::Id)
        .all(db)
        .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{versions, FieldErrors};
    use crate::stages::{deny::DenyStage, StageConfig};
    use crate::store::stage;
    use sea_orm::ActiveModelTrait;

    async fn fresh_db() -> (DatabaseConnection, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("admin.db").display()
        );
        (crate::store::connect_and_migrate(&url).await.unwrap(), dir)
    }

    fn admin(is_superuser: bool) -> Actor {
        Actor {
            user_id: 1,
            username: "root".into(),
            is_superuser,
            client_ip: "127.0.0.1".into(),
            session: None,
            origin: "http://localhost".into(),
        }
    }

    async fn deny_stage(db: &DatabaseConnection, name: &str) -> Uuid {
        let (kind, config) = StageConfig::Deny(DenyStage {
            deny_message: name.into(),
        })
        .to_columns();
        stage::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.into()),
            kind: Set(kind),
            config: Set(config),
        }
        .insert(db)
        .await
        .unwrap()
        .id
    }

    fn flow_input(slug: &str) -> FlowInput {
        FlowInput {
            name: Some(slug.into()),
            slug: Some(slug.into()),
            title: Some(slug.into()),
            designation: Some(FlowDesignation::Authentication),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn only_superusers_act_and_inputs_fail_by_field() {
        let (db, _dir) = fresh_db().await;
        let refused = create_flow(&db, &admin(false), flow_input("f")).await;
        assert!(matches!(refused, Err(AdminError::Forbidden)), "{refused:?}");
        let missing = create_flow(
            &db,
            &admin(true),
            FlowInput {
                slug: Some("x y".into()),
                ..Default::default()
            },
        )
        .await;
        let Err(AdminError::Invalid(FieldErrors(errors))) = missing else {
            panic!("{missing:?}");
        };
        assert!(errors.contains_key("name") && errors.contains_key("designation"));
        assert!(list_flows(&db, &admin(true), &FlowQuery::default())
            .await
            .unwrap()
            .is_empty());
    }

    #[tokio::test]
    async fn reorder_is_all_or_nothing_and_versioned() {
        let (db, _dir) = fresh_db().await;
        let actor = admin(true);
        let flow = create_flow(&db, &actor, flow_input("f")).await.unwrap();
        let mut bindings = Vec::new();
        for (order, name) in [(10, "a"), (20, "b"), (30, "c")] {
            let stage = deny_stage(&db, name).await;
            let input = BindingInput {
                target: Some(flow.id),
                stage: Some(stage),
                order: Some(order),
                ..Default::default()
            };
            bindings.push(create_binding(&db, &actor, input).await.unwrap().id);
        }
        let stale = reorder_bindings(&db, &actor, "f", &[bindings[2], bindings[0]]).await;
        assert!(matches!(stale, Err(AdminError::Invalid(_))), "{stale:?}");
        let orders = |rows: Vec<flow_stage_binding::Model>| {
            rows.into_iter()
                .map(|b| (b.id, b.order))
                .collect::<Vec<_>>()
        };
        let query = BindingQuery {
            target: Some(flow.id),
            ..Default::default()
        };
        let before = orders(list_bindings(&db, &actor, &query).await.unwrap());
        assert_eq!(
            before,
            vec![(bindings[0], 10), (bindings[1], 20), (bindings[2], 30)]
        );
        let moved = reorder_bindings(&db, &actor, "f", &[bindings[2], bindings[0], bindings[1]])
            .await
            .unwrap();
        assert_eq!(
            orders(moved),
            vec![(bindings[2], 10), (bindings[0], 20), (bindings[1], 30)]
        );
        let history = versions::list_versions(&db, &actor, "f").await.unwrap();
        // Created, three bindings, one reorder; the refused reorder left no trace.
        assert_eq!(history.len(), 5);
        assert_eq!(history[0].summary, "Bindings reordered");
        assert_eq!(history[0].author_name, "root");
    }
}
