use super::*;
use crate::engine::{
    context::{FlowContext, PendingUser},
    request::RequestInfo,
};

fn offline_host() -> Host {
    Host {
        services: None,
        runtime: None,
        policy: "test".into(),
    }
}

fn row() -> policy::Model {
    policy::Model {
        id: uuid::Uuid::nil(),
        name: "test".into(),
        kind: "expression".into(),
        config: json!({}),
        execution_logging: false,
    }
}

/// Runs `expression` against `context` with no database.
fn eval(expression: &str, context: &FlowContext) -> Result<Outcome, ExpressionError> {
    let request = PolicyRequest {
        user: None,
        context,
        request: &RequestInfo {
            client_ip: "192.0.2.7".into(),
            ..Default::default()
        },
    };
    let input = input(&request, &row()).unwrap();
    run(expression, input, &offline_host(), None, true)
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

#[test]
fn default_password_binding_expression_skips_only_users_with_a_backend() {
    assert!(eval(PASSWORD_OPTIONAL, &pending(None)).unwrap().passing);
    let with_backend = pending(Some("keyflow.auth.password"));
    assert!(!eval(PASSWORD_OPTIONAL, &with_backend).unwrap().passing);
    // No pending user at all: `hasattr(None, "backend")` is false, the stage stays.
    assert!(
        eval(PASSWORD_OPTIONAL, &FlowContext::default())
            .unwrap()
            .passing
    );
}

#[test]
fn return_values_follow_python_truthiness_and_none_fails() {
    let context = FlowContext::default();
    for (expression, passing) in [
        ("return True", true),
        ("return 1", true),
        ("return 'x'", true),
        ("return []", false),
        ("return 0", false),
        ("x = 1", false),
        ("return None", false),
    ] {
        assert_eq!(
            eval(expression, &context).unwrap().passing,
            passing,
            "{expression}"
        );
    }
}

#[test]
fn context_globals_and_messages_are_available() {
    let mut context = FlowContext {
        is_sso: true,
        auth_method: Some("password".into()),
        ..Default::default()
    };
    context.prompt_data.insert("email".into(), json!("a@b.c"));
    let outcome = eval(
        r#"ak_message("hello " + ak_client_ip)
ak_logger.info("evaluated", user="x")
if not ak_is_sso_flow:
    return False
return context.get("auth_method") != "app_password" and request.context["prompt_data"]["email"] == "a@b.c" and not request.user.is_authenticated
"#,
        &context,
    )
    .unwrap();
    assert_eq!(
        outcome,
        Outcome {
            passing: true,
            messages: vec!["hello 192.0.2.7".into()]
        }
    );
}

#[test]
fn flow_plan_context_is_the_same_dict_as_context() {
    let outcome = eval(
        "context['flow_plan'].context['marker'] = 1\nreturn request.context.get('marker') == 1",
        &FlowContext::default(),
    )
    .unwrap();
    assert!(outcome.passing);
}

#[test]
fn imported_authentik_constants_resolve() {
    let outcome = eval(
        "from authentik.core.models import (\n    USER_ATTRIBUTE_CHANGE_EMAIL,\n)\nreturn USER_ATTRIBUTE_CHANGE_EMAIL == 'goauthentik.io/user/can-change-email' and not request.http_request.tenant.default_user_change_email",
        &FlowContext::default(),
    )
    .unwrap();
    assert!(outcome.passing);
}

#[test]
fn using_an_unsupported_import_fails_at_run_time_naming_it() {
    let expression =
        "from authentik.flows.models import Flow\nFlow.objects.filter(slug='x')\nreturn True";
    assert!(ExpressionPolicy {
        expression: expression.into()
    }
    .validate()
    .is_empty());
    let error = eval(expression, &FlowContext::default()).unwrap_err();
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

    let unknown = ExpressionPolicy {
        expression: "a = 1\nreturn b == a".into(),
    };
    let message = &unknown.validate()[0].1;
    assert!(message.starts_with("line 2, column 8:"), "{message}");
    assert!(message.contains('b'), "{message}");

    assert_eq!(
        ExpressionPolicy::default().validate()[0].1,
        "This field may not be blank."
    );
}

#[test]
fn runtime_errors_are_errors_not_results() {
    let error = eval("return {}['missing']", &FlowContext::default()).unwrap_err();
    assert!(matches!(error, ExpressionError::Runtime(_)), "{error:?}");
}

#[test]
fn a_deadline_stops_long_loops() {
    let request = FlowContext::default();
    let input = input(
        &PolicyRequest {
            user: None,
            context: &request,
            request: &RequestInfo::default(),
        },
        &row(),
    )
    .unwrap();
    let started = Instant::now();
    let result = run(
        "n = 0\nfor i in range(1000000000):\n    n += i\nreturn True",
        input,
        &offline_host(),
        Some(Instant::now() + Duration::from_millis(200)),
        true,
    );
    assert_eq!(result, Err(ExpressionError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn oversized_inputs_are_refused() {
    let mut context = FlowContext::default();
    context.set_extra("blob", "x".repeat(MAX_INPUT_BYTES + 1));
    let request = PolicyRequest {
        user: None,
        context: &context,
        request: &RequestInfo::default(),
    };
    assert!(matches!(
        input(&request, &row()),
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
        for expression in yaml_block_scalars(&text, "expression:") {
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
    assert!(checked >= 8, "only {checked} expressions found");
}

/// The `key: |` block scalars of a YAML file (enough YAML for the blueprints).
fn yaml_block_scalars(text: &str, key: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != format!("{key} |") {
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
