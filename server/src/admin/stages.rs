//! Stages of every kind (spec §1.3, §4) and prompt fields (§4.14): create and edit through each
//! kind's typed configuration (`stages::StageConfig`), see where a stage is used before deleting
//! it, and keep secrets write-only.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use serde::de::DeserializeOwned;

use super::error::{StageUse, NON_FIELD_ERRORS};
use super::{insert_via, model_context, record, require, update_via, Actor, AdminError};
use crate::blueprints::models::{
    prompts::{prompt_record, PromptStore},
    stages::{stage_record, StageStore},
    Fields, ModelStore,
};
use crate::blueprints::registry;
use crate::events::action;
use crate::policies::PolicyConfig;
use crate::store::{begin_write, flow, flow_stage_binding, prompt, stage};

/// One stage kind as authentik's API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageKind {
    /// The `StageConfig` kind (`stages.kind`).
    pub kind: &'static str,
    /// The path under `/api/v3/stages/`.
    pub path: &'static str,
    /// authentik's API model (`IdentificationStage`, …).
    pub model: &'static str,
    pub component: &'static str,
    pub verbose_name: &'static str,
    /// The configuration attributes authentik's model declares (readable ones).
    pub fields: &'static [&'static str],
    /// Secrets: accepted on write, never sent back.
    pub write_only: &'static [&'static str],
}

impl StageKind {
    /// authentik's `app.model` name, e.g. `authentik_stages_password.passwordstage`.
    pub fn meta_model_name(&self) -> &'static str {
        registry::stage_model(self.kind).unwrap_or_default()
    }

    pub fn verbose_name_plural(&self) -> String {
        format!("{}s", self.verbose_name)
    }
}

/// The fields of authentik's `Prompt` keyflow stores, in authentik's order.
pub const PROMPT_KEYS: &[&str] = &[
    "name",
    "field_key",
    "label",
    "type",
    "required",
    "placeholder",
    "initial_value",
    "order",
    "sub_text",
    "placeholder_expression",
    "initial_value_expression",
];

