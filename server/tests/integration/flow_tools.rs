//! The admin flow tools over real HTTP (issue #14): the diagram (authentik's `FlowDiagram`),
//! the simulator matched against real runs of the same flow, and the linter on authentik's
//! example recovery flow (also through `keyflow flow lint`).

use crate::common::{
    challenge_of, dump, Browser, Db, TestServer, ADMIN, ADMIN_PASSWORD, ADMIN_TOKEN, CSRF_COOKIE,
};
use keyflow::store::flow;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

const APPLY: &str = "/api/v3/managed/blueprints/apply/";
const RECOVERY_EXAMPLE: &str =
    "/work/shared/spec/blueprints/flows-recovery-email-verification.yaml";

/// A flow whose plan depends on the client IP (flow policy, which also records an event), on
/// the user (a superuser-only consent stage) and ends with a deny stage.
const SIM_FLOW: &str = r#"
version: 1
entries:
  - model: authentik_flows.flow
    id: flow
    identifiers: {slug: sim-check}
    attrs: {name: Sim check, title: Sim check, designation: stage_configuration}
  - model: authentik_policies_expression.expressionpolicy
    id: local-only
    identifiers: {name: sim-local-only}
    attrs:
      expression: |
        ak_create_event("sim_check_ran")
        return ak_client_ip is not None and ak_client_ip.is_loopback
  - model: authentik_policies_expression.expressionpolicy
    id: superusers
    identifiers: {name: sim-superusers}
    attrs:
      expression: |
        return request.user.is_superuser
  - model: authentik_stages_consent.consentstage
    id: consent
    identifiers: {name: sim-consent}
    attrs: {mode: always_require}
  - model: authentik_stages_deny.denystage
    id: deny
    identifiers: {name: sim-deny}
  - model: authentik_flows.flowstagebinding
    id: consent-binding
    identifiers: {target: !KeyOf flow, stage: !KeyOf consent, order: 10}
    attrs: {evaluate_on_plan: true, re_evaluate_policies: false}
  - model: authentik_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf deny, order: 20}
  - model: authentik_policies.policybinding
    identifiers: {target: !KeyOf flow, policy: !KeyOf local-only, order: 0}
  - model: authentik_policies.policybinding
    identifiers: {target: !KeyOf consent-binding, policy: !KeyOf superusers, order: 0}
"#;

