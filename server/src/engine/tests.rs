//! Executor behaviour driven directly through `executor::execute`, with no HTTP involved, on a
//! throw-away SQLite database.

use std::sync::Arc;

use app::protocol::{Challenge, ChallengeKind};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};
use uuid::Uuid;

use super::executor::{execute, FlowRequest};
use super::request::{FlowQuery, RequestInfo};
use super::{EngineError, EngineServices, EngineSettings};
use crate::auth::password::PasswordHasher;
use crate::bootstrap::{bind, ensure_flow, ensure_stage, FlowSpec};
use crate::flows::{
    stored, AuthenticationRequirement, DeniedAction, FlowDesignation, InvalidResponseAction,
};
use crate::sessions::{self, ActiveSession};
use crate::stages::{deny::DenyStage, identification::IdentificationStage, StageConfig};
use crate::store::{flow, flow_stage_binding, policy_binding};

struct Harness {
    services: EngineServices,
    session: ActiveSession,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("engine.db").display()
    );
    let db = crate::store::connect_and_migrate(&url).await.unwrap();
    let session = sessions::create_anonymous(
        &db,
        Utc::now(),
        chrono::Duration::hours(1),
        "127.0.0.1",
        "test",
    )
    .await
    .unwrap();
    let services = EngineServices {
        mail: crate::mail::Mailer::new(db.clone(), Default::default(), Default::default()),
        outbound: crate::outbound::Outbound::new().unwrap(),
        db,
        settings: Arc::new(EngineSettings::default()),
        passwords: PasswordHasher::new().unwrap(),
        sandbox: crate::sandbox::Sandbox::in_process(),
        completion: crate::stages::completion_hooks(),
        stages: crate::stages::registry(),
        policies: crate::policies::evaluator(),
        dry_run: None,
    };
    Harness {
        services,
        session,
        _dir: dir,
    }
}

impl Harness {
    async fn run(
        &mut self,
        slug: &str,
        query: &str,
        body: Option<Value>,
    ) -> Result<Challenge, EngineError> {
        let request = FlowRequest {
            slug,
            query: FlowQuery::parse(query),
            body,
            request: RequestInfo {
                client_ip: "127.0.0.1".into(),
                host: "localhost".into(),
                scheme: "http".into(),
                ..Default::default()
            },
            now: Utc::now(),
        };
        execute(&self.services, &mut self.session, request).await
    }

    async fn flow(&self, slug: &str, authentication: AuthenticationRequirement) -> Uuid {
        let spec = FlowSpec {
            slug,
            name: slug,
            title: "Test",
            designation: FlowDesignation::Authentication,
            authentication,
        };
        ensure_flow(&self.services.db, spec).await.unwrap().0
    }

    async fn stage(&self, name: &str, config: StageConfig) -> Uuid {
        ensure_stage(&self.services.db, name, &config)
            .await
            .unwrap()
    }
}

fn redirect_target(challenge: &Challenge) -> Option<&str> {
    match &challenge.kind {
        ChallengeKind::Redirect(r) => Some(&r.to),
        _ => None,
    }
}

fn denied_message(challenge: &Challenge) -> Option<&str> {
    match &challenge.kind {
        ChallengeKind::AccessDenied(d) => d.error_message.as_deref(),
        _ => None,
    }
}

#[tokio::test]
async fn an_empty_flow_is_done_at_once_and_follows_only_relative_next() {
    let mut h = harness().await;
    h.flow("empty", AuthenticationRequirement::None).await;
    assert_eq!(
        redirect_target(&h.run("empty", "", None).await.unwrap()),
        Some("/")
    );
    assert_eq!(
        redirect_target(&h.run("empty", "next=%2Fapp", None).await.unwrap()),
        Some("/app")
    );
    let evil = h
        .run("empty", "next=https%3A%2F%2Fevil.example%2F", None)
        .await
        .unwrap();
    assert_eq!(denied_message(&evil), Some("Invalid next URL"));
}

#[tokio::test]
async fn an_unknown_flow_is_an_error_not_a_challenge() {
    let mut h = harness().await;
    assert!(matches!(
        h.run("nope", "", None).await,
        Err(EngineError::FlowNotFound)
    ));
}

#[tokio::test]
async fn deny_stage_denies_with_its_message() {
    let mut h = harness().await;
    let flow_id = h.flow("deny", AuthenticationRequirement::None).await;
    let deny = h
        .stage(
            "deny-stage",
            StageConfig::Deny(DenyStage {
                deny_message: "Go away".into(),
            }),
        )
        .await;
    bind(&h.services.db, flow_id, deny, 10, true).await.unwrap();
    let challenge = h.run("deny", "", None).await.unwrap();
    assert_eq!(denied_message(&challenge), Some("Go away"));
    assert!(
        challenge.flow_info.is_some(),
        "access denied is a stage challenge with flow_info"
    );
}