/// Every stage kind keyflow stores, with authentik's names (from authentik's API schema).
pub const STAGE_KINDS: &[StageKind] = &[
    StageKind {
        kind: "identification",
        path: "identification",
        model: "IdentificationStage",
        component: "ak-stage-identification-form",
        verbose_name: "Identification Stage",
        fields: &[
            "user_fields",
            "password_stage",
            "captcha_stage",
            "case_insensitive_matching",
            "show_matched_user",
            "enrollment_flow",
            "recovery_flow",
            "passwordless_flow",
            "sources",
            "show_source_labels",
            "pretend_user_exists",
            "enable_remember_me",
            "webauthn_stage",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "password",
        path: "password",
        model: "PasswordStage",
        component: "ak-stage-password-form",
        verbose_name: "Password Stage",
        fields: &[
            "backends",
            "configure_flow",
            "failed_attempts_before_cancel",
            "allow_show_password",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "user_login",
        path: "user_login",
        model: "UserLoginStage",
        component: "ak-stage-user-login-form",
        verbose_name: "User Login Stage",
        fields: &[
            "session_duration",
            "terminate_other_sessions",
            "remember_me_offset",
            "network_binding",
            "geoip_binding",
            "remember_device",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "user_logout",
        path: "user_logout",
        model: "UserLogoutStage",
        component: "ak-stage-user-logout-form",
        verbose_name: "User Logout Stage",
        fields: &[],
        write_only: &[],
    },
    StageKind {
        kind: "deny",
        path: "deny",
        model: "DenyStage",
        component: "ak-stage-deny-form",
        verbose_name: "Deny Stage",
        fields: &["deny_message"],
        write_only: &[],
    },
    StageKind {
        kind: "prompt",
        path: "prompt/stages",
        model: "PromptStage",
        component: "ak-stage-prompt-form",
        verbose_name: "Prompt Stage",
        fields: &["fields", "validation_policies"],
        write_only: &[],
    },
    StageKind {
        kind: "user_write",
        path: "user_write",
        model: "UserWriteStage",
        component: "ak-stage-user-write-form",
        verbose_name: "User Write Stage",
        fields: &[
            "user_creation_mode",
            "create_users_as_inactive",
            "create_users_group",
            "user_type",
            "user_path_template",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "user_delete",
        path: "user_delete",
        model: "UserDeleteStage",
        component: "ak-stage-user-delete-form",
        verbose_name: "User Delete Stage",
        fields: &[],
        write_only: &[],
    },
    StageKind {
        kind: "invitation",
        path: "invitation/stages",
        model: "InvitationStage",
        component: "ak-stage-invitation-form",
        verbose_name: "Invitation Stage",
        fields: &["continue_flow_without_invitation"],
        write_only: &[],
    },
    StageKind {
        kind: "email",
        path: "email",
        model: "EmailStage",
        component: "ak-stage-email-form",
        verbose_name: "Email Stage",
        fields: &[
            "use_global_settings",
            "host",
            "port",
            "username",
            "use_tls",
            "use_ssl",
            "timeout",
            "from_address",
            "token_expiry",
            "subject",
            "template",
            "activate_user_on_success",
            "recovery_max_attempts",
            "recovery_cache_timeout",
        ],
        write_only: &["password"],
    },
    StageKind {
        kind: "captcha",
        path: "captcha",
        model: "CaptchaStage",
        component: "ak-stage-captcha-form",
        verbose_name: "Captcha Stage",
        fields: &[
            "public_key",
            "js_url",
            "api_url",
            "request_content_type",
            "interactive",
            "score_min_threshold",
            "score_max_threshold",
            "error_on_invalid_score",
        ],
        write_only: &["private_key"],
    },
    StageKind {
        kind: "consent",
        path: "consent",
        model: "ConsentStage",
        component: "ak-stage-consent-form",
        verbose_name: "Consent Stage",
        fields: &["mode", "consent_expire_in"],
        write_only: &[],
    },
    StageKind {
        kind: "redirect",
        path: "redirect",
        model: "RedirectStage",
        component: "ak-stage-redirect-form",
        verbose_name: "Redirect Stage",
        fields: &["keep_context", "mode", "target_static", "target_flow"],
        write_only: &[],
    },
    StageKind {
        kind: "authenticator_sms",
        path: "authenticator/sms",
        model: "AuthenticatorSMSStage",
        component: "ak-stage-authenticator-sms-form",
        verbose_name: "SMS Authenticator Setup Stage",
        fields: &[
            "configure_flow",
            "friendly_name",
            "provider",
            "from_number",
            "account_sid",
            "auth_type",
            "verify_only",
            "mapping",
        ],
        write_only: &["auth", "auth_password"],
    },
    StageKind {
        kind: "authenticator_duo",
        path: "authenticator/duo",
        model: "AuthenticatorDuoStage",
        component: "ak-stage-authenticator-duo-form",
        verbose_name: "Duo Authenticator Setup Stage",
        fields: &[
            "configure_flow",
            "friendly_name",
            "client_id",
            "api_hostname",
            "admin_integration_key",
        ],
        write_only: &["client_secret", "admin_secret_key"],
    },
    StageKind {
        kind: "authenticator_email",
        path: "authenticator/email",
        model: "AuthenticatorEmailStage",
        component: "ak-stage-authenticator-email-form",
        verbose_name: "Email Authenticator Setup Stage",
        fields: &[
            "configure_flow",
            "friendly_name",
            "use_global_settings",
            "host",
            "port",
            "username",
            "use_tls",
            "use_ssl",
            "timeout",
            "from_address",
            "subject",
            "token_expiry",
            "template",
        ],
        write_only: &["password"],
    },
    StageKind {
        kind: "authenticator_webauthn",
        path: "authenticator/webauthn",
        model: "AuthenticatorWebAuthnStage",
        component: "ak-stage-authenticator-webauthn-form",
        verbose_name: "WebAuthn Authenticator Setup Stage",
        fields: &[
            "configure_flow",
            "friendly_name",
            "user_verification",
            "authenticator_attachment",
            "resident_key_requirement",
            "hints",
            "device_type_restrictions",
            "device_type_restrictions_obj",
            "max_attempts",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "authenticator_totp",
        path: "authenticator/totp",
        model: "AuthenticatorTOTPStage",
        component: "ak-stage-authenticator-totp-form",
        verbose_name: "TOTP Authenticator Setup Stage",
        fields: &["configure_flow", "friendly_name", "digits"],
        write_only: &[],
    },
    StageKind {
        kind: "authenticator_static",
        path: "authenticator/static",
        model: "AuthenticatorStaticStage",
        component: "ak-stage-authenticator-static-form",
        verbose_name: "Static Authenticator Setup Stage",
        fields: &[
            "configure_flow",
            "friendly_name",
            "token_count",
            "token_length",
        ],
        write_only: &[],
    },
    StageKind {
        kind: "authenticator_validate",
        path: "authenticator/validate",
        model: "AuthenticatorValidateStage",
        component: "ak-stage-authenticator-validate-form",
        verbose_name: "Authenticator Validation Stage",
        fields: &[
            "not_configured_action",
            "device_classes",
            "configuration_stages",
            "last_auth_threshold",
            "webauthn_user_verification",
            "webauthn_hints",
            "webauthn_allowed_device_types",
            "webauthn_allowed_device_types_obj",
            "email_otp_throttling_factor",
            "sms_otp_throttling_factor",
            "totp_otp_throttling_factor",
            "static_otp_throttling_factor",
        ],
        write_only: &[],
    },
];

/// The kind entry for a `stages.kind` value.
pub fn stage_kind(kind: &str) -> Option<&'static StageKind> {
    STAGE_KINDS.iter().find(|k| k.kind == kind)
}

/// A stage's configuration as it may be shown: every attribute except the kind's secrets.
pub fn public_config(row: &stage::Model) -> Map<String, Value> {
    let mut fields = stage_record(row).fields;
    fields.remove("name");
    if let Some(kind) = stage_kind(&row.kind) {
        for secret in kind.write_only {
            fields.remove(*secret);
        }
    }
    fields
}

/// The attributes of a stage to set: its `name` and configuration attributes (named as in
/// authentik's `<Kind>StageRequest`; absent ones keep their value, secrets included).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageInput {
    pub name: Option<String>,
    pub config: Fields,
}

fn stage_event(row: &stage::Model) -> Value {
    let model_name = stage_kind(&row.kind)
        .map(|k| k.meta_model_name())
        .and_then(|m| m.split_once('.'))
        .map_or(("authentik_flows", "stage"), |(app, model)| (app, model));
    model_context(
        model_name.0,
        model_name.1,
        &row.id.simple().to_string(),
        &row.name,
    )
}

/// Stages, of one kind or all, whose name contains `search` (case-insensitive); by name.
pub async fn list_stages(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: Option<&str>,
    search: Option<&str>,
) -> Result<Vec<stage::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut select = stage::Entity::find();
    if let Some(kind) = kind {
        select = select.filter(stage::Column::Kind.eq(kind));
    }
    let mut rows = select.order_by_asc(stage::Column::Name).all(db).await?;
    if let Some(search) = search.map(str::to_lowercase) {
        rows.retain(|s| s.name.to_lowercase().contains(&search));
    }
    Ok(rows)
}

/// The stage `id` (of `kind`, when given: another kind's stage is not found there).
pub async fn get_stage(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    kind: Option<&str>,
) -> Result<stage::Model, AdminError> {
    actor.ensure_superuser()?;
    find_stage(db, id, kind).await
}

async fn find_stage<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: Uuid,
    kind: Option<&str>,
) -> Result<stage::Model, AdminError> {
    stage::Entity::find_by_id(id)
        .one(db)
        .await?
        .filter(|row| kind.is_none_or(|k| row.kind == k))
        .ok_or(AdminError::NotFound)
}

async fn ensure_stage_name_free<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), AdminError> {
    match stage::Entity::find()
        .filter(stage::Column::Name.eq(name))
        .one(db)
        .await?
    {
        Some(other) if Some(other.id) != except => Err(AdminError::field(
            "name",
            "stage with this name already exists.",
        )),
        _ => Ok(()),
    }
}

