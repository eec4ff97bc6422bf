//! Expression policy: authentik's Python expressions, run unchanged by a sandboxed Python
//! interpreter (`monty`, through `crate::sandbox`). The admin's expression becomes the body of a
//! function, after a Python prelude (`prelude.py`) that gives it authentik's globals: `request`
//! (`.user`, `.context`, `.http_request`), `context`, `ak_message`, `ak_logger`,
//! `ak_is_group_member`, `ak_user_by`, `ak_user_has_authenticator`, `ak_call_policy`,
//! `ak_create_event`, `ak_is_sso_flow`, `ak_client_ip`, `ip_address`, `ip_network`,
//! `regex_match`, `regex_replace`, `list_flatten`, `slugify`. What needs the database is
//! answered by [`host::ExpressionHost`].
//!
//! The sandbox has no file system, environment, network or process access; it stops at the
//! binding's timeout and at memory and recursion limits. Any error, including a timeout, is an
//! evaluation failure: the binding's `failure_result` applies and the error text becomes the
//! message. Plan-context keys the expression sets (`context["flow_plan"].context[...] = ...`,
//! `request.context["prompt_data"][...] = ...`) come back in [`PolicyResult::context`].

mod host;
mod program;
mod values;

#[cfg(test)]
pub(crate) mod corpus_tests;

use std::sync::Arc;
use std::time::Duration;

use monty_types::MontyObject;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use thiserror::Error;

use super::{FieldErrors, PolicyError};
use crate::engine::{
    policy::{PolicyRequest, PolicyResult},
    EngineServices,
};
use crate::sandbox::{Host, Job, Sandbox, SandboxError};
use crate::store::policy;
use program::Program;

/// Expressions are short programs; this keeps compile time and memory predictable.
const MAX_EXPRESSION_BYTES: usize = 64 * 1024;
/// The serialised plan context an expression receives.
const MAX_INPUT_BYTES: usize = 1024 * 1024;
/// Longest error text kept as a policy message.
const MAX_MESSAGE_CHARS: usize = 500;
/// Longest log line an expression may write (longer ones are cut).
const MAX_LOG_CHARS: usize = 1000;
/// Headers never handed to expressions (credentials).
const HIDDEN_HEADERS: &[&str] = &["cookie", "authorization", "proxy-authorization"];

/// The program's inputs, in order: the request data, then the host functions.
const INPUT_NAMES: &[&str] = &[
    "_ak_input",
    "_ak_host_user_by",
    "_ak_host_user_groups",
    "_ak_host_has_authenticator",
    "_ak_host_call_policy",
    "_ak_host_create_event",
];

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpressionPolicy {
    pub expression: String,
}

#[derive(Debug, Error, PartialEq)]
pub enum ExpressionError {
    /// `line`/`column` are 1-based, in the expression as written.
    #[error("line {line}, column {column}: {message}")]
    Compile {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Runtime(String),
    #[error("expression timed out")]
    Timeout,
    #[error("{0}")]
    TooLarge(&'static str),
}

/// What the expression decided, and the plan-context keys it set.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub passing: bool,
    pub messages: Vec<String>,
    /// The whole plan context after the expression ran (as the plan stores it).
    pub context: Map<String, Json>,
    /// What the expression returned, as JSON (prompt initial values, placeholders).
    pub value: Json,
}

fn input_names() -> Vec<String> {
    INPUT_NAMES.iter().map(|n| (*n).to_owned()).collect()
}

/// Compiles `expression` without running it (the admin's "check" before saving): `Compile`
/// errors carry the 1-based line and column in the expression as written.
pub fn check(expression: &str) -> Result<(), ExpressionError> {
    compile(expression).map(|_| ())
}

impl ExpressionPolicy {
    /// Compiles the expression so syntax errors are reported, with their position in the
    /// expression as written, when the policy is saved.
    pub fn validate(&self) -> FieldErrors {
        if self.expression.trim().is_empty() {
            return vec![("expression".into(), "This field may not be blank.".into())];
        }
        match compile(&self.expression) {
            Ok(_) => Vec::new(),
            Err(error) => vec![("expression".into(), error.to_string())],
        }
    }

    pub async fn evaluate(
        &self,
        services: &EngineServices,
        row: &policy::Model,
        request: &PolicyRequest<'_>,
        timeout: Duration,
    ) -> Result<PolicyResult, PolicyError> {
        self.evaluate_at_depth(services, row, request, timeout, 0)
            .await
    }

