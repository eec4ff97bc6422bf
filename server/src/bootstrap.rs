//! First start: the install secret and (when asked for) the `akadmin` superuser with an API
//! token. Every step checks before it creates, so restarts change nothing. The default flows are
//! embedded blueprints (`crate::blueprints::embedded`); the helpers below build flows in code
//! (tests use them).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::auth::{password::PasswordHasher, tokens};
use crate::engine::EngineError;
use crate::flows::{
    stored, AuthenticationRequirement, DeniedAction, FlowDesignation, FlowLayout,
    InvalidResponseAction, PolicyEngineMode,
};
use crate::stages::StageConfig;
use crate::store::{flow, flow_stage_binding, setting, stage, user};
use crate::users;

pub const DEFAULT_AUTHENTICATION_FLOW: &str = "default-authentication-flow";
pub const DEFAULT_INVALIDATION_FLOW: &str = "default-invalidation-flow";
const SECRET_KEY_SETTING: &str = "secret_key";

/// The install's secret key: the configured one, else the stored one, else a new stored one.
pub async fn secret_key(
    db: &DatabaseConnection,
    configured: Option<&str>,
) -> Result<String, sea_orm::DbErr> {
    if let Some(key) = configured.filter(|k| !k.is_empty()) {
        return Ok(key.to_owned());
    }
    if let Some(row) = setting::Entity::find_by_id(SECRET_KEY_SETTING)
        .one(db)
        .await?
    {
        return Ok(row.value);
    }
    let key = crate::sessions::random_token();
    setting::ActiveModel {
        key: Set(SECRET_KEY_SETTING.into()),
        value: Set(key.clone()),
    }
    .insert(db)
    .await?;
    Ok(key)
}

pub struct FlowSpec<'a> {
    pub slug: &'a str,
    pub name: &'a str,
    pub title: &'a str,
    pub designation: FlowDesignation,
    pub authentication: AuthenticationRequirement,
}

/// Creates a flow unless one with the slug exists; returns its id and whether it was created.
pub async fn ensure_flow(
    db: &DatabaseConnection,
    spec: FlowSpec<'_>,
) -> Result<(Uuid, bool), sea_orm::DbErr> {
    if let Some(existing) = flow::Entity::find()
        .filter(flow::Column::Slug.eq(spec.slug))
        .one(db)
        .await?
    {
        return Ok((existing.id, false));
    }
    let row = flow::ActiveModel {
        id: Set(Uuid::new_v4()),
        slug: Set(spec.slug.into()),
        name: Set(spec.name.into()),
        title: Set(spec.title.into()),
        designation: Set(stored(&spec.designation)),
        authentication: Set(stored(&spec.authentication)),
        policy_engine_mode: Set(stored(&PolicyEngineMode::Any)),
        layout: Set(stored(&FlowLayout::Stacked)),
        denied_action: Set(stored(&DeniedAction::MessageContinue)),
        background: Set(String::new()),
        compatibility_mode: Set(false),
    }
    .insert(db)
    .await?;
    Ok((row.id, true))
}

/// Creates a stage unless one with the name exists; returns its id.
pub async fn ensure_stage(
    db: &DatabaseConnection,
    name: &str,
    config: &StageConfig,
) -> Result<Uuid, sea_orm::DbErr> {
    if let Some(existing) = stage::Entity::find()
        .filter(stage::Column::Name.eq(name))
        .one(db)
        .await?
    {
        return Ok(existing.id);
    }
    let (kind, config) = config.to_columns();
    let row = stage::ActiveModel {
        id: Set(Uuid::new_v4()),
        name: Set(name.into()),
        kind: Set(kind),
        config: Set(config),
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

pub async fn bind(
    db: &DatabaseConnection,
    flow_id: Uuid,
    stage_id: Uuid,
    order: i32,
    re_evaluate: bool,
) -> Result<Uuid, sea_orm::DbErr> {
    let row = flow_stage_binding::ActiveModel {
        id: Set(Uuid::new_v4()),
        flow_id: Set(flow_id),
        stage_id: Set(stage_id),
        order: Set(order),
        evaluate_on_plan: Set(false),
        re_evaluate_policies: Set(re_evaluate),
        invalid_response_action: Set(stored(&InvalidResponseAction::Retry)),
        policy_engine_mode: Set(stored(&PolicyEngineMode::Any)),
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// Creates `akadmin` (and its API token) when a bootstrap password is configured and no such
/// user exists yet. An existing akadmin is never changed.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    password: Option<&str>,
    email: &str,
    token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    if user::Entity::find()
        .filter(user::Column::Username.eq("akadmin"))
        .one(db)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let hash = hasher.hash(password.to_owned()).await?;
    let admin = users::create(
        db,
        users::NewUser {
            username: "akadmin",
            email,
            name: "keyflow Default Admin",
            password_hash: hash,
            is_superuser: true,
            user_type: "internal",
            path: "users",
        },
        now,
    )
    .await?;
    if let Some(key) = token.filter(|t| !t.is_empty()) {
        tokens::create(
            db,
            "keyflow-bootstrap-token",
            key,
            admin.id,
            tokens::INTENT_API,
            "Bootstrap token",
            now,
        )
        .await?;
    }
    tracing::info!("created bootstrap superuser akadmin");
    Ok(())
}
