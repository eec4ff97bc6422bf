//! Per-evaluation cost of expression policies, through the public policy API
//! (`keyflow::policies::evaluate`), on a throw-away SQLite database.
//!
//! Run: `cargo build --release -p keyflow --bin keyflow --example expression_bench && \
//!       target/release/examples/expression_bench [iterations]`
//! (a debug build works too: `cargo build -p keyflow --bin keyflow --example expression_bench`
//! then `target/debug/examples/expression_bench`; say which when quoting figures). Prints the
//! median and p95 wall time of one evaluation per expression, with the sandbox in-process and,
//! when the `keyflow` binary sits next to `examples/` (it is the worker executable), with the
//! production worker-process pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use keyflow::auth::password::PasswordHasher;
use keyflow::engine::context::{FlowContext, PendingUser};
use keyflow::engine::policy::PolicyRequest;
use keyflow::engine::request::RequestInfo;
use keyflow::engine::{EngineServices, EngineSettings};
use keyflow::sandbox::{Sandbox, SandboxConfig};
use keyflow::store::{group, group_member, policy};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::json;

/// authentik's default-authentication-flow password binding expression.
const PASSWORD_OPTIONAL: &str = r#"flow_plan = request.context.get("flow_plan")
if not flow_plan:
    return True
return not hasattr(flow_plan.context.get("pending_user"), "backend")
"#;

/// String work on prompt data and a message (no database).
const PROMPT_CHECK: &str = r#"email = request.context["prompt_data"]["email"]
domain = email.split("@")[-1].lower()
if domain not in ["example.com", "example.org"]:
    ak_message("Sign-up is limited to company addresses: " + domain)
    return False
return request.user.username.startswith("bench")
"#;

/// A group lookup (one round trip to the database through the host).
const GROUP_MEMBER: &str = r#"return ak_is_group_member(request.user, name="staff")
"#;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir()?;
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("bench.db").display()
    );
    let db = keyflow::store::connect_and_migrate(&url).await?;
    let mut sandboxes = vec![("in-process", Sandbox::in_process())];
    let worker = std::env::current_exe()?
        .parent()
        .and_then(|examples| examples.parent())
        .map(|profile| profile.join("keyflow"))
        .filter(|exe| exe.exists());
    match worker {
        Some(exe) => sandboxes.push((
            "worker pool",
            Sandbox::new(SandboxConfig {
                worker_exe: Some(exe),
                ..SandboxConfig::default()
            }),
        )),
        None => println!("(no keyflow binary next to examples/: worker pool not measured)"),
    }
    let passwords = PasswordHasher::new()?;
    let user = keyflow::users::create(
        &db,
        keyflow::users::NewUser {
            username: "bench-user",
            email: "bench@example.com",
            name: "Bench User",
            password_hash: String::new(),
            is_superuser: false,
            user_type: "internal",
            path: "users",
        },
        Utc::now(),
    )
    .await?;
    let staff = group::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        name: Set("staff".into()),
        is_superuser: Set(false),
        parent_id: Set(None),
        attributes: Set(json!({})),
    }
    .insert(&db)
    .await?;
    group_member::ActiveModel {
        group_id: Set(staff.id),
        user_id: Set(user.id),
    }
    .insert(&db)
    .await?;

    let mut context = FlowContext {
        pending_user: Some(PendingUser {
            pk: Some(user.id),
            username: user.username.clone(),
            email: user.email.clone(),
            backend: None,
        }),
        ..Default::default()
    };
    context
        .prompt_data
        .insert("email".into(), json!("someone@Example.org"));
    let info = RequestInfo {
        client_ip: "192.0.2.10".into(),
        host: "localhost".into(),
        scheme: "http".into(),
        ..Default::default()
    };
    let request = PolicyRequest {
        user: Some(&user),
        context: &context,
        request: &info,
    };

    for (mode, sandbox) in sandboxes {
        let services = EngineServices {
            db: db.clone(),
            settings: Arc::new(EngineSettings::default()),
            passwords: passwords.clone(),
            sandbox,
            mail: keyflow::mail::Mailer::new(db.clone(), Default::default(), Default::default()),
            outbound: keyflow::outbound::Outbound::new().expect("HTTP client"),
            completion: Default::default(),
            stages: keyflow::stages::registry(),
            policies: keyflow::policies::evaluator(),
            dry_run: None,
        };
        println!(
            "{mode}: expression policy evaluation, {iterations} runs each (after 50 warm-up runs)"
        );
        for (name, expression) in [
            ("password_optional", PASSWORD_OPTIONAL),
            ("prompt_check", PROMPT_CHECK),
            ("group_member", GROUP_MEMBER),
        ] {
            let row = policy::Model {
                id: uuid::Uuid::new_v4(),
                name: name.into(),
                kind: "expression".into(),
                config: json!({ "expression": expression }),
                execution_logging: false,
            };
            let timeout = Duration::from_secs(30);
            let mut times = Vec::with_capacity(iterations);
            for i in 0..iterations + 50 {
                let started = Instant::now();
                let result =
                    keyflow::policies::evaluate(&services, &row, &request, timeout).await?;
                let elapsed = started.elapsed();
                if !result.passing {
                    return Err(format!("{name}: expected a pass, got {result:?}").into());
                }
                if i >= 50 {
                    times.push(elapsed);
                }
            }
            times.sort();
            println!(
                "{name:>18}: median {:>8.1} µs   p95 {:>8.1} µs",
                percentile(&times, 0.5).as_secs_f64() * 1e6,
                percentile(&times, 0.95).as_secs_f64() * 1e6,
            );
        }
    }
    Ok(())
}