    /// `depth` counts `ak_call_policy` nesting (bounded by the host).
    async fn evaluate_at_depth(
        &self,
        services: &EngineServices,
        row: &policy::Model,
        request: &PolicyRequest<'_>,
        timeout: Duration,
        depth: usize,
    ) -> Result<PolicyResult, PolicyError> {
        let (input, before) = input(request, &row.name, None)?;
        let mut host = host::ExpressionHost {
            services,
            request,
            policy: &row.name,
            timeout,
            depth,
        };
        let outcome = run(
            &services.sandbox,
            &self.expression,
            input,
            &mut host,
            timeout,
            &row.name,
        )
        .await;
        match outcome {
            Ok(outcome) => Ok(PolicyResult {
                passing: outcome.passing,
                messages: outcome.messages,
                context: changed_context(&before, outcome.context),
            }),
            Err(ExpressionError::Timeout) => Err(PolicyError::Timeout(timeout.as_secs())),
            Err(error) => Err(PolicyError::Expression(error.to_string())),
        }
    }
}

/// The program for `expression` (prelude + wrapped body), not yet compiled.
fn build(expression: &str) -> Result<Program, ExpressionError> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(ExpressionError::TooLarge("expression is too long"));
    }
    Ok(Program::build(expression))
}

/// [`build`], then a compile check (at save time: errors with their position, nothing run).
fn compile(expression: &str) -> Result<Program, ExpressionError> {
    let program = build(expression)?;
    Sandbox::compile_check(&program.code, &input_names()).map_err(|e| locate(&program, e))?;
    Ok(program)
}

/// A sandbox error as the admin should read it: compile positions in the expression as written.
fn locate(program: &Program, error: SandboxError) -> ExpressionError {
    match error {
        SandboxError::Compile {
            line,
            column,
            message,
        } => match program.expression_position(line, column) {
            Some((line, column)) => ExpressionError::Compile {
                line,
                column,
                message,
            },
            None => {
                ExpressionError::Runtime(format!("expression could not be compiled: {message}"))
            }
        },
        SandboxError::Timeout => ExpressionError::Timeout,
        SandboxError::Raised { exc_type, message } => {
            let text = if message.is_empty() {
                exc_type
            } else {
                format!("{exc_type}: {message}")
            };
            ExpressionError::Runtime(text.chars().take(MAX_MESSAGE_CHARS).collect())
        }
        SandboxError::MemoryLimit => {
            ExpressionError::Runtime("expression used too much memory".into())
        }
        SandboxError::RecursionLimit => {
            ExpressionError::Runtime("expression exceeded the recursion limit".into())
        }
        SandboxError::WorkerCrashed(why) => {
            ExpressionError::Runtime(format!("expression sandbox failed: {why}"))
        }
        SandboxError::Overloaded => {
            ExpressionError::Runtime("too many expressions are running; try again".into())
        }
    }
}

/// Runs `expression` with `input` (see [`input`]) and decodes what the prelude's `_ak_finish`
/// returns: `(passing, messages, context, logs, result)`.
async fn run(
    sandbox: &Sandbox,
    expression: &str,
    input: MontyObject,
    host: &mut (dyn Host + Send),
    timeout: Duration,
    policy: &str,
) -> Result<Outcome, ExpressionError> {
    // No separate compile check here: the sandbox compiles (once per process, cached) and
    // reports compile errors itself, located the same way below.
    let program = build(expression)?;
    let mut inputs = vec![input];
    inputs.extend(INPUT_NAMES[1..].iter().map(|name| MontyObject::Function {
        name: (*name).to_owned(),
        docstring: None,
    }));
    let job = Job {
        code: Arc::from(program.code.as_str()),
        script_name: "expression.py".into(),
        input_names: input_names(),
        inputs,
        timeout,
    };
    let result = sandbox
        .run(job, host)
        .await
        .map_err(|e| locate(&program, e))?;
    decode(&result, policy)
}