#[tokio::test]
async fn a_plan_survives_between_requests_and_a_post_goes_to_the_current_stage() {
    let mut h = harness().await;
    let flow_id = h.flow("ident", AuthenticationRequirement::None).await;
    let ident = h
        .stage(
            "ident-stage",
            StageConfig::Identification(IdentificationStage::default()),
        )
        .await;
    let deny = h
        .stage(
            "after",
            StageConfig::Deny(DenyStage {
                deny_message: "reached".into(),
            }),
        )
        .await;
    bind(&h.services.db, flow_id, ident, 10, true)
        .await
        .unwrap();
    bind(&h.services.db, flow_id, deny, 20, true).await.unwrap();

    let first = h.run("ident", "", None).await.unwrap();
    assert_eq!(first.component(), "ak-stage-identification");
    let missing = h
        .run("ident", "", Some(json!({"component": "ak-stage-password"})))
        .await
        .unwrap();
    assert_eq!(
        missing.errors_for("uid_field"),
        vec!["This field is required."]
    );
    // Unknown users pass identification in pretend mode (no password stage attached).
    let next = h
        .run("ident", "", Some(json!({"uid_field": "nobody"})))
        .await
        .unwrap();
    assert_eq!(denied_message(&next), Some("reached"));
}

#[tokio::test]
async fn flow_requirements_are_checked_before_planning() {
    let mut h = harness().await;
    h.flow("members", AuthenticationRequirement::RequireAuthenticated)
        .await;
    let challenge = h.run("members", "", None).await.unwrap();
    assert_eq!(
        denied_message(&challenge),
        Some("Flow does not apply to current user.")
    );
}

#[tokio::test]
async fn denied_action_continue_redirects_instead_of_denying() {
    let mut h = harness().await;
    let flow_id = h
        .flow("continue", AuthenticationRequirement::RequireSuperuser)
        .await;
    let row = flow::ActiveModel {
        id: Set(flow_id),
        denied_action: Set(stored(&DeniedAction::Continue)),
        ..Default::default()
    };
    row.update(&h.services.db).await.unwrap();
    assert_eq!(
        redirect_target(&h.run("continue", "", None).await.unwrap()),
        Some("/")
    );
}

#[tokio::test]
async fn a_binding_whose_re_evaluated_policy_fails_is_skipped() {
    let mut h = harness().await;
    let flow_id = h.flow("skip", AuthenticationRequirement::None).await;
    let deny = h
        .stage(
            "skipped-deny",
            StageConfig::Deny(DenyStage {
                deny_message: "should not show".into(),
            }),
        )
        .await;
    let binding = bind(&h.services.db, flow_id, deny, 10, true).await.unwrap();
    // A user binding for a user that is not the current one never passes.
    let admin = crate::users::create(
        &h.services.db,
        crate::users::NewUser {
            username: "someone",
            email: "",
            name: "",
            password_hash: String::new(),
            is_superuser: false,
            user_type: "internal",
            path: "users",
        },
        Utc::now(),
    )
    .await
    .unwrap();
    policy_binding::ActiveModel {
        id: Set(Uuid::new_v4()),
        target_id: Set(binding),
        policy_id: Set(None),
        group_id: Set(None),
        user_id: Set(Some(admin.id)),
        negate: Set(false),
        enabled: Set(true),
        order: Set(0),
        timeout: Set(30),
        failure_result: Set(false),
    }
    .insert(&h.services.db)
    .await
    .unwrap();
    assert_eq!(
        redirect_target(&h.run("skip", "", None).await.unwrap()),
        Some("/")
    );
}

#[tokio::test]
async fn a_stage_that_always_restarts_is_stopped_instead_of_looping() {
    let mut h = harness().await;
    let flow_id = h.flow("loop", AuthenticationRequirement::None).await;
    let deny = h
        .stage("loop-deny", StageConfig::Deny(DenyStage::default()))
        .await;
    let binding = bind(&h.services.db, flow_id, deny, 10, true).await.unwrap();
    flow_stage_binding::ActiveModel {
        id: Set(binding),
        invalid_response_action: Set(stored(&InvalidResponseAction::Restart)),
        ..Default::default()
    }
    .update(&h.services.db)
    .await
    .unwrap();
    assert!(matches!(
        h.run("loop", "", None).await,
        Err(EngineError::RestartLoop)
    ));
}

/// Binds an expression policy to `target` (a flow or a flow-stage binding).
async fn bind_expression(h: &Harness, target: Uuid, expression: &str) {
    crate::policies::expression::corpus_tests::bind_expression_to(
        &h.services,
        target,
        expression,
        false,
        30,
    )
    .await;
}

