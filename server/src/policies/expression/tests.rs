use std::time::Instant;

use super::corpus_tests::{bind_expression, world};
use super::*;
use crate::engine::{
    context::{FlowContext, PendingUser},
    policy::evaluate_target,
    request::RequestInfo,
};
use crate::flows::PolicyEngineMode;
use serde_json::json;

fn row() -> policy::Model {
    policy::Model {
        id: uuid::Uuid::nil(),
        name: "test".into(),
        kind: "expression".into(),
        config: json!({}),
        execution_logging: false,
    }
}

/// Runs `expression` against `context` (no user) with `timeout`.
async fn eval_with(
    expression: &str,
    context: &FlowContext,
    timeout: Duration,
) -> Result<PolicyResult, PolicyError> {
    let world = world().await;
    let info = RequestInfo {
        client_ip: "192.0.2.7".into(),
        ..Default::default()
    };
    let request = PolicyRequest {
        user: None,
        context,
        request: &info,
    };
    ExpressionPolicy {
        expression: expression.into(),
    }
    .evaluate(&world.services, &row(), &request, timeout)
    .await
}

async fn eval(expression: &str, context: &FlowContext) -> Result<PolicyResult, PolicyError> {
    eval_with(expression, context, Duration::from_secs(5)).await
}

fn pending(backend: Option<&str>) -> FlowContext {
    FlowContext {
        pending_user: Some(PendingUser {
            pk: None,
            username: "alice".into(),
            email: "alice@example.com".into(),
            backend: backend.map(str::to_owned),
        }),
        ..Default::default()
    }
}

/// authentik's default-authentication-flow password binding expression, verbatim.
const PASSWORD_OPTIONAL: &str = r#"flow_plan = request.context.get("flow_plan")
if not flow_plan:
    return True
# If the user does not have a backend attached to it, they haven't
# been authenticated yet and we need the password stage
return not hasattr(flow_plan.context.get("pending_user"), "backend")
"#;

#[tokio::test]
async fn default_password_binding_expression_skips_only_users_with_a_backend() {
    assert!(
        eval(PASSWORD_OPTIONAL, &pending(None))
            .await
            .unwrap()
            .passing
    );
    let with_backend = pending(Some("keyflow.auth.password"));
    assert!(
        !eval(PASSWORD_OPTIONAL, &with_backend)
            .await
            .unwrap()
            .passing
    );
    // No pending user at all: `hasattr(None, "backend")` is false, the stage stays.
    assert!(
        eval(PASSWORD_OPTIONAL, &FlowContext::default())
            .await
            .unwrap()
            .passing
    );
}

#[tokio::test]
async fn return_values_follow_python_truthiness_and_none_fails() {
    let context = FlowContext::default();
    for (expression, passing) in [
        ("return True", true),
        ("return 1", true),
        ("return 'x'", true),
        ("return []", false),
        ("return 0", false),
        ("x = 1", false),
        ("return None", false),
        ("# only a comment", false),
    ] {
        assert_eq!(
            eval(expression, &context).await.unwrap().passing,
            passing,
            "{expression}"
        );
    }
}

#[tokio::test]
async fn context_globals_and_messages_are_available() {
    let mut context = FlowContext {
        is_sso: true,
        auth_method: Some("password".into()),
        ..Default::default()
    };
    context.prompt_data.insert("email".into(), json!("a@b.c"));
    let result = eval(
        r#"ak_message("hello " + str(ak_client_ip))
ak_logger.info("evaluated", user="x")
if not ak_is_sso_flow:
    return False
return context.get("auth_method") != "app_password" and request.context["prompt_data"]["email"] == "a@b.c" and not request.user.is_authenticated
"#,
        &context,
    )
    .await
    .unwrap();
    assert!(result.passing);
    assert_eq!(result.messages, vec!["hello 192.0.2.7".to_owned()]);
    assert!(result.context.is_empty(), "{:?}", result.context);
}

#[tokio::test]
async fn flow_plan_context_is_the_same_dict_as_context_and_writes_come_back() {
    let result = eval(
        "context['flow_plan'].context['marker'] = 1\nreturn request.context.get('marker') == 1",
        &FlowContext::default(),
    )
    .await
    .unwrap();
    assert!(result.passing);
    assert_eq!(result.context.get("marker"), Some(&json!(1)));
}

#[tokio::test]
async fn imported_authentik_constants_resolve() {
    let result = eval(
        "from authentik.core.models import (\n    USER_ATTRIBUTE_CHANGE_EMAIL,\n)\nreturn USER_ATTRIBUTE_CHANGE_EMAIL == 'goauthentik.io/user/can-change-email' and not request.http_request.tenant.default_user_change_email",
        &FlowContext::default(),
    )
    .await
    .unwrap();
    assert!(result.passing);
}

