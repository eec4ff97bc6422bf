//! The in-process mode and the interpreter driver shared with the workers. The isolated mode
//! (worker processes) is tested in `server/tests/integration/sandbox.rs` with the real binary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::*;

fn job(code: &str) -> Job {
    Job {
        code: Arc::from(code),
        script_name: "test.py".into(),
        input_names: vec![],
        inputs: vec![],
        timeout: Duration::from_secs(5),
    }
}

fn function(name: &str) -> MontyObject {
    MontyObject::Function {
        name: name.into(),
        docstring: None,
    }
}

/// Answers `double(n)`, raises for `fail()`, and records every call.
#[derive(Default)]
struct Recorder {
    calls: Vec<HostCall>,
}

#[async_trait]
impl Host for Recorder {
    async fn call(&mut self, call: HostCall) -> HostReply {
        self.calls.push(call.clone());
        match (call.function.as_str(), call.args.first()) {
            ("double", Some(MontyObject::Int(n))) => HostReply::Value(MontyObject::Int(n * 2)),
            _ => HostReply::Raise {
                exc_type: "ValueError".into(),
                message: format!("no {}", call.function),
            },
        }
    }
}

async fn run(job: Job) -> Result<MontyObject, SandboxError> {
    Sandbox::in_process()
        .run(job, &mut Recorder::default())
        .await
}

#[tokio::test]
async fn the_last_expression_is_the_result_and_inputs_are_bound() {
    let mut j = job("def f(u):\n    return u + '!' if u is not None else None\nf(name)");
    j.input_names = vec!["name".into()];
    j.inputs = vec![MontyObject::String("akadmin".into())];
    assert_eq!(
        run(j).await.unwrap(),
        MontyObject::String("akadmin!".into())
    );
}

#[tokio::test]
async fn host_functions_are_answered_by_the_host_and_their_errors_are_catchable() {
    let mut j = job(
        "a = double(21)\ntry:\n    fail(1, key='v')\n    b = 'no'\nexcept ValueError as e:\n    b = str(e)\n(a, b)",
    );
    j.input_names = vec!["double".into(), "fail".into()];
    j.inputs = vec![function("double"), function("fail")];
    let mut host = Recorder::default();
    let value = Sandbox::in_process().run(j, &mut host).await.unwrap();
    assert_eq!(
        value,
        MontyObject::Tuple(vec![
            MontyObject::Int(42),
            MontyObject::String("no fail".into())
        ])
    );
    assert_eq!(host.calls.len(), 2);
    assert_eq!(
        host.calls[1].kwargs,
        vec![(
            MontyObject::String("key".into()),
            MontyObject::String("v".into())
        )]
    );
}

#[tokio::test]
async fn an_uncaught_exception_keeps_its_type_and_message() {
    assert_eq!(
        run(job("x = 1\nraise KeyError('missing')")).await,
        Err(SandboxError::Raised {
            exc_type: "KeyError".into(),
            message: "missing".into()
        })
    );
    let undefined = run(job("undefined_name + 1")).await;
    assert!(
        matches!(&undefined, Err(SandboxError::Raised { exc_type, .. }) if exc_type == "NameError"),
        "{undefined:?}"
    );
}

#[test]
fn compile_errors_name_the_line_and_column_as_written() {
    let error = Sandbox::compile_check("x = 1\ny = (2 +\n", &[]).unwrap_err();
    let SandboxError::Compile { line, column, .. } = error else {
        panic!("{error:?}");
    };
    assert!(line >= 2, "line {line}");
    assert!(column >= 1);
    let error = Sandbox::compile_check("ok = 1\n  bad = 2\n", &[]).unwrap_err();
    assert!(
        matches!(error, SandboxError::Compile { line: 2, .. }),
        "{error:?}"
    );
    assert_eq!(
        Sandbox::compile_check("return_value = user is not None", &["user".into()]),
        Ok(())
    );
}