async fn as_admin(
    server: &TestServer,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server
        .bare_client()
        .request(method, server.browser().url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("API call");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

async fn apply(server: &TestServer, yaml: &str) {
    let (status, body) =
        as_admin(server, Method::POST, APPLY, Some(json!({"content": yaml}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn simulate(server: &TestServer, body: Value) -> Value {
    let (status, answer) = as_admin(
        server,
        Method::POST,
        "/api/v3/flows/instances/sim-check/simulate/",
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

fn stage_kinds(simulation: &Value) -> Vec<String> {
    simulation["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| s["stage_kind"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The component a stage kind shows first in this flow.
fn component_of(kind: &str) -> &'static str {
    match kind {
        "consent" => "ak-stage-consent",
        "deny" => "ak-stage-access-denied",
        other => panic!("unexpected stage kind {other}"),
    }
}

/// Runs sim-check for real in `browser`, answering each challenge, and returns the components
/// shown in order.
async fn real_run(browser: &Browser) -> Vec<String> {
    let mut shown = Vec::new();
    let mut challenge = browser.get_flow("sim-check", "").await;
    loop {
        let component = challenge["component"].as_str().unwrap_or("").to_owned();
        shown.push(component.clone());
        if component != "ak-stage-consent" {
            return shown;
        }
        // A signed-in session echoes its CSRF token, as the flow page does.
        let csrf = browser.cookie(CSRF_COOKIE).unwrap_or_default();
        let response = browser
            .post_flow_raw(
                "sim-check",
                "",
                json!({"component": "ak-stage-consent", "token": challenge["token"]}),
                &[("X-CSRF-Token", csrf.as_str())],
            )
            .await;
        challenge = challenge_of(response).await;
    }
}

async fn count_events(server: &TestServer, action: &str) -> usize {
    server
        .events()
        .await
        .iter()
        .filter(|(a, _, _)| a == action)
        .count()
}

async fn simulator_answers_what_a_real_run_does(db: Db) {
    let server = TestServer::start(db).await;
    apply(&server, SIM_FLOW).await;

    // The superuser: flow policy passes (loopback), consent is for superusers, then deny.
    let as_superuser = simulate(&server, json!({"user": ADMIN})).await;
    assert_eq!(as_superuser["outcome"], "plan", "{as_superuser}");
    assert_eq!(as_superuser["user"], ADMIN);
    assert_eq!(stage_kinds(&as_superuser), ["consent", "deny"]);
    // Each policy's result, with timing, is in the trace.
    let flow_gate = &as_superuser["trace"]["flow_policies"]["gates"][0];
    assert_eq!(flow_gate["subject"]["name"], "sim-local-only");
    assert_eq!(flow_gate["outcome"]["passing"], true);
    assert!(flow_gate["outcome"]["duration_ms"].as_f64().is_some());
    let consent_gate = &as_superuser["trace"]["bindings"][0]["policies"];
    assert_eq!(consent_gate["passing"], true, "{consent_gate}");
    assert_eq!(as_superuser["trace"]["bindings"][0]["decision"], "included");
    // The policy's event was recorded as skipped, not written.
    let skipped = as_superuser["skipped_writes"].to_string();
    assert!(skipped.contains("sim_check_ran"), "{skipped}");
    assert_eq!(count_events(&server, "sim_check_ran").await, 0);

    let anonymous = simulate(&server, json!({})).await;
    assert_eq!(anonymous["outcome"], "plan");
    assert_eq!(stage_kinds(&anonymous), ["deny"]);
    assert_eq!(anonymous["trace"]["bindings"][0]["decision"], "skipped");

    let remote = simulate(&server, json!({"user": ADMIN, "client_ip": "203.0.113.9"})).await;
    assert_eq!(remote["outcome"], "not_applicable", "{remote}");
    assert!(remote["stages"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(count_events(&server, "sim_check_ran").await, 0);
    // Simulating stored no plan.
    let plans = keyflow::store::flow_plan::Entity::find()
        .all(server.db())
        .await
        .expect("plans");
    assert!(plans.is_empty(), "{plans:?}");

    // Real runs of the same flow show exactly the simulated stages.
    let visitor = server.browser();
    let shown: Vec<String> = real_run(&visitor).await;
    let expected: Vec<String> = stage_kinds(&anonymous)
        .iter()
        .map(|k| component_of(k).to_owned())
        .collect();
    assert_eq!(shown, expected);

    let admin = server.browser();
    admin.login(ADMIN, ADMIN_PASSWORD).await;
    let shown = real_run(&admin).await;
    let expected: Vec<String> = stage_kinds(&as_superuser)
        .iter()
        .map(|k| component_of(k).to_owned())
        .collect();
    assert_eq!(shown, expected);
    // The real runs did write the policy's event (once per planning).
    assert_eq!(count_events(&server, "sim_check_ran").await, 2);

    // Bad input is a field error, an unknown flow 404.
    let (status, body) = as_admin(
        &server,
        Method::POST,
        "/api/v3/flows/instances/sim-check/simulate/",
        Some(json!({"user": "nobody-here"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["user"][0]
            .as_str()
            .is_some_and(|m| m.contains("nobody-here")),
        "{body}"
    );
    let (status, body) = as_admin(
        &server,
        Method::POST,
        "/api/v3/flows/instances/sim-check/simulate/",
        Some(json!({"context": {"prompt_data": 5}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["context"][0].is_string(), "{body}");
    let (status, _) = as_admin(
        &server,
        Method::POST,
        "/api/v3/flows/instances/no-such-flow/simulate/",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn flow_tools_need_a_superuser_and_csrf(db: Db) {
    let server = TestServer::start(db).await;
    let anonymous = server.bare_client();
    for path in ["diagram/", "lint/"] {
        let url = server.browser().url(&format!(
            "/api/v3/flows/instances/default-authentication-flow/{path}"
        ));
        let status = anonymous.get(url).send().await.expect("GET").status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let admin = server.browser();
    admin.login(ADMIN, ADMIN_PASSWORD).await;
    let simulate = "/api/v3/flows/instances/default-authentication-flow/simulate/";
    // A session without its CSRF token may not POST.
    let response = admin
        .client
        .post(admin.url(simulate))
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // With it, it may.
    let response = admin.api(Method::POST, simulate, Some(json!({}))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    // Anonymous: the default authentication flow starts with identification.
    assert_eq!(body["stages"][0]["stage_kind"], "identification", "{body}");
}

async fn diagram_is_authentiks_flow_diagram(db: Db) {
    let server = TestServer::start(db).await;
    let (status, body) = as_admin(
        &server,
        Method::GET,
        "/api/v3/flows/instances/default-authentication-flow/diagram/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    dump("api-FlowDiagram", &body);
    let text = body["diagram"].as_str().expect("diagram text");
    assert!(text.starts_with("graph TD\n"), "{text}");
    for name in [
        "default-authentication-identification",
        "default-authentication-password",
        "default-authentication-mfa-validation",
        "default-authentication-login",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
    // The MFA binding's policy is a gate whose failure skips to the login stage.
    assert!(text.contains("default-authentication-flow-mfa-not-after-passkey"));
    assert!(text.contains("fail: skip"));
    assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{body}");

    let (status, model) = as_admin(
        &server,
        Method::GET,
        "/api/v3/flows/instances/default-authentication-flow/diagram_model/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let stages = model["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter(|n| n["kind"] == "stage")
        .count();
    assert_eq!(stages, 4, "{model}");

    let (status, _) = as_admin(
        &server,
        Method::GET,
        "/api/v3/flows/instances/no-such-flow/diagram/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn findings(report: &Value) -> Vec<(String, String, Option<i64>, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["severity"].as_str().unwrap_or("").to_owned(),
                f["rule"].as_str().unwrap_or("").to_owned(),
                f["order"].as_i64(),
                f["stage_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn linter_names_the_hole_in_authentiks_example_recovery_flow(db: Db) {
    let server = TestServer::start(db).await;
    // keyflow's own flows have no errors.
    for slug in [
        "default-authentication-flow",
        "default-recovery-flow",
        "default-password-change",
        "default-invalidation-flow",
    ] {
        let (status, report) = as_admin(
            &server,
            Method::GET,
            &format!("/api/v3/flows/instances/{slug}/lint/"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["errors"], 0, "{slug}: {report}");
    }

    // authentik's example replaces keyflow's recovery flow (which has MFA validation).
    flow::Entity::delete_many()
        .filter(flow::Column::Slug.eq("default-recovery-flow"))
        .exec(server.db())
        .await
        .expect("delete flow");
    let example = std::fs::read_to_string(RECOVERY_EXAMPLE).expect("the example blueprint");
    apply(&server, &example).await;
    let (status, report) = as_admin(
        &server,
        Method::GET,
        "/api/v3/flows/instances/default-recovery-flow/lint/",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let found = findings(&report);
    assert!(
        found.contains(&(
            "error".into(),
            "mfa-bypass".into(),
            Some(100),
            "default-recovery-user-login".into()
        )),
        "{report}"
    );
    assert_eq!(report["errors"], 1, "{report}");
    let bypass = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rule"] == "mfa-bypass"))
        .expect("finding");
    assert!(bypass["fix"]
        .as_str()
        .is_some_and(|f| f.contains("authenticator-validation")));
}

both_databases!(
    simulator_answers_what_a_real_run_does,
    flow_tools_need_a_superuser_and_csrf,
    diagram_is_authentiks_flow_diagram,
    linter_names_the_hole_in_authentiks_example_recovery_flow,
);

/// `keyflow flow lint SLUG`: exit code 1 and the finding on authentik's example, 0 on keyflow's
/// own recovery flow.
#[test]
fn cli_exit_code_follows_errors() {
    let keyflow = env!("CARGO_BIN_EXE_keyflow");
    let run = |url: &str, args: &[&str]| {
        std::process::Command::new(keyflow)
            .args(args)
            .env("DATABASE_URL", url)
            .env("KEYFLOW_LOG_LEVEL", "warn")
            .output()
            .expect("run keyflow")
    };
    let dir = tempfile::tempdir().expect("temp dir");

    let example = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("example.db").display()
    );
    let applied = run(&example, &["blueprint", "apply", RECOVERY_EXAMPLE]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let lint = run(&example, &["flow", "lint", "default-recovery-flow"]);
    let out = String::from_utf8_lossy(&lint.stdout);
    assert_eq!(lint.status.code(), Some(1), "{out}");
    assert!(
        out.contains("error[mfa-bypass] binding order 100 (stage \"default-recovery-user-login\""),
        "{out}"
    );
    assert!(
        out.contains("fix: Bind an authenticator-validation stage"),
        "{out}"
    );

    let own = format!("sqlite://{}?mode=rwc", dir.path().join("own.db").display());
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/blueprints/default/flow-default-recovery-flow.yaml"
    );
    let applied = run(&own, &["blueprint", "apply", file]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let lint = run(&own, &["flow", "lint", "default-recovery-flow"]);
    let out = String::from_utf8_lossy(&lint.stdout);
    assert_eq!(lint.status.code(), Some(0), "{out}");
    assert!(out.contains("default-recovery-flow: 0 error(s)"), "{out}");

    let missing = run(&own, &["flow", "lint", "no-such-flow"]);
    assert_eq!(missing.status.code(), Some(1));
}