/// Deserialises `config` into `T`, failing on the first bad attribute by name.
fn typed_check<T: DeserializeOwned>(config: &Fields) -> Result<(), AdminError> {
    serde_path_to_error::deserialize::<_, T>(Value::Object(config.clone()))
        .map(drop)
        .map_err(|e| {
            let path = e.path().to_string();
            let field = path.split(['.', '[']).next().unwrap_or_default();
            let message = e.into_inner().to_string();
            if let Some(missing) = super::error::missing_field(&message) {
                return AdminError::field(missing, "This field is required.");
            }
            let field = if field.is_empty() {
                NON_FIELD_ERRORS
            } else {
                field
            };
            AdminError::field(field, message)
        })
}

/// Checks a configuration against the kind's own struct, so an error names its attribute
/// (through `StageConfig`'s kind tag serde loses the path).
fn check_config(kind: &str, fields: &Fields) -> Result<(), AdminError> {
    use crate::stages::*;
    let mut config = fields.clone();
    config.remove("name");
    match kind {
        "identification" => typed_check::<identification::IdentificationStage>(&config),
        "password" => typed_check::<password::PasswordStage>(&config),
        "user_login" => typed_check::<user_login::UserLoginStage>(&config),
        "user_logout" => typed_check::<user_logout::UserLogoutStage>(&config),
        "deny" => typed_check::<deny::DenyStage>(&config),
        "prompt" => typed_check::<prompt::PromptStage>(&config),
        "user_write" => typed_check::<user_write::UserWriteStage>(&config),
        "user_delete" => typed_check::<user_delete::UserDeleteStage>(&config),
        "invitation" => typed_check::<invitation::InvitationStage>(&config),
        "email" => typed_check::<email::EmailStage>(&config),
        "captcha" => typed_check::<captcha::CaptchaStage>(&config),
        "consent" => typed_check::<consent::ConsentStage>(&config),
        "redirect" => typed_check::<redirect::RedirectStage>(&config),
        "authenticator_sms" => typed_check::<authenticator_sms::AuthenticatorSmsStage>(&config),
        "authenticator_duo" => typed_check::<authenticator_duo::AuthenticatorDuoStage>(&config),
        "authenticator_email" => {
            typed_check::<authenticator_email::AuthenticatorEmailStage>(&config)
        }
        "authenticator_webauthn" => {
            typed_check::<authenticator_webauthn::AuthenticatorWebauthnStage>(&config)
        }
        "authenticator_totp" => typed_check::<authenticator_totp::AuthenticatorTotpStage>(&config),
        "authenticator_static" => {
            typed_check::<authenticator_static::AuthenticatorStaticStage>(&config)
        }
        "authenticator_validate" => {
            typed_check::<authenticator_validate::AuthenticatorValidateStage>(&config)
        }
        _ => Ok(()),
    }
}