#[tokio::test]
async fn ip_helpers_behave_like_pythons_ipaddress() {
    let result = eval(
        r#"import ipaddress
a = ip_address("2001:db8::1")
assert str(a) == "2001:db8::1", str(a)
assert a in ip_network("2001:db8::/32")
assert ip_address("::ffff:10.0.0.1") in ipaddress.ip_network("::ffff:0:0/96")
assert ip_address("10.1.2.3").is_private and not ip_address("8.8.8.8").is_private
assert ak_client_ip == ip_address("192.0.2.7")
try:
    ip_network("10.0.0.1/8")
    return False
except ValueError:
    pass
return ip_network("10.0.0.1/8", strict=False) == ip_network("10.0.0.0/8")
"#,
        &FlowContext::default(),
    )
    .await
    .unwrap();
    assert!(result.passing);
}

#[tokio::test]
async fn helpers_regex_slugify_flatten() {
    let result = eval(
        r#"assert regex_match("abc123", r"\d+")
assert regex_replace("a-b-c", "-", "_") == "a_b_c"
assert slugify(" Hello, World! ") == "hello-world"
assert list_flatten(["x", "y"]) == "x" and list_flatten([]) is None and list_flatten("z") == "z"
return True
"#,
        &FlowContext::default(),
    )
    .await
    .unwrap();
    assert!(result.passing);
}

#[tokio::test]
async fn using_an_unsupported_import_fails_at_run_time_naming_it() {
    let expression =
        "from authentik.flows.models import Flow\nFlow.objects.filter(slug='x')\nreturn True";
    assert!(ExpressionPolicy {
        expression: expression.into()
    }
    .validate()
    .is_empty());
    let error = eval(expression, &FlowContext::default()).await.unwrap_err();
    assert!(
        error.to_string().contains("authentik.flows.models.Flow"),
        "{error}"
    );
}

#[test]
fn compile_errors_name_the_line_and_column_of_the_expression() {
    let syntax = ExpressionPolicy {
        expression: "x = 1\nreturn (x +\n".into(),
    };
    let errors = syntax.validate();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "expression");
    assert!(errors[0].1.starts_with("line "), "{}", errors[0].1);

    let misplaced = ExpressionPolicy {
        expression: "a = 1\nif a == 1\n    return a".into(),
    };
    let message = &misplaced.validate()[0].1;
    assert!(message.starts_with("line 2, column 10:"), "{message}");

    assert_eq!(
        ExpressionPolicy::default().validate()[0].1,
        "This field may not be blank."
    );
}

#[tokio::test]
async fn runtime_errors_are_errors_not_results() {
    let error = eval("return {}['missing']", &FlowContext::default())
        .await
        .unwrap_err();
    assert!(matches!(error, PolicyError::Expression(_)), "{error:?}");
    assert!(error.to_string().contains("KeyError"), "{error}");
}