fn decode(result: &MontyObject, policy: &str) -> Result<Outcome, ExpressionError> {
    let bad = || ExpressionError::Runtime("expression returned an unexpected result".into());
    let MontyObject::Tuple(parts) = result else {
        return Err(bad());
    };
    let [MontyObject::Bool(passing), messages, context, logs, value] = parts.as_slice() else {
        return Err(bad());
    };
    let messages = match values::to_json(messages) {
        Json::Array(items) => items
            .into_iter()
            .map(|m| match m {
                Json::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        _ => Vec::new(),
    };
    if let Json::Array(lines) = values::to_json(logs) {
        for line in lines {
            log_line(policy, &line);
        }
    }
    let context = match values::to_json(context) {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    Ok(Outcome {
        passing: *passing,
        messages,
        context,
        value: values::to_json(value),
    })
}

/// One `ak_logger` line, `[level, event]`, to tracing (the event text only, never its kwargs).
fn log_line(policy: &str, line: &Json) {
    let Json::Array(pair) = line else {
        return;
    };
    let level = pair.first().and_then(Json::as_str).unwrap_or("info");
    let event: String = pair
        .get(1)
        .and_then(Json::as_str)
        .unwrap_or("")
        .chars()
        .take(MAX_LOG_CHARS)
        .collect();
    match level {
        "debug" => tracing::debug!(policy, "{event}"),
        "warning" => tracing::warn!(policy, "{event}"),
        "error" => tracing::error!(policy, "{event}"),
        _ => tracing::info!(policy, "{event}"),
    }
}

/// The plan-context keys whose value the expression changed (or added), as the plan stores them.
pub fn changed_context(before: &Map<String, Json>, after: Map<String, Json>) -> Map<String, Json> {
    after
        .into_iter()
        .map(|(key, value)| (key, values::context_value(value)))
        .filter(|(key, value)| before.get(key) != Some(value))
        .collect()
}

/// Evaluates a value expression (a prompt's initial value or placeholder): the same globals as
/// a policy, plus `user` (the request's user) and `prompt_context`; returns what it returned.
/// Plan-context writes are not kept.
pub async fn evaluate_value(
    services: &EngineServices,
    expression: &str,
    request: &PolicyRequest<'_>,
    prompt_context: &Map<String, Json>,
    timeout: Duration,
) -> Result<Json, ExpressionError> {
    let name = "prompt";
    let (input, _) = input(request, name, Some(prompt_context))
        .map_err(|e| ExpressionError::Runtime(e.to_string()))?;
    let mut host = host::ExpressionHost {
        services,
        request,
        policy: name,
        timeout,
        depth: 0,
    };
    let outcome = run(
        &services.sandbox,
        expression,
        input,
        &mut host,
        timeout,
        name,
    )
    .await?;
    Ok(outcome.value)
}

/// The data the prelude builds `request`, `context` and the users from, and the plan context
/// as JSON (to tell later what the expression changed).
fn input(
    request: &PolicyRequest<'_>,
    policy_name: &str,
    prompt_context: Option<&Map<String, Json>>,
) -> Result<(MontyObject, Map<String, Json>), PolicyError> {
    let context =
        serde_json::to_value(request.context).map_err(|e| PolicyError::Internal(e.to_string()))?;
    let size = serde_json::to_vec(&context).map_or(usize::MAX, |v| v.len());
    if size > MAX_INPUT_BYTES {
        return Err(PolicyError::Expression(
            "the flow context is too large for an expression policy".into(),
        ));
    }
    let before = match context {
        Json::Object(map) => map,
        _ => Map::new(),
    };
    let mut context = before.clone();
    context.remove("pending_user");
    let pending_user = match &request.context.pending_user {
        None => MontyObject::None,
        Some(pending) => match request.user {
            Some(user) if pending.pk == Some(user.id) => {
                values::user(user, pending.backend.as_deref())
            }
            _ => values::unsaved_user(pending),
        },
    };
    let user = request
        .user
        .map_or_else(values::anonymous_user, |u| values::user(u, None));
    let info = request.request;
    let client_ip = match info.client_ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => MontyObject::Tuple(vec![
            MontyObject::Int(4),
            MontyObject::Int(u32::from(ip).into()),
        ]),
        Ok(std::net::IpAddr::V6(ip)) => MontyObject::Tuple(vec![
            MontyObject::Int(6),
            MontyObject::BigInt(u128::from(ip).into()),
        ]),
        Err(_) => MontyObject::None,
    };
    let headers: Vec<(MontyObject, MontyObject)> = info
        .headers
        .iter()
        .filter(|(name, _)| !HIDDEN_HEADERS.contains(&name.to_ascii_lowercase().as_str()))
        .map(|(name, value)| (values::text(name), values::text(value)))
        .collect();
    let http_request = values::dict([
        ("client_ip", values::text(&info.client_ip)),
        ("host", values::text(&info.host)),
        ("scheme", values::text(&info.scheme)),
        ("user_agent", values::text(&info.user_agent)),
        ("path", values::text(&info.path)),
        ("method", values::text(&info.method)),
        ("headers", MontyObject::dict(headers)),
    ]);
    let now = info.now.unwrap_or_else(chrono::Utc::now);
    let prompt_context = prompt_context.map_or(MontyObject::dict(Vec::new()), |c| {
        values::from_json(&Json::Object(c.clone()))
    });
    let input = values::dict([
        ("context", values::from_json(&Json::Object(context))),
        ("pending_user", pending_user),
        ("user", user),
        ("flow_pk", MontyObject::None),
        ("policy", values::text(policy_name)),
        ("http_request", http_request),
        ("client_ip", client_ip),
        ("now", values::datetime(now)),
        ("tenant", tenant()),
        ("prompt_context", prompt_context),
    ]);
    Ok((input, before))
}

/// authentik's install-wide defaults that expressions read through `http_request.tenant`.
fn tenant() -> MontyObject {
    values::dict([
        ("default_user_change_name", MontyObject::Bool(true)),
        ("default_user_change_email", MontyObject::Bool(false)),
        ("default_user_change_username", MontyObject::Bool(false)),
        (
            "reputation_lower_limit",
            MontyObject::Int(crate::reputation::SCORE_MIN.into()),
        ),
        (
            "reputation_upper_limit",
            MontyObject::Int(crate::reputation::SCORE_MAX.into()),
        ),
    ])
}

#[cfg(test)]
mod tests;
