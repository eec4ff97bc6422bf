//! Policies over the executor API: expression policies routing people through a flow, group
//! bindings on a deny stage, flow-level policies with each `denied_action`, binding timeouts and
//! reputation policies.
use crate::common::flows;
use crate::common::*;
use chrono::Utc;
use keyflow::flows::{
    stored, AuthenticationRequirement, DeniedAction, FlowDesignation, InvalidResponseAction,
};
use keyflow::policies::{dummy::DummyPolicy, PolicyConfig};
use keyflow::stages::{
    deny::DenyStage, identification::IdentificationStage, password::PasswordStage,
    user_login::UserLoginStage, StageConfig,
};
use keyflow::store::{flow, flow_stage_binding, group, group_member, policy, policy_binding};
use reqwest::Method;
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{json, Value};
use uuid::Uuid;

both_databases!(
    expression_skips_the_password_stage_once_the_pending_user_has_a_backend,
    group_bound_deny_stage_denies_members_only,
    denied_action_message_shows_the_policy_message,
    denied_action_message_continue_follows_a_relative_next,
    denied_action_continue_redirects_home,
    binding_timeout_yields_the_failure_result,
    reputation_policy_gates_a_stage_on_failed_attempts,
    expression_helpers_read_users_and_groups,
    e2e_deny_by_group_blueprint_applies_and_gates_the_flow,
    plan_time_policies_see_the_starting_context_re_evaluated_ones_the_live_one,
    execution_logging_records_an_event_per_evaluation,
);

/// authentik's default-authentication-flow password binding expression, verbatim.
const PASSWORD_OPTIONAL: &str = r#"flow_plan = request.context.get("flow_plan")
if not flow_plan:
    return True
# If the user does not have a backend attached to it, they haven't
# been authenticated yet and we need the password stage
return not hasattr(flow_plan.context.get("pending_user"), "backend")
"#;

async fn create_policy(server: &TestServer, name: &str, config: PolicyConfig) -> Uuid {
    config.validate().expect("valid policy");
    let (kind, config) = config.to_columns();
    let id = Uuid::new_v4();
    policy::ActiveModel {
        id: Set(id),
        name: Set(name.into()),
        kind: Set(kind),
        config: Set(config),
        execution_logging: Set(false),
    }
    .insert(server.db())
    .await
    .expect("policy");
    id
}

fn expression(source: &str) -> PolicyConfig {
    PolicyConfig::from_attrs("expression", json!({ "expression": source })).expect("expression")
}

#[derive(Default)]
struct Binding {
    policy: Option<Uuid>,
    group: Option<Uuid>,
    negate: bool,
    timeout: i32,
    failure_result: bool,
}

async fn bind_policy(server: &TestServer, target: Uuid, binding: Binding) {
    policy_binding::ActiveModel {
        id: Set(Uuid::new_v4()),
        target_id: Set(target),
        policy_id: Set(binding.policy),
        group_id: Set(binding.group),
        user_id: Set(None),
        negate: Set(binding.negate),
        enabled: Set(true),
        order: Set(0),
        timeout: Set(if binding.timeout == 0 {
            30
        } else {
            binding.timeout
        }),
        failure_result: Set(binding.failure_result),
    }
    .insert(server.db())
    .await
    .expect("policy binding");
}

async fn simple_flow(server: &TestServer, slug: &str) -> Uuid {
    flows::flow(
        server,
        slug,
        slug,
        FlowDesignation::Authentication,
        AuthenticationRequirement::None,
    )
    .await
}

async fn stage(server: &TestServer, name: &str, config: StageConfig) -> Uuid {
    flows::stage(server, name, config).await
}

