//! Recovery links made by an administrator (authentik's `POST core/users/<pk>/recovery/`): a
//! link into the recovery flow for one account, for the admin to hand over when the person
//! cannot get through "Forgot password?" on their own.
//!
//! The flow is planned for the account as if it had identified itself (its pending user), and
//! the leading stages that only find and verify the account (identification, email) are left
//! out: the link replaces them. Whatever comes after still runs: the account's second factor
//! (the default recovery flow asks for it), the new password and its policy. Like an emailed
//! link, it opens on a "Continue" step that spends it (a mail scanner that fetches the link does
//! not use it up), works once, and expires.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::error::NON_FIELD_ERRORS;
use super::{model_context, record, Actor, AdminError};
use crate::engine::context::{FlowContext, PendingUser};
use crate::engine::plan::{FlowPlan, PlannedStage};
use crate::engine::planner::{self, Planned};
use crate::engine::request::RequestInfo;
use crate::engine::EngineServices;
use crate::events::action;
use crate::flow_tokens::{self, NewFlowToken};
use crate::mail::{MailError, OutgoingMail};
use crate::sessions::ActiveSession;
use crate::stages::consent::{self, ConsentStage};
use crate::stages::email::EmailStage;
use crate::stages::StageConfig;
use crate::store::{flow, flow_stage_binding, stage, user};

/// How long a link made by an administrator works (authentik's default token expiry).
pub const LINK_VALIDITY: Duration = Duration::minutes(30);
/// The slug preferred when several flows are recovery flows.
pub const DEFAULT_RECOVERY_FLOW: &str = "default-recovery-flow";
/// The stage kinds a link stands in for, when they lead the plan.
const REPLACED_KINDS: &[&str] = &["identification", "email"];
const CONSENT_HEADER: &str = "Continue to set a new password for your account.";

/// A link made for an account.
#[derive(Clone, Debug)]
pub struct RecoveryLink {
    pub url: String,
    pub expires: DateTime<Utc>,
    /// The raw key (also in `url`): the mail templates' `token`.
    key: String,
}

fn refused(message: impl Into<String>) -> AdminError {
    AdminError::field(NON_FIELD_ERRORS, message.into())
}

/// The recovery flow to use: `slug` when given (it must be a recovery flow), else
/// `default-recovery-flow`, else the first recovery flow by slug.
async fn recovery_flow(
    services: &EngineServices,
    slug: Option<&str>,
) -> Result<flow::Model, AdminError> {
    let mut flows = flow::Entity::find()
        .filter(flow::Column::Designation.eq("recovery"))
        .order_by_asc(flow::Column::Slug)
        .all(&services.db)
        .await?;
    if let Some(slug) = slug.filter(|s| !s.trim().is_empty()) {
        return flows
            .into_iter()
            .find(|f| f.slug == slug.trim())
            .ok_or_else(|| AdminError::field("flow", "No recovery flow has this slug."));
    }
    if let Some(at) = flows.iter().position(|f| f.slug == DEFAULT_RECOVERY_FLOW) {
        return Ok(flows.swap_remove(at));
    }
    flows.into_iter().next().ok_or_else(|| {
        refused("There is no recovery flow (a flow with the designation \"recovery\").")
    })
}

/// Makes a one-time recovery link for account `pk`, valid for [`LINK_VALIDITY`], rooted at
/// `origin` (`https://id.example`). Errors: the account does not exist (`NotFound`) or is
/// deactivated, there is no recovery flow, or the flow does not apply to the account.
pub async fn create_link(
    services: &EngineServices,
    actor: &Actor,
    pk: i32,
    origin: &str,
    flow_slug: Option<&str>,
) -> Result<RecoveryLink, AdminError> {
    let (account, flow) = link_target(services, actor, pk, flow_slug).await?;
    link_for(services, actor, &account, &flow, origin).await
}

/// The active account `pk` and the recovery flow its link opens.
async fn link_target(
    services: &EngineServices,
    actor: &Actor,
    pk: i32,
    flow_slug: Option<&str>,
) -> Result<(user::Model, flow::Model), AdminError> {
    actor.ensure_superuser()?;
    let account = user::Entity::find_by_id(pk)
        .one(&services.db)
        .await?
        .ok_or(AdminError::NotFound)?;
    if !account.is_active {
        return Err(refused(
            "The account is deactivated: activate it first, or the link would lead nowhere.",
        ));
    }
    let flow = recovery_flow(services, flow_slug).await?;
    Ok((account, flow))
}