fn stage_fields(input: StageInput) -> Fields {
    let mut fields = input.config;
    fields.remove("name");
    if let Some(name) = input.name {
        fields.insert("name".into(), Value::String(name));
    }
    fields
}

/// Creates a stage of `kind`: the configuration is deserialised into the kind's typed struct
/// (defaults filled in; a bad value fails on its field).
pub async fn create_stage(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: &str,
    input: StageInput,
) -> Result<stage::Model, AdminError> {
    actor.ensure_superuser()?;
    let kind = stage_kind(kind).ok_or(AdminError::NotFound)?;
    let fields = stage_fields(input);
    require(&fields, &["name"])?;
    check_config(kind.kind, &fields)?;
    let tx = begin_write(db).await?;
    ensure_stage_name_free(&tx, &crate::blueprints::models::text(&fields, "name"), None).await?;
    let pk = insert_via(&tx, &StageStore { kind: kind.kind }, fields).await?;
    tx.commit().await?;
    let row = find_stage(db, super::uuid_of(&pk).unwrap_or_default(), None).await?;
    record(db, actor, action::MODEL_CREATED, stage_event(&row)).await?;
    Ok(row)
}

/// Changes the stage `id` of `kind`. Attributes not given keep their value; that includes
/// secrets, so an edit form that never shows them does not erase them.
pub async fn update_stage(
    db: &DatabaseConnection,
    actor: &Actor,
    kind: &str,
    id: Uuid,
    input: StageInput,
    partial: bool,
) -> Result<stage::Model, AdminError> {
    actor.ensure_superuser()?;
    let kind = stage_kind(kind).ok_or(AdminError::NotFound)?;
    let fields = stage_fields(input);
    if !partial {
        require(&fields, &["name"])?;
    }
    let tx = begin_write(db).await?;
    let current = find_stage(&tx, id, Some(kind.kind)).await?;
    if let Some(Value::String(name)) = fields.get("name") {
        ensure_stage_name_free(&tx, name, Some(id)).await?;
    }
    let mut merged = stage_record(&current).fields;
    merged.extend(fields.clone());
    check_config(kind.kind, &merged)?;
    update_via(
        &tx,
        &StageStore { kind: kind.kind },
        stage_record(&current),
        fields,
    )
    .await?;
    tx.commit().await?;
    let row = find_stage(db, id, None).await?;
    record(db, actor, action::MODEL_UPDATED, stage_event(&row)).await?;
    Ok(row)
}