/// authentik's OOBE flow sets the pending user from a flow policy, and stage policies write
/// prompt data: both writes reach the plan (planner and executor paths).
#[tokio::test]
async fn expression_policy_writes_reach_the_plan() {
    let mut h = harness().await;
    let admin = crate::users::create(
        &h.services.db,
        crate::users::NewUser {
            username: "oobe-admin",
            email: "admin@example.com",
            name: "",
            password_hash: String::new(),
            is_superuser: true,
            user_type: "internal",
            path: "users",
        },
        Utc::now(),
    )
    .await
    .unwrap();
    let flow_id = h.flow("oobe", AuthenticationRequirement::None).await;
    bind_expression(
        &h,
        flow_id,
        "admin = ak_user_by(username=\"oobe-admin\")\ncontext[\"flow_plan\"].context[\"pending_user\"] = admin\nreturn True",
    )
    .await;
    let ident = h
        .stage(
            "oobe-ident",
            StageConfig::Identification(IdentificationStage::default()),
        )
        .await;
    let binding = bind(&h.services.db, flow_id, ident, 10, true)
        .await
        .unwrap();
    bind_expression(
        &h,
        binding,
        "request.context.setdefault(\"prompt_data\", {})[\"locale\"] = \"de\"\nreturn request.context[\"pending_user\"].username == \"oobe-admin\"",
    )
    .await;

    let challenge = h.run("oobe", "", None).await.unwrap();
    assert_eq!(challenge.component(), "ak-stage-identification");
    let plan = super::plan_store::load(&h.services, h.session.id, flow_id, Utc::now())
        .await
        .unwrap()
        .expect("a saved plan");
    let pending = plan
        .context
        .pending_user
        .expect("pending_user from the flow policy");
    assert_eq!(
        (pending.pk, pending.username.as_str()),
        (Some(admin.id), "oobe-admin")
    );
    assert_eq!(plan.context.prompt_data.get("locale"), Some(&json!("de")));
}

/// The planner's trace agrees with the plan it builds, and the static trace keeps every branch
/// without evaluating anything.
#[tokio::test]
async fn the_trace_is_recorded_by_the_same_planning_that_builds_the_plan() {
    use super::planner::{self, Planned, Subject};
    use super::trace::{Decision, GateSubject};

    let h = harness().await;
    let flow_id = h.flow("traced", AuthenticationRequirement::None).await;
    let ident = h
        .stage(
            "traced-ident",
            StageConfig::Identification(IdentificationStage::default()),
        )
        .await;
    let deny = h
        .stage("traced-deny", StageConfig::Deny(DenyStage::default()))
        .await;
    let first = bind(&h.services.db, flow_id, ident, 10, false)
        .await
        .unwrap();
    let second = bind(&h.services.db, flow_id, deny, 20, false)
        .await
        .unwrap();
    flow_stage_binding::ActiveModel {
        id: Set(second),
        evaluate_on_plan: Set(true),
        ..Default::default()
    }
    .update(&h.services.db)
    .await
    .unwrap();
    bind_expression(&h, second, "return False").await;
    let flow = <flow::Entity as sea_orm::EntityTrait>::find_by_id(flow_id)
        .one(&h.services.db)
        .await
        .unwrap()
        .unwrap();
    let request = RequestInfo::default();

    let (planned, trace) = planner::trace(
        &h.services,
        &flow,
        Subject::Run {
            session: &h.session,
            request: &request,
        },
        Default::default(),
    )
    .await
    .unwrap();
    let Planned::Plan(plan) = planned else {
        panic!("expected a plan")
    };
    let planned_ids: Vec<_> = plan.stages.iter().filter_map(|s| s.binding_id).collect();
    assert_eq!(planned_ids, vec![first]);
    let included: Vec<_> = trace
        .bindings
        .iter()
        .filter(|b| b.decision == Decision::Included)
        .map(|b| b.binding_id)
        .collect();
    assert_eq!(included, planned_ids);
    let skipped = &trace.bindings[1];
    assert_eq!(skipped.decision, Decision::Skipped);
    assert_eq!(skipped.policies.passing, Some(false));
    let gate = &skipped.policies.gates[0];
    assert_eq!(gate.outcome.as_ref().map(|o| o.passing), Some(false));
    assert!(matches!(
        &gate.subject,
        GateSubject::Policy { name: Some(_), .. }
    ));
    assert_eq!(trace.bindings[0].on_fail_next, Some(second));
    assert_eq!(trace.bindings[1].on_fail_next, None);
    assert_eq!(trace.authentication_met, Some(true));

    // Execution's own entry point plans the same stages.
    let Planned::Plan(executed) =
        planner::plan(&h.services, &flow, &h.session, Default::default(), &request)
            .await
            .unwrap()
    else {
        panic!("expected a plan")
    };
    assert_eq!(executed.stages, plan.stages);

    // Static: nothing evaluated, the gated binding is undecided and kept.
    let (planned, trace) = planner::trace(&h.services, &flow, Subject::Static, Default::default())
        .await
        .unwrap();
    let Planned::Plan(plan) = planned else {
        panic!("expected a plan")
    };
    assert_eq!(plan.stages.len(), 2);
    assert_eq!(trace.authentication_met, None);
    assert_eq!(trace.bindings[1].decision, Decision::Undecided);
    assert!(trace.bindings[1].policies.gates[0].outcome.is_none());
    assert_eq!(trace.bindings[1].policies.passing, None);
    assert_eq!(
        trace.bindings[0].stage.as_ref().map(|s| s.kind.as_str()),
        Some("identification")
    );
}