/// Plans `flow` for `account`, stores the token and records it.
async fn link_for(
    services: &EngineServices,
    actor: &Actor,
    account: &user::Model,
    flow: &flow::Model,
    origin: &str,
) -> Result<RecoveryLink, AdminError> {
    let db = &services.db;
    let now = Utc::now();
    let context = FlowContext {
        pending_user: Some(PendingUser {
            pk: Some(account.id),
            username: account.username.clone(),
            email: account.email.clone(),
            backend: None,
        }),
        ..FlowContext::default()
    };
    // Planned as the person's browser will start it: nobody signed in. Never stored.
    let session = ActiveSession {
        id: Uuid::nil(),
        user: None,
        csrf_token: String::new(),
        expires_at: now,
        persistent: false,
        new_token: None,
    };
    let request = RequestInfo {
        client_ip: actor.client_ip.clone(),
        path: format!("/api/v3/flows/executor/{}/", flow.slug),
        method: "GET".to_owned(),
        ..RequestInfo::default()
    };
    let plan = match planner::plan(services, flow, &session, context, &request)
        .await
        .map_err(|e| AdminError::Internal(e.to_string()))?
    {
        Planned::Plan(plan) => *plan,
        Planned::NotApplicable(message) => {
            return Err(refused(format!(
                "The recovery flow \"{}\" does not apply to this account: {message}",
                flow.slug
            )))
        }
        Planned::Empty => {
            return Err(refused(format!(
                "The recovery flow \"{}\" has no stage for this account.",
                flow.slug
            )))
        }
    };
    let plan = without_replaced_stages(db, plan).await?;
    let expires = now + LINK_VALIDITY;
    let identifier = flow_tokens::slugify(&format!(
        "ak-recovery-admin-{}-{}",
        account.username,
        Uuid::new_v4()
    ));
    let (key, token) = flow_tokens::create(
        db,
        NewFlowToken {
            identifier,
            user_id: account.id,
            plan: &plan,
            expires,
            revoke_on_execution: false,
        },
        now,
    )
    .await?;
    let mut context = model_context(
        "authentik_flows",
        "flowtoken",
        &token.id.to_string(),
        &token.identifier,
    );
    context["user"] = serde_json::json!({"pk": account.id, "username": account.username});
    record(db, actor, action::MODEL_CREATED, context).await?;
    let query =
        serde_urlencoded::to_string([(flow_tokens::QUERY_KEY, key.as_str())]).unwrap_or_default();
    Ok(RecoveryLink {
        url: format!(
            "{}/if/flow/{}/?{query}",
            origin.trim_end_matches('/'),
            flow.slug
        ),
        expires,
        key,
    })
}

/// `plan` without its leading identification and email stages, with the "Continue" step in
/// front that spends the link.
async fn without_replaced_stages(
    db: &sea_orm::DatabaseConnection,
    mut plan: FlowPlan,
) -> Result<FlowPlan, AdminError> {
    while let Some(first) = plan.current() {
        if first.in_memory.is_some() {
            break;
        }
        let kind = stage::Entity::find_by_id(first.stage_id)
            .one(db)
            .await?
            .map(|s| s.kind);
        if !kind.is_some_and(|k| REPLACED_KINDS.contains(&k.as_str())) {
            break;
        }
        plan.pop();
    }
    let step = StageConfig::Consent(ConsentStage::default())
        .to_in_memory()
        .map_err(|e| AdminError::Internal(e.to_string()))?;
    plan.stages.insert(0, PlannedStage::in_memory(step));
    plan.context.set_extra(consent::HEADER_KEY, CONSENT_HEADER);
    Ok(plan)
}

/// The email stage a "send" uses: `id` when given (it must be an email stage), else the first
/// email stage bound to the recovery flow `flow_id`.
async fn email_stage(
    db: &sea_orm::DatabaseConnection,
    id: Option<Uuid>,
    flow_id: Uuid,
) -> Result<(Uuid, EmailStage), AdminError> {
    let row = match id {
        Some(id) => stage::Entity::find_by_id(id).one(db).await?,
        None => {
            let bound: Vec<Uuid> = flow_stage_binding::Entity::find()
                .filter(flow_stage_binding::Column::FlowId.eq(flow_id))
                .order_by_asc(flow_stage_binding::Column::Order)
                .all(db)
                .await?
                .into_iter()
                .map(|b| b.stage_id)
                .collect();
            stage::Entity::find()
                .filter(stage::Column::Id.is_in(bound.clone()))
                .filter(stage::Column::Kind.eq("email"))
                .all(db)
                .await?
                .into_iter()
                .min_by_key(|s| bound.iter().position(|b| *b == s.id))
        }
    };
    let Some(row) = row else {
        return Err(match id {
            Some(_) => AdminError::field("email_stage", "No email stage has this id."),
            None => AdminError::field(
                "email_stage",
                "The recovery flow has no email stage: choose one to send with.",
            ),
        });
    };
    match StageConfig::from_row(&row) {
        Ok(StageConfig::Email(config)) => Ok((row.id, config)),
        Ok(_) => Err(AdminError::field(
            "email_stage",
            "This stage is not an email stage.",
        )),
        Err(e) => Err(AdminError::Internal(e.to_string())),
    }
}

/// Makes a link ([`create_link`]) and mails it to the account's address with an email stage's
/// template, subject and SMTP settings (`email_stage`, else the recovery flow's own). The mail
/// is queued; delivery is the mail worker's (with retries and an `email_sent` event).
pub async fn send_link(
    services: &EngineServices,
    actor: &Actor,
    pk: i32,
    origin: &str,
    flow_slug: Option<&str>,
    email_stage_id: Option<Uuid>,
) -> Result<RecoveryLink, AdminError> {
    let (account, flow) = link_target(services, actor, pk, flow_slug).await?;
    if account.email.trim().is_empty() {
        return Err(refused(
            "The account has no email address to send the link to.",
        ));
    }
    let (stage_id, stage) = email_stage(&services.db, email_stage_id, flow.id).await?;
    let link = link_for(services, actor, &account, &flow, origin).await?;
    let mail = OutgoingMail {
        to_name: account.name.clone(),
        to_address: account.email.clone(),
        subject: stage.subject.clone(),
        template: stage.template.clone(),
        context: serde_json::json!({
            "url": link.url,
            "user": {"username": account.username, "name": account.name, "email": account.email},
            "expires": link.expires.to_rfc3339(),
            "token": link.key,
        }),
        smtp: stage.smtp.clone(),
        stage_id: Some(stage_id),
    };
    match services.mail.enqueue(mail).await {
        Ok(_) => Ok(link),
        Err(MailError::Queue(error)) => Err(AdminError::Internal(format!("mail queue: {error}"))),
        Err(error) => Err(refused(format!("The mail could not be made: {error}"))),
    }
}