/// Where the stage `id` is bound, by flow slug and order.
pub async fn stage_uses<C: sea_orm::ConnectionTrait>(
    db: &C,
    id: Uuid,
) -> Result<Vec<StageUse>, AdminError> {
    let bindings = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::StageId.eq(id))
        .order_by_asc(flow_stage_binding::Column::Order)
        .all(db)
        .await?;
    let mut uses = Vec::with_capacity(bindings.len());
    for binding in bindings {
        if let Some(flow) = flow::Entity::find_by_id(binding.flow_id).one(db).await? {
            uses.push(StageUse {
                binding: binding.id,
                flow_slug: flow.slug,
                flow_name: flow.name,
                order: binding.order,
            });
        }
    }
    uses.sort_by(|a, b| (&a.flow_slug, a.order).cmp(&(&b.flow_slug, b.order)));
    Ok(uses)
}

/// The flows a stage is bound in (authentik's `flow_set`), by slug, each once.
pub async fn stage_flows(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Vec<flow::Model>, AdminError> {
    let flow_ids: Vec<Uuid> = flow_stage_binding::Entity::find()
        .filter(flow_stage_binding::Column::StageId.eq(id))
        .all(db)
        .await?
        .into_iter()
        .map(|b| b.flow_id)
        .collect();
    if flow_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(flow::Entity::find()
        .filter(flow::Column::Id.is_in(flow_ids))
        .order_by_asc(flow::Column::Slug)
        .all(db)
        .await?)
}

/// Where the stage `id` is used (for the confirmation before deleting it).
pub async fn used_by(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Vec<StageUse>, AdminError> {
    actor.ensure_superuser()?;
    find_stage(db, id, None).await?;
    stage_uses(db, id).await
}

/// Deletes the stage `id` (of `kind`, when given). A stage still bound in a flow is refused
/// with [`AdminError::StageInUse`] unless `force`: then its bindings (and their policy
/// bindings) go too, and other stages' references to it are cleared.
pub async fn delete_stage(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    kind: Option<&str>,
    force: bool,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = find_stage(&tx, id, kind).await?;
    let uses = stage_uses(&tx, id).await?;
    if !uses.is_empty() && !force {
        return Err(AdminError::StageInUse {
            stage: current.name,
            used_by: uses,
        });
    }
    let kind: &'static str = stage_kind(&current.kind).map_or("deny", |k| k.kind);
    StageStore { kind }.delete(&tx, &json!(id)).await?;
    tx.commit().await?;
    record(db, actor, action::MODEL_DELETED, stage_event(&current)).await?;
    Ok(())
}

// --- prompt fields -------------------------------------------------------------------------

fn prompt_event(row: &prompt::Model) -> Value {
    model_context(
        "authentik_stages_prompt",
        "prompt",
        &row.id.simple().to_string(),
        &row.name,
    )
}

/// Prompt fields whose name, field key or label contains `search`; by `order`, then name.
pub async fn list_prompts(
    db: &DatabaseConnection,
    actor: &Actor,
    search: Option<&str>,
) -> Result<Vec<prompt::Model>, AdminError> {
    actor.ensure_superuser()?;
    let mut rows = prompt::Entity::find()
        .order_by_asc(prompt::Column::Order)
        .order_by_asc(prompt::Column::Name)
        .all(db)
        .await?;
    if let Some(search) = search.map(str::to_lowercase) {
        rows.retain(|p| {
            [&p.name, &p.field_key, &p.label]
                .iter()
                .any(|v| v.to_lowercase().contains(&search))
        });
    }
    Ok(rows)
}

pub async fn get_prompt(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<prompt::Model, AdminError> {
    actor.ensure_superuser()?;
    prompt::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)
}

/// The prompt stages that show the prompt `id` (authentik's `promptstage_set`).
pub async fn prompt_stages(
    db: &DatabaseConnection,
    id: Uuid,
) -> Result<Vec<stage::Model>, AdminError> {
    let wanted = json!(id);
    Ok(stage::Entity::find()
        .filter(stage::Column::Kind.eq("prompt"))
        .order_by_asc(stage::Column::Name)
        .all(db)
        .await?
        .into_iter()
        .filter(|s| {
            s.config
                .get("fields")
                .and_then(Value::as_array)
                .is_some_and(|fields| {
                    fields
                        .iter()
                        .any(|f| super::uuid_of(f) == super::uuid_of(&wanted))
                })
        })
        .collect())
}

/// Compiles the placeholder and initial value when they are expressions, so a typo is reported
/// (with line and column) when saving rather than shown as raw text at someone's enrollment.
fn check_prompt_expressions(fields: &Fields) -> Result<(), AdminError> {
    let mut errors = super::FieldErrors::default();
    for (text_key, flag_key) in [
        ("placeholder", "placeholder_expression"),
        ("initial_value", "initial_value_expression"),
    ] {
        if !crate::blueprints::models::flag(fields, flag_key) {
            continue;
        }
        let expression = crate::blueprints::models::text(fields, text_key);
        if expression.trim().is_empty() {
            continue;
        }
        let config = PolicyConfig::from_attrs("expression", json!({ "expression": expression }));
        match config.map(|c| c.validate()) {
            Ok(Ok(())) => {}
            Ok(Err(problems)) => {
                for (_, why) in problems {
                    errors.add(text_key, why);
                }
            }
            Err(error) => errors.add(text_key, error.to_string()),
        }
    }
    errors.into_result()
}

async fn ensure_prompt_name_free<C: sea_orm::ConnectionTrait>(
    db: &C,
    name: &str,
    except: Option<Uuid>,
) -> Result<(), AdminError> {
    match prompt::Entity::find()
        .filter(prompt::Column::Name.eq(name))
        .one(db)
        .await?
    {
        Some(other) if Some(other.id) != except => Err(AdminError::field(
            "name",
            "prompt with this name already exists.",
        )),
        _ => Ok(()),
    }
}

/// Creates a prompt field from authentik's `PromptRequest` attributes. Required: `name`,
/// `field_key`, `label`, `type`.
pub async fn create_prompt(
    db: &DatabaseConnection,
    actor: &Actor,
    fields: Fields,
) -> Result<prompt::Model, AdminError> {
    actor.ensure_superuser()?;
    require(&fields, &["name", "field_key", "label", "type"])?;
    let normalised = PromptStore.normalise(fields.clone())?;
    check_prompt_expressions(&normalised)?;
    let tx = begin_write(db).await?;
    ensure_prompt_name_free(&tx, &crate::blueprints::models::text(&fields, "name"), None).await?;
    let pk = insert_via(&tx, &PromptStore, fields).await?;
    tx.commit().await?;
    let row = prompt::Entity::find_by_id(super::uuid_of(&pk).unwrap_or_default())
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_CREATED, prompt_event(&row)).await?;
    Ok(row)
}

pub async fn update_prompt(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    fields: Fields,
    partial: bool,
) -> Result<prompt::Model, AdminError> {
    actor.ensure_superuser()?;
    if !partial {
        require(&fields, &["name", "field_key", "label", "type"])?;
    }
    let tx = begin_write(db).await?;
    let current = prompt::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    if let Some(Value::String(name)) = fields.get("name") {
        ensure_prompt_name_free(&tx, name, Some(id)).await?;
    }
    let mut merged = prompt_record(&current).fields;
    merged.extend(fields.clone());
    check_prompt_expressions(&PromptStore.normalise(merged)?)?;
    update_via(&tx, &PromptStore, prompt_record(&current), fields).await?;
    tx.commit().await?;
    let row = prompt::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AdminError::NotFound)?;
    record(db, actor, action::MODEL_UPDATED, prompt_event(&row)).await?;
    Ok(row)
}