#[tokio::test]
async fn an_endless_loop_ends_as_a_timeout() {
    let mut j = job("while True:\n    pass");
    j.timeout = Duration::from_millis(200);
    let started = Instant::now();
    assert_eq!(run(j).await, Err(SandboxError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_program_raising_timeout_error_itself_is_a_plain_exception() {
    let result = run(job("raise TimeoutError('slow backend')")).await;
    assert!(
        matches!(&result, Err(SandboxError::Raised { exc_type, .. }) if exc_type == "TimeoutError"),
        "{result:?}"
    );
}

#[tokio::test]
async fn endless_recursion_ends_at_the_recursion_limit() {
    assert_eq!(
        run(job("def f(n):\n    return f(n + 1)\nf(0)")).await,
        Err(SandboxError::RecursionLimit)
    );
}

#[tokio::test]
async fn a_huge_single_allocation_is_refused_before_it_happens() {
    assert_eq!(
        run(job("'x' * 10**10")).await,
        Err(SandboxError::MemoryLimit)
    );
    assert_eq!(
        run(job("2 ** 10**10")).await,
        Err(SandboxError::MemoryLimit)
    );
}

#[tokio::test]
async fn files_and_environment_are_out_of_reach() {
    for code in [
        "open('/etc/passwd').read()",
        "import os\nos.listdir('/')",
        "import os\nos.getenv('HOME')",
        "import os\nos.environ['PATH']",
        "from pathlib import Path\nPath('/etc/passwd').read_text()",
        "import subprocess",
        "import socket",
        "__import__('os').system('true')",
    ] {
        let result = run(job(code)).await;
        assert!(
            matches!(
                result,
                Err(SandboxError::Raised { .. } | SandboxError::Compile { .. })
            ),
            "{code:?} gave {result:?}"
        );
    }
}

#[tokio::test]
async fn each_job_starts_from_a_fresh_state() {
    let sandbox = Sandbox::in_process();
    let mut host = Recorder::default();
    let first = sandbox
        .run(job("leaked = 'secret'\nleaked"), &mut host)
        .await;
    assert_eq!(first, Ok(MontyObject::String("secret".into())));
    let second = sandbox.run(job("leaked"), &mut host).await;
    assert!(
        matches!(&second, Err(SandboxError::Raised { exc_type, .. }) if exc_type == "NameError"),
        "{second:?}"
    );
}

/// A host whose `nested()` runs another job on the same sandbox, as `ak_call_policy` does.
struct Nesting {
    sandbox: Sandbox,
}

#[async_trait]
impl Host for Nesting {
    async fn call(&mut self, call: HostCall) -> HostReply {
        let mut inner = job("nested() + 1");
        inner.input_names = vec!["nested".into()];
        inner.inputs = vec![function("nested")];
        if call.function == "leaf" {
            inner = job("41");
        }
        let sandbox = self.sandbox.clone();
        match sandbox.run(inner, self).await {
            Ok(value) => HostReply::Value(value),
            Err(error) => HostReply::Raise {
                exc_type: "RuntimeError".into(),
                message: error.to_string(),
            },
        }
    }
}

#[tokio::test]
async fn a_host_call_may_run_a_nested_job() {
    let sandbox = Sandbox::in_process();
    let mut outer = job("leaf() + 1");
    outer.input_names = vec!["leaf".into()];
    outer.inputs = vec![function("leaf")];
    let mut host = Nesting {
        sandbox: sandbox.clone(),
    };
    assert_eq!(
        sandbox.run(outer, &mut host).await,
        Ok(MontyObject::Int(42))
    );
}

#[tokio::test]
async fn endless_nesting_stops_at_the_depth_limit() {
    let sandbox = Sandbox::in_process();
    let mut outer = job("nested()");
    outer.input_names = vec!["nested".into()];
    outer.inputs = vec![function("nested")];
    let mut host = Nesting {
        sandbox: sandbox.clone(),
    };
    let result = sandbox.run(outer, &mut host).await;
    assert!(
        matches!(&result, Err(SandboxError::Raised { message, .. }) if message.contains("recursion")),
        "{result:?}"
    );
}

/// Request handlers need `Send` futures; a `run` that held a non-`Send` value across an await
/// would not compile there.
#[test]
fn run_is_usable_from_a_request_handler() {
    fn assert_send<T: Send>(_: &T) {}
    let sandbox = Sandbox::in_process();
    let mut host = Recorder::default();
    assert_send(&sandbox.run(job("1"), &mut host));
    let pooled = Sandbox::new(SandboxConfig::default());
    assert_send(&pooled.run(job("1"), &mut host));
}
