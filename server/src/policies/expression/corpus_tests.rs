//! The shared expression corpus (../shared/spec/expressions/corpus.yaml) and the expressions of
//! authentik's blueprints, run through keyflow's policy engine (`evaluate_target`) on a
//! throw-away SQLite database: each case's `given` becomes user/group rows, the plan context and
//! the request; its `expect` is checked against the combined result and the plan context after
//! the engine applied what the expression wrote.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::auth::password::PasswordHasher;
use crate::engine::context::{FlowContext, PendingUser};
use crate::engine::policy::{evaluate_target, PolicyRequest};
use crate::engine::request::RequestInfo;
use crate::engine::{EngineServices, EngineSettings};
use crate::flows::PolicyEngineMode;
use crate::sandbox::Sandbox;
use crate::store::{group, group_member, policy, policy_binding, user};

#[derive(Debug, Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    expression: String,
    #[serde(default)]
    given: Given,
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
struct Given {
    user: Option<GivenUser>,
    pending_user: Option<GivenUser>,
    #[serde(default)]
    prompt_data: Map<String, Json>,
    #[serde(default)]
    context: Map<String, Json>,
    client_ip: Option<String>,
    path: Option<String>,
    now: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
struct GivenUser {
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default = "yes")]
    is_active: bool,
    #[serde(default)]
    is_superuser: bool,
    #[serde(default)]
    attributes: Map<String, Json>,
    #[serde(default)]
    groups: Vec<String>,
    password_change_date: Option<DateTime<Utc>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize)]
struct Expect {
    passing: Option<bool>,
    messages: Option<Vec<String>>,
    context: Option<Map<String, Json>>,
    #[serde(default)]
    error: bool,
}

fn spec_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec")
}

/// Reads a shared-spec file; `None` (skip) only when it is absent and not running strictly.
fn read_spec(relative: &str) -> Option<String> {
    let path = spec_dir().join(relative);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(error) => {
            // `.ci/test` sets KEYFLOW_STRICT_TESTS: there the shared spec must be present.
            assert!(
                std::env::var_os("KEYFLOW_STRICT_TESTS").is_none(),
                "{} is required when KEYFLOW_STRICT_TESTS is set: {error}",
                path.display()
            );
            eprintln!("skipped: {} not present", path.display());
            None
        }
    }
}

pub(super) struct World {
    pub services: EngineServices,
    _dir: tempfile::TempDir,
}

pub(super) async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("corpus.db").display()
    );
    let db = crate::store::connect_and_migrate(&url).await.unwrap();
    let services = EngineServices {
        mail: crate::mail::Mailer::new(db.clone(), Default::default(), Default::default()),
        outbound: crate::outbound::Outbound::new().unwrap(),
        db,
        settings: Arc::new(EngineSettings::default()),
        passwords: PasswordHasher::new().unwrap(),
        sandbox: Sandbox::in_process(),
        completion: Default::default(),
        stages: crate::stages::registry(),
        policies: crate::policies::evaluator(),
        dry_run: None,
    };
    add_user(
        &services,
        &GivenUser {
            username: "akadmin".into(),
            name: "authentik Default Admin".into(),
            email: "admin@example.com".into(),
            is_active: true,
            is_superuser: true,
            attributes: Map::new(),
            groups: vec![],
            password_change_date: None,
        },
    )
    .await;
    World {
        services,
        _dir: dir,
    }
}

async fn add_user(services: &EngineServices, given: &GivenUser) -> user::Model {
    let db = &services.db;
    let row = user::ActiveModel {
        uuid: Set(Uuid::new_v4()),
        username: Set(given.username.clone()),
        email: Set(given.email.clone()),
        name: Set(given.name.clone()),
        password: Set(String::new()),
        is_active: Set(given.is_active),
        is_superuser: Set(given.is_superuser),
        attributes: Set(Json::Object(given.attributes.clone())),
        path: Set("users".into()),
        user_type: Set("internal".into()),
        last_login: Set(None),
        date_joined: Set(Utc::now()),
        password_change_date: Set(given.password_change_date),
        ..Default::default()
    }
    .insert(db)
    .await
    .unwrap();
    for name in &given.groups {
        let existing = group::Entity::find()
            .filter(group::Column::Name.eq(name.as_str()))
            .one(db)
            .await
            .unwrap();
        let group = match existing {
            Some(group) => group,
            None => group::ActiveModel {
                id: Set(Uuid::new_v4()),
                name: Set(name.clone()),
                is_superuser: Set(false),
                parent_id: Set(None),
                attributes: Set(json!({})),
            }
            .insert(db)
            .await
            .unwrap(),
        };
        group_member::ActiveModel {
            group_id: Set(group.id),
            user_id: Set(row.id),
        }
        .insert(db)
        .await
        .unwrap();
    }
    row
}

/// Binds `expression` to a fresh target; returns the target id.
pub(super) async fn bind_expression(
    services: &EngineServices,
    expression: &str,
    failure_result: bool,
    timeout_seconds: i32,
) -> Uuid {
    let target = Uuid::new_v4();
    bind_expression_to(
        services,
        target,
        expression,
        failure_result,
        timeout_seconds,
    )
    .await;
    target
}