async fn set_denied_action(server: &TestServer, flow_id: Uuid, action: DeniedAction) {
    flow::ActiveModel {
        id: Set(flow_id),
        denied_action: Set(stored(&action)),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("denied action");
}

fn identify(uid: &str) -> Value {
    json!({"component": "ak-stage-identification", "uid_field": uid})
}

/// identification (optionally with the password on the same page) → password (behind the
/// default "password optional" expression) → login.
async fn expression_flow(server: &TestServer, slug: &str, password_on_identification: bool) {
    let flow = simple_flow(server, slug).await;
    let password = stage(
        server,
        &format!("{slug}-password"),
        StageConfig::Password(PasswordStage::default()),
    )
    .await;
    let identification = stage(
        server,
        &format!("{slug}-identification"),
        StageConfig::Identification(IdentificationStage {
            password_stage: password_on_identification.then_some(password),
            ..Default::default()
        }),
    )
    .await;
    let login = stage(
        server,
        &format!("{slug}-login"),
        StageConfig::UserLogin(UserLoginStage::default()),
    )
    .await;
    flows::bind(
        server,
        flow,
        identification,
        10,
        InvalidResponseAction::Retry,
    )
    .await;
    let password_binding =
        flows::bind(server, flow, password, 20, InvalidResponseAction::Retry).await;
    flows::bind(server, flow, login, 100, InvalidResponseAction::Retry).await;
    let optional = create_policy(
        server,
        &format!("{slug}-password-optional"),
        expression(PASSWORD_OPTIONAL),
    )
    .await;
    bind_policy(
        server,
        password_binding,
        Binding {
            policy: Some(optional),
            failure_result: true,
            ..Default::default()
        },
    )
    .await;
}

async fn expression_skips_the_password_stage_once_the_pending_user_has_a_backend(db: Db) {
    let server = TestServer::start(db).await;
    expression_flow(&server, "two-step", false).await;
    expression_flow(&server, "one-step", true).await;

    // Identified only: no backend yet, the expression keeps the password stage.
    let browser = server.browser();
    browser.get_flow("two-step", "").await;
    let challenge = browser.post_flow("two-step", "", identify(ADMIN)).await;
    assert_eq!(challenge["component"], "ak-stage-password", "{challenge}");

    // Password given on the identification page: the pending user carries a backend, the
    // re-evaluated expression drops the password stage and the flow logs in.
    let browser = server.browser();
    browser.get_flow("one-step", "").await;
    let mut body = identify(ADMIN);
    body["password"] = json!(ADMIN_PASSWORD);
    assert_eq!(
        browser.post_flow("one-step", "", body).await,
        redirect_to("/")
    );
    assert_eq!(browser.me().await.1["user"]["username"], ADMIN);
}

async fn group_bound_deny_stage_denies_members_only(db: Db) {
    let server = TestServer::start(db).await;
    let flow = simple_flow(&server, "gated").await;
    let identification = stage(
        &server,
        "gated-identification",
        StageConfig::Identification(IdentificationStage::default()),
    )
    .await;
    let deny = stage(
        &server,
        "gated-deny",
        StageConfig::Deny(DenyStage {
            deny_message: "Your group may not sign in here.".into(),
        }),
    )
    .await;
    let password = stage(
        &server,
        "gated-password",
        StageConfig::Password(PasswordStage::default()),
    )
    .await;
    flows::bind(
        &server,
        flow,
        identification,
        10,
        InvalidResponseAction::Retry,
    )
    .await;
    let deny_binding = flows::bind(&server, flow, deny, 20, InvalidResponseAction::Retry).await;
    flows::bind(&server, flow, password, 30, InvalidResponseAction::Retry).await;

    // "blocked" inherits from nothing; "contractors" is its child, so its members are blocked too.
    let blocked = Uuid::new_v4();
    let contractors = Uuid::new_v4();
    for (id, name, parent) in [
        (blocked, "blocked", None),
        (contractors, "contractors", Some(blocked)),
    ] {
        group::ActiveModel {
            id: Set(id),
            name: Set(name.into()),
            is_superuser: Set(false),
            parent_id: Set(parent),
            attributes: Set(json!({})),
        }
        .insert(server.db())
        .await
        .expect("group");
    }
    group_member::ActiveModel {
        group_id: Set(contractors),
        user_id: Set(flows::user_id(&server, ADMIN).await),
    }
    .insert(server.db())
    .await
    .expect("membership");
    bind_policy(
        &server,
        deny_binding,
        Binding {
            group: Some(blocked),
            ..Default::default()
        },
    )
    .await;
    keyflow::users::create(
        server.db(),
        keyflow::users::NewUser {
            username: "outsider",
            email: "outsider@example.com",
            name: "Outsider",
            password_hash: String::new(),
            is_superuser: false,
            path: "users",
            user_type: "internal",
        },
        Utc::now(),
    )
    .await
    .expect("user");

    let member = server.browser();
    member.get_flow("gated", "").await;
    let denied = member.post_flow("gated", "", identify(ADMIN)).await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(denied["error_message"], "Your group may not sign in here.");

    let other = server.browser();
    other.get_flow("gated", "").await;
    let next = other.post_flow("gated", "", identify("outsider")).await;
    assert_eq!(next["component"], "ak-stage-password", "{next}");
}

/// A flow whose own policy always fails with a message, and one stage it never reaches.
async fn refusing_flow(server: &TestServer, slug: &str, action: DeniedAction) {
    let flow = simple_flow(server, slug).await;
    set_denied_action(server, flow, action).await;
    let deny = stage(
        server,
        &format!("{slug}-never"),
        StageConfig::Deny(DenyStage {
            deny_message: "never reached".into(),
        }),
    )
    .await;
    flows::bind(server, flow, deny, 10, InvalidResponseAction::Retry).await;
    let refuse = create_policy(
        server,
        &format!("{slug}-refuse"),
        expression("ak_message('Not today.')\nreturn False"),
    )
    .await;
    bind_policy(
        server,
        flow,
        Binding {
            policy: Some(refuse),
            ..Default::default()
        },
    )
    .await;
}

/// GET the executor with the request's own `next` (not the nested `query`).
async fn get_with_own_next(browser: &Browser, slug: &str, next: &str) -> Value {
    let path = format!(
        "/api/v3/flows/executor/{slug}/?{}",
        serde_urlencoded::to_string([("next", next)]).unwrap()
    );
    challenge_of(browser.api(Method::GET, &path, None).await).await
}

async fn denied_action_message_shows_the_policy_message(db: Db) {
    let server = TestServer::start(db).await;
    refusing_flow(&server, "refusing", DeniedAction::Message).await;
    let browser = server.browser();
    let denied = browser.get_flow("refusing", "").await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(denied["error_message"], "Not today.");
    // `message` ignores a next URL.
    let denied = get_with_own_next(&browser, "refusing", "/elsewhere").await;
    assert_eq!(denied["error_message"], "Not today.");
}

async fn denied_action_message_continue_follows_a_relative_next(db: Db) {
    let server = TestServer::start(db).await;
    refusing_flow(&server, "refusing", DeniedAction::MessageContinue).await;
    let browser = server.browser();
    assert_eq!(
        get_with_own_next(&browser, "refusing", "/elsewhere").await,
        redirect_to("/elsewhere")
    );
    // An absolute next is not followed: the message is shown.
    let denied = get_with_own_next(&browser, "refusing", "https://evil.example/").await;
    assert_eq!(denied["error_message"], "Not today.");
    let denied = browser.get_flow("refusing", "").await;
    assert_eq!(denied["error_message"], "Not today.");
}

async fn denied_action_continue_redirects_home(db: Db) {
    let server = TestServer::start(db).await;
    refusing_flow(&server, "refusing", DeniedAction::Continue).await;
    let browser = server.browser();
    assert_eq!(browser.get_flow("refusing", "").await, redirect_to("/"));
    assert_eq!(
        get_with_own_next(&browser, "refusing", "/elsewhere").await,
        redirect_to("/elsewhere")
    );
}

async fn binding_timeout_yields_the_failure_result(db: Db) {
    let server = TestServer::start(db).await;
    let slow = create_policy(
        &server,
        "slow",
        PolicyConfig::Dummy(DummyPolicy {
            result: true,
            wait_min: 5,
            wait_max: 5,
        }),
    )
    .await;
    for (slug, failure_result) in [("slow-fails", false), ("slow-passes", true)] {
        let flow = simple_flow(&server, slug).await;
        set_denied_action(&server, flow, DeniedAction::Message).await;
        bind_policy(
            &server,
            flow,
            Binding {
                policy: Some(slow),
                timeout: 1,
                failure_result,
                ..Default::default()
            },
        )
        .await;
    }
    let browser = server.browser();
    let started = std::time::Instant::now();
    let denied = browser.get_flow("slow-fails", "").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(denied["error_message"], "policy timed out after 1 seconds");
    // failure_result=true: the flow applies (it is empty, so it is done at once).
    assert_eq!(browser.get_flow("slow-passes", "").await, redirect_to("/"));
}

async fn reputation_policy_gates_a_stage_on_failed_attempts(db: Db) {
    let server = TestServer::start(db).await;
    let flow = simple_flow(&server, "suspicious").await;
    let deny = stage(
        &server,
        "suspicious-deny",
        StageConfig::Deny(DenyStage {
            deny_message: "Too many failed attempts.".into(),
        }),
    )
    .await;
    let identification = stage(
        &server,
        "suspicious-identification",
        StageConfig::Identification(IdentificationStage {
            pretend_user_exists: false,
            ..Default::default()
        }),
    )
    .await;
    let deny_binding = flows::bind(&server, flow, deny, 0, InvalidResponseAction::Retry).await;
    flows::bind(
        &server,
        flow,
        identification,
        10,
        InvalidResponseAction::Retry,
    )
    .await;
    let reputation = create_policy(
        &server,
        "suspicious-reputation",
        PolicyConfig::from_attrs(
            "reputation",
            json!({"check_ip": true, "check_username": false, "threshold": -2}),
        )
        .unwrap(),
    )
    .await;
    bind_policy(
        &server,
        deny_binding,
        Binding {
            policy: Some(reputation),
            ..Default::default()
        },
    )
    .await;

    let browser = server.browser();
    let first = browser.get_flow("suspicious", "").await;
    assert_eq!(first["component"], "ak-stage-identification", "{first}");
    // Two failed identifications from this IP bring its reputation to -2.
    for _ in 0..2 {
        let again = browser
            .post_flow("suspicious", "", identify("nobody-by-that-name"))
            .await;
        assert_eq!(again["component"], "ak-stage-identification", "{again}");
    }
    let other = server.browser();
    let denied = other.get_flow("suspicious", "").await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(denied["error_message"], "Too many failed attempts.");
}

async fn expression_helpers_read_users_and_groups(db: Db) {
    let server = TestServer::start(db).await;
    let staff = Uuid::new_v4();
    group::ActiveModel {
        id: Set(staff),
        name: Set("staff".into()),
        is_superuser: Set(false),
        parent_id: Set(None),
        attributes: Set(json!({"tier": "gold", "goauthentik.io/user/can-change-email": true})),
    }
    .insert(server.db())
    .await
    .expect("group");
    group_member::ActiveModel {
        group_id: Set(staff),
        user_id: Set(flows::user_id(&server, ADMIN).await),
    }
    .insert(server.db())
    .await
    .expect("membership");
    let checks = r#"from authentik.core.models import USER_ATTRIBUTE_CHANGE_EMAIL
admin = ak_user_by(username="akadmin")
if admin == None or ak_user_by(username="nobody") != None:
    return False
attributes = admin.group_attributes(request.http_request)
return (admin.has_usable_password()
    and ak_is_group_member(admin, name=GROUP)
    and attributes["tier"] == "gold"
    and attributes.get(USER_ATTRIBUTE_CHANGE_EMAIL, False)
    and [g.name for g in admin.all_groups()] == ["staff"]
    and not request.user.is_authenticated)
"#;
    for (slug, group_name) in [("for-staff", "staff"), ("for-others", "others")] {
        let flow = simple_flow(&server, slug).await;
        set_denied_action(&server, flow, DeniedAction::Message).await;
        let source = checks.replace("GROUP", &format!("{group_name:?}"));
        let policy = create_policy(&server, slug, expression(&source)).await;
        bind_policy(
            &server,
            flow,
            Binding {
                policy: Some(policy),
                ..Default::default()
            },
        )
        .await;
    }
    let browser = server.browser();
    assert_eq!(browser.get_flow("for-staff", "").await, redirect_to("/"));
    let denied = browser.get_flow("for-others", "").await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
}

/// The blueprint the Playwright spec `end2end/tests/policies.spec.ts` applies, with its
/// `${...}` placeholders filled in: checked here so the browser test's setup is known to work.
fn e2e_blueprint(run: &str) -> String {
    let spec = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end/tests/policies.spec.ts"),
    )
    .expect("e2e spec");
    let start =
        spec.find("const BLUEPRINT = `").expect("blueprint start") + "const BLUEPRINT = `".len();
    let end = start + spec[start..].find("`;").expect("blueprint end");
    spec[start..end]
        .replace("${FLOW}", &format!("policies-e2e-gated-{run}"))
        .replace("${MEMBER}", &format!("policies-e2e-member-{run}"))
        .replace("${OUTSIDER}", &format!("policies-e2e-outsider-{run}"))
        .replace(
            "${DENY_MESSAGE}",
            "Members of this group may not sign in here.",
        )
        .replace("${RUN}", run)
}