#[tokio::test]
async fn a_deadline_stops_long_loops() {
    let started = Instant::now();
    let result = eval_with(
        "n = 0\nfor i in range(1000000000):\n    n += i\nreturn True",
        &FlowContext::default(),
        Duration::from_millis(300),
    )
    .await;
    assert!(matches!(result, Err(PolicyError::Timeout(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A runaway expression ends at the binding's timeout and the binding's failure_result applies.
#[tokio::test]
async fn a_runaway_loop_yields_the_failure_result() {
    let world = world().await;
    let context = FlowContext::default();
    let info = RequestInfo::default();
    let request = PolicyRequest {
        user: None,
        context: &context,
        request: &info,
    };
    for failure_result in [false, true] {
        let target =
            bind_expression(&world.services, "while True:\n    pass", failure_result, 1).await;
        let started = Instant::now();
        let result = evaluate_target(&world.services, target, PolicyEngineMode::All, &request)
            .await
            .unwrap();
        assert_eq!(result.passing, failure_result);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

/// What an expression may not do ends as an evaluation error, never a crash or host access.
#[tokio::test]
async fn hostile_expressions_are_evaluation_errors() {
    for (expression, why) in [
        (
            "import os\nreturn os.environ.get('HOME') is not None",
            "module 'os' is not available",
        ),
        (
            "from os import system\nsystem('true')\nreturn True",
            "module 'os' is not available",
        ),
        ("import subprocess\nreturn True", "module 'subprocess'"),
        ("import sys\nreturn True", "module 'sys'"),
        ("return open('/etc/passwd').read() != ''", "PermissionError"),
        (
            "import pathlib\nreturn pathlib.Path('/etc/passwd').exists()",
            "module 'pathlib'",
        ),
        (
            "def f(n):\n    return f(n + 1)\nreturn f(0)",
            "recursion limit",
        ),
        ("x = 'a' * (1 << 40)\nreturn True", "too much memory"),
        ("x = [0] * (1 << 40)\nreturn True", "too much memory"),
        ("return __import__('os')", "NameError"),
        ("return eval('1')", "NameError"),
        ("return exec('x = 1')", "NameError"),
    ] {
        let result = eval_with(expression, &FlowContext::default(), Duration::from_secs(2)).await;
        match result {
            Err(PolicyError::Expression(message)) => {
                assert!(message.contains(why), "{expression}: {message}")
            }
            other => panic!("{expression}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn oversized_inputs_are_refused() {
    let mut context = FlowContext::default();
    context.set_extra("blob", "x".repeat(MAX_INPUT_BYTES + 1));
    assert!(matches!(
        eval("return True", &context).await,
        Err(PolicyError::Expression(_))
    ));
}

/// Every expression in the shared authentik blueprints compiles.
#[test]
fn blueprint_expressions_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/spec/blueprints");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        // `.ci/test` sets KEYFLOW_STRICT_TESTS: there the shared spec must be present.
        assert!(
            std::env::var_os("KEYFLOW_STRICT_TESTS").is_none(),
            "{} is required when KEYFLOW_STRICT_TESTS is set",
            dir.display()
        );
        eprintln!("skipped: {} not present", dir.display());
        return;
    };
    let mut checked = 0;
    for entry in entries.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for key in ["expression:", "initial_value:", "placeholder:"] {
            for expression in yaml_block_scalars(&text, key) {
                let errors = ExpressionPolicy {
                    expression: expression.clone(),
                }
                .validate();
                assert!(
                    errors.is_empty(),
                    "{}: {errors:?}\n{expression}",
                    entry.path().display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "only {checked} expressions found");
}

/// The `key: |` block scalars of a YAML file (enough YAML for the blueprints).
pub(super) fn yaml_block_scalars(text: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let Some(rest) = trimmed.strip_prefix(key) else {
            continue;
        };
        if rest.trim() != "|" {
            continue;
        }
        let key_indent = line.len() - line.trim_start().len();
        let mut block = Vec::new();
        let mut indent = None;
        for next in &lines[i + 1..] {
            let this_indent = next.len() - next.trim_start().len();
            if !next.trim().is_empty() && this_indent <= key_indent {
                break;
            }
            let strip = *indent.get_or_insert(this_indent);
            block.push(next.get(strip.min(next.len())..).unwrap_or("").to_owned());
        }
        found.push(block.join("\n"));
    }
    found
}

#[tokio::test]
async fn ak_user_has_authenticator_sees_only_confirmed_devices_of_the_asked_kind() {
    let world = world().await;
    let admin = super::corpus_tests::akadmin(&world).await;
    let check = |expression: &'static str| {
        let services = world.services.clone();
        async move {
            let context = FlowContext::default();
            let info = RequestInfo::default();
            let request = PolicyRequest {
                user: None,
                context: &context,
                request: &info,
            };
            ExpressionPolicy {
                expression: expression.into(),
            }
            .evaluate(&services, &row(), &request, Duration::from_secs(5))
            .await
            .map(|result| result.passing)
        }
    };
    let any = "return ak_user_has_authenticator(ak_user_by(username='akadmin'))";
    let static_only = "return ak_user_has_authenticator(ak_user_by(username='akadmin'), 'static')";
    let totp_only = "return ak_user_has_authenticator(ak_user_by(username='akadmin'), 'totp')";
    let keys = crate::mfa::crypto::MfaKeys::derive("test-secret");
    let device = crate::mfa::devices::create_static(
        &world.services.db,
        &keys,
        admin.id,
        "codes",
        &["abc123".to_owned()],
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    // An unconfirmed device does not count.
    assert!(!check(any).await.unwrap());
    crate::mfa::devices::confirm_static(&world.services.db, device.id)
        .await
        .unwrap();
    assert!(check(any).await.unwrap());
    assert!(check(static_only).await.unwrap());
    assert!(!check(totp_only).await.unwrap());
    assert!(
        check("return ak_user_has_authenticator(ak_user_by(username='akadmin'), 'pigeon')")
            .await
            .is_err()
    );
}