/// Binds a new expression policy to `target` (a flow, a flow-stage binding or any id).
pub(crate) async fn bind_expression_to(
    services: &EngineServices,
    target: Uuid,
    expression: &str,
    failure_result: bool,
    timeout_seconds: i32,
) {
    let policy_id = Uuid::new_v4();
    policy::ActiveModel {
        id: Set(policy_id),
        name: Set(format!("policy-{policy_id}")),
        kind: Set("expression".into()),
        config: Set(json!({ "expression": expression })),
        execution_logging: Set(false),
    }
    .insert(&services.db)
    .await
    .unwrap();
    policy_binding::ActiveModel {
        id: Set(Uuid::new_v4()),
        target_id: Set(target),
        policy_id: Set(Some(policy_id)),
        group_id: Set(None),
        user_id: Set(None),
        negate: Set(false),
        enabled: Set(true),
        order: Set(0),
        timeout: Set(timeout_seconds),
        failure_result: Set(failure_result),
    }
    .insert(&services.db)
    .await
    .unwrap();
}

/// Runs one corpus case; `Err` describes the mismatch.
async fn run_case(case: &Case) -> Result<(), String> {
    let world = world().await;
    let services = &world.services;
    let given = &case.given;
    let signed_in = match &given.user {
        Some(u) => Some(add_user(services, u).await),
        None => None,
    };
    let mut context_json = given.context.clone();
    if !given.prompt_data.is_empty() {
        context_json.insert(
            "prompt_data".into(),
            Json::Object(given.prompt_data.clone()),
        );
    }
    let mut context: FlowContext =
        serde_json::from_value(Json::Object(context_json)).map_err(|e| e.to_string())?;
    let pending_row = match &given.pending_user {
        Some(u) => Some(add_user(services, u).await),
        None => None,
    };
    if let Some(row) = &pending_row {
        context.pending_user = Some(PendingUser {
            pk: Some(row.id),
            username: row.username.clone(),
            email: row.email.clone(),
            backend: None,
        });
    }
    let request = RequestInfo {
        client_ip: given
            .client_ip
            .clone()
            .unwrap_or_else(|| "127.0.0.1".into()),
        path: given.path.clone().unwrap_or_default(),
        method: "GET".into(),
        now: given.now,
        ..Default::default()
    };
    // The planner's rule: the saved pending user, else the signed-in user.
    let user = pending_row.as_ref().or(signed_in.as_ref());
    let policy_request = PolicyRequest {
        user,
        context: &context,
        request: &request,
    };
    // failure_result is the opposite of the expected decision, so an evaluation error can never
    // pass for a decision; error cases are checked with both failure results.
    let failure_result = case.expect.error || !case.expect.passing.unwrap_or(true);
    let target = bind_expression(services, &case.expression, failure_result, 1).await;
    let result = evaluate_target(services, target, PolicyEngineMode::All, &policy_request)
        .await
        .map_err(|e| e.to_string())?;
    if case.expect.error {
        let strict = bind_expression(services, &case.expression, false, 1).await;
        let failed = evaluate_target(services, strict, PolicyEngineMode::All, &policy_request)
            .await
            .map_err(|e| e.to_string())?;
        if !result.passing || failed.passing {
            return Err(format!(
                "expected an evaluation error (failure_result applies); got {result:?} / {failed:?}"
            ));
        }
        return Ok(());
    }
    if let Some(passing) = case.expect.passing {
        if result.passing != passing {
            return Err(format!("expected passing={passing}, got {result:?}"));
        }
    }
    if let Some(messages) = &case.expect.messages {
        if &result.messages != messages {
            return Err(format!(
                "expected messages {messages:?}, got {:?}",
                result.messages
            ));
        }
    }
    if let Some(expected) = &case.expect.context {
        context.apply_policy_writes(&result.context);
        let after = serde_json::to_value(&context).map_err(|e| e.to_string())?;
        for (key, want) in expected {
            let got = &after[key];
            let matches = if key == "pending_user" {
                got["username"] == *want
            } else {
                got == want
            };
            if !matches {
                return Err(format!("context[{key:?}]: expected {want}, got {got}"));
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_corpus_expression_reaches_its_expected_result() {
    let Some(text) = read_spec("expressions/corpus.yaml") else {
        return;
    };
    let corpus: Corpus = serde_norway::from_str(&text).unwrap();
    let mut failures = BTreeMap::new();
    for case in &corpus.cases {
        if let Err(why) = run_case(case).await {
            failures.insert(case.name.clone(), why);
        }
    }
    let passed = corpus.cases.len() - failures.len();
    eprintln!("corpus: {passed}/{} passed", corpus.cases.len());
    assert!(
        corpus.cases.len() >= 30,
        "only {} cases",
        corpus.cases.len()
    );
    assert!(
        failures.is_empty(),
        "{passed}/{} passed; failures: {failures:#?}",
        corpus.cases.len()
    );
}

/// The expressions of a blueprint file, by the `name` identifier of their entry (policies) or
/// their `field_key` (prompt initial values).
fn blueprint_expressions(file: &str, key: &str) -> Option<Vec<String>> {
    read_spec(&format!("blueprints/{file}"))
        .map(|text| super::tests::yaml_block_scalars(&text, key))
}

/// Runs `expression` as a bound policy with `context` and `user`; returns the engine's result
/// and the context after the engine applied the policy's writes.
async fn run_bound(
    world: &World,
    expression: &str,
    mut context: FlowContext,
    user: Option<&user::Model>,
) -> (crate::engine::policy::PolicyResult, FlowContext) {
    let info = RequestInfo::default();
    let target = bind_expression(&world.services, expression, false, 5).await;
    let result = evaluate_target(
        &world.services,
        target,
        PolicyEngineMode::All,
        &PolicyRequest {
            user,
            context: &context,
            request: &info,
        },
    )
    .await
    .unwrap();
    context.apply_policy_writes(&result.context);
    (result, context)
}

pub(super) async fn akadmin(world: &World) -> user::Model {
    user::Entity::find()
        .filter(user::Column::Username.eq("akadmin"))
        .one(&world.services.db)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn oobe_blueprint_sets_akadmin_as_pending_user_and_checks_its_password() {
    let Some(expressions) = blueprint_expressions("flow-oobe.yaml", "expression:") else {
        return;
    };
    let world = world().await;
    let prefill = expressions
        .iter()
        .find(|e| e.contains("injecting \"pending_user\""))
        .expect("prefill policy");
    let (result, context) = run_bound(&world, prefill, FlowContext::default(), None).await;
    assert!(result.passing, "{result:?}");
    let admin = akadmin(&world).await;
    let pending = context
        .pending_user
        .expect("pending_user set by the expression");
    assert_eq!(
        (pending.pk, pending.username.as_str()),
        (Some(admin.id), "akadmin")
    );

    // akadmin has no usable password yet: the setup flow applies.
    let usable = expressions
        .iter()
        .find(|e| e.contains("has_usable_password"))
        .expect("password-usable policy");
    let (result, _) = run_bound(&world, usable, FlowContext::default(), None).await;
    assert!(result.passing, "{result:?}");
}

#[tokio::test]
async fn sso_and_enrollment_blueprint_policies_decide_by_context() {
    let Some(expressions) =
        blueprint_expressions("flow-default-source-enrollment.yaml", "expression:")
    else {
        return;
    };
    let world = world().await;
    let if_username = &expressions[0];
    let if_sso = &expressions[1];
    let sso = FlowContext {
        is_sso: true,
        ..Default::default()
    };
    assert!(run_bound(&world, if_sso, sso.clone(), None).await.0.passing);
    assert!(
        !run_bound(&world, if_sso, FlowContext::default(), None)
            .await
            .0
            .passing
    );
    assert!(
        run_bound(&world, if_username, sso.clone(), None)
            .await
            .0
            .passing
    );
    let mut named = sso;
    named.prompt_data.insert("username".into(), json!("taken"));
    assert!(!run_bound(&world, if_username, named, None).await.0.passing);
}

#[tokio::test]
async fn user_settings_blueprint_authorizes_only_allowed_changes() {
    let Some(expressions) =
        blueprint_expressions("flow-default-user-settings-flow.yaml", "expression:")
    else {
        return;
    };
    let world = world().await;
    let admin = akadmin(&world).await;
    let authorization = &expressions[0];
    let unchanged = FlowContext {
        prompt_data: serde_json::from_value(json!({
            "username": admin.username, "name": "Renamed", "email": admin.email,
        }))
        .unwrap(),
        ..Default::default()
    };
    // The tenant allows name changes by default.
    let (result, _) = run_bound(&world, authorization, unchanged.clone(), Some(&admin)).await;
    assert!(result.passing, "{result:?}");
    let mut new_email = unchanged;
    new_email
        .prompt_data
        .insert("email".into(), json!("other@example.com"));
    let (result, _) = run_bound(&world, authorization, new_email, Some(&admin)).await;
    assert!(!result.passing);
    assert_eq!(
        result.messages,
        vec!["Not allowed to change email address."]
    );
}

#[tokio::test]
async fn user_settings_prompt_initial_values_read_the_user() {
    let Some(initial_values) =
        blueprint_expressions("flow-default-user-settings-flow.yaml", "initial_value:")
    else {
        return;
    };
    let world = world().await;
    let mut admin = akadmin(&world).await;
    admin.attributes = json!({"settings": {"locale": "de"}});
    let context = FlowContext::default();
    let info = RequestInfo::default();
    let request = PolicyRequest {
        user: Some(&admin),
        context: &context,
        request: &info,
    };
    let mut values = Vec::new();
    for expression in &initial_values {
        values.push(
            super::evaluate_value(
                &world.services,
                expression,
                &request,
                &Map::new(),
                std::time::Duration::from_secs(5),
            )
            .await
            .unwrap(),
        );
    }
    assert_eq!(
        values,
        vec![
            json!("akadmin"),
            json!("authentik Default Admin"),
            json!("admin@example.com"),
            json!("de")
        ]
    );
}