async fn e2e_deny_by_group_blueprint_applies_and_gates_the_flow(db: Db) {
    let server = TestServer::start(db).await;
    let applied = server
        .bare_client()
        .post(server.browser().url("/api/v3/managed/blueprints/apply/"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "content": e2e_blueprint("1") }))
        .send()
        .await
        .expect("apply");
    let status = applied.status();
    assert!(
        status.is_success(),
        "{status}: {}",
        applied.text().await.unwrap_or_default()
    );

    let member = server.browser();
    member.get_flow("policies-e2e-gated-1", "").await;
    let denied = member
        .post_flow(
            "policies-e2e-gated-1",
            "",
            identify("policies-e2e-member-1"),
        )
        .await;
    assert_eq!(denied["component"], "ak-stage-access-denied", "{denied}");
    assert_eq!(
        denied["error_message"],
        "Members of this group may not sign in here."
    );

    let outsider = server.browser();
    outsider.get_flow("policies-e2e-gated-1", "").await;
    let next = outsider
        .post_flow(
            "policies-e2e-gated-1",
            "",
            identify("policies-e2e-outsider-1"),
        )
        .await;
    assert_eq!(next["component"], "ak-stage-password", "{next}");
}

/// identification → deny (behind "a pending user exists"): with `evaluate_on_plan` only, the
/// policy sees the empty starting context and drops the deny stage for good; with
/// `re_evaluate_policies` only, it sees the pending user identification set and denies.
async fn plan_time_policies_see_the_starting_context_re_evaluated_ones_the_live_one(db: Db) {
    let server = TestServer::start(db).await;
    let has_pending = create_policy(
        &server,
        "has-pending-user",
        expression("return context.get('pending_user') != None"),
    )
    .await;
    for (slug, on_plan, re_evaluate) in [("at-plan", true, false), ("when-reached", false, true)] {
        let flow = simple_flow(&server, slug).await;
        let identification = stage(
            &server,
            &format!("{slug}-identification"),
            StageConfig::Identification(IdentificationStage::default()),
        )
        .await;
        let deny = stage(
            &server,
            &format!("{slug}-deny"),
            StageConfig::Deny(DenyStage {
                deny_message: "Identified.".into(),
            }),
        )
        .await;
        flows::bind(
            &server,
            flow,
            identification,
            10,
            InvalidResponseAction::Retry,
        )
        .await;
        let deny_binding = flows::bind(&server, flow, deny, 20, InvalidResponseAction::Retry).await;
        flow_stage_binding::ActiveModel {
            id: Set(deny_binding),
            evaluate_on_plan: Set(on_plan),
            re_evaluate_policies: Set(re_evaluate),
            ..Default::default()
        }
        .update(server.db())
        .await
        .expect("binding flags");
        bind_policy(
            &server,
            deny_binding,
            Binding {
                policy: Some(has_pending),
                ..Default::default()
            },
        )
        .await;
    }
    let browser = server.browser();
    browser.get_flow("at-plan", "").await;
    assert_eq!(
        browser.post_flow("at-plan", "", identify(ADMIN)).await,
        redirect_to("/")
    );
    browser.get_flow("when-reached", "").await;
    let denied = browser.post_flow("when-reached", "", identify(ADMIN)).await;
    assert_eq!(denied["error_message"], "Identified.", "{denied}");
}

async fn execution_logging_records_an_event_per_evaluation(db: Db) {
    let server = TestServer::start(db).await;
    let flow = simple_flow(&server, "logged").await;
    let logged = create_policy(&server, "logged", expression("return True")).await;
    policy::ActiveModel {
        id: Set(logged),
        execution_logging: Set(true),
        ..Default::default()
    }
    .update(server.db())
    .await
    .expect("execution logging");
    bind_policy(
        &server,
        flow,
        Binding {
            policy: Some(logged),
            ..Default::default()
        },
    )
    .await;
    let browser = server.browser();
    assert_eq!(browser.get_flow("logged", "").await, redirect_to("/"));
    let events = server.events().await;
    let execution = events
        .iter()
        .find(|(action, _, _)| action == "policy_execution")
        .expect("policy_execution event");
    assert_eq!(execution.2["policy"]["name"], "logged");
    assert_eq!(execution.2["result"]["passing"], true);
}