/// Deletes a prompt field and takes it out of the prompt stages that showed it.
pub async fn delete_prompt(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(), AdminError> {
    actor.ensure_superuser()?;
    let tx = begin_write(db).await?;
    let current = prompt::Entity::find_by_id(id)
        .one(&tx)
        .await?
        .ok_or(AdminError::NotFound)?;
    for row in stage::Entity::find()
        .filter(stage::Column::Kind.eq("prompt"))
        .all(&tx)
        .await?
    {
        let mut config = row.config.clone();
        let Some(Value::Array(items)) = config.get_mut("fields") else {
            continue;
        };
        let before = items.len();
        items.retain(|item| super::uuid_of(item) != Some(id));
        if items.len() != before {
            stage::Entity::update(stage::ActiveModel {
                id: Set(row.id),
                config: Set(config),
                ..Default::default()
            })
            .exec(&tx)
            .await?;
        }
    }
    PromptStore.delete(&tx, &json!(id)).await?;
    tx.commit().await?;
    record(db, actor, action::MODEL_DELETED, prompt_event(&current)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_config_kind_has_an_api_entry() {
        for (model, kind) in registry::STAGE_MODELS {
            let entry = stage_kind(kind).unwrap_or_else(|| panic!("{kind} has no API entry"));
            assert_eq!(entry.meta_model_name(), *model);
            assert!(!entry.fields.contains(&"name"));
        }
        assert_eq!(STAGE_KINDS.len(), registry::STAGE_MODELS.len());
        let mut paths: Vec<_> = STAGE_KINDS.iter().map(|k| k.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), STAGE_KINDS.len(), "paths are distinct");
    }

    #[test]
    fn secrets_are_declared_write_only() {
        for (kind, secret) in [
            ("email", "password"),
            ("captcha", "private_key"),
            ("authenticator_sms", "auth"),
            ("authenticator_duo", "client_secret"),
            ("authenticator_duo", "admin_secret_key"),
        ] {
            let entry = stage_kind(kind).unwrap();
            assert!(entry.write_only.contains(&secret), "{kind}.{secret}");
            assert!(!entry.fields.contains(&secret), "{kind}.{secret}");
        }
    }

    #[test]
    fn prompt_expressions_are_compiled_with_positions() {
        let mut fields = Fields::new();
        fields.insert("placeholder".into(), json!("return 1 +"));
        fields.insert("placeholder_expression".into(), json!(true));
        let Err(AdminError::Invalid(errors)) = check_prompt_expressions(&fields) else {
            panic!("a syntax error passed");
        };
        let message = &errors.0["placeholder"][0];
        assert!(message.contains("line 1"), "{message}");
        fields.insert("placeholder_expression".into(), json!(false));
        assert!(
            check_prompt_expressions(&fields).is_ok(),
            "plain text is not compiled"
        );
        fields.insert(
            "initial_value".into(),
            json!("return request.user.username"),
        );
        fields.insert("initial_value_expression".into(), json!(true));
        assert!(check_prompt_expressions(&fields).is_ok());
    }
}
