//! Expression policy: authentik's Python expressions, run by a Starlark interpreter (sandboxed:
//! no I/O, no imports, no unbounded loops). Simple authentik expressions run unchanged: the body
//! may `return` at top level, and expressions see `request` (`.user`, `.context`,
//! `.http_request`), `context`, `ak_message`, `ak_is_sso_flow`, `ak_is_group_member`,
//! `ak_user_by`, `ak_logger` and `ak_client_ip` (see `prelude.star`). Imports are resolved by a
//! compatibility pass (`source.rs`).
//!
//! Evaluation runs on a blocking thread, stops at the binding's timeout (the interpreter checks a
//! deadline while it loops), and refuses inputs or expressions above a size limit. Any error,
//! including a timeout, is an evaluation failure: the binding's `failure_result` applies and
//! the error text becomes the message.

mod host;
mod source;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use starlark::environment::{Globals, GlobalsBuilder, LibraryExtension, Module};
use starlark::eval::Evaluator;
use starlark::syntax::{AstModule, Dialect};
use thiserror::Error;

use super::{FieldErrors, PolicyError};
use crate::engine::{
    policy::{PolicyRequest, PolicyResult},
    EngineServices,
};
use crate::store::policy;
use host::Host;

const PRELUDE: &str = include_str!("prelude.star");
/// Expressions are short programs; this keeps compile time and memory predictable.
const MAX_EXPRESSION_BYTES: usize = 64 * 1024;
/// The serialised plan context and users an expression receives.
const MAX_INPUT_BYTES: usize = 1024 * 1024;
const MAX_CALL_DEPTH: usize = 64;
/// Longest error text kept as a policy message.
const MAX_MESSAGE_CHARS: usize = 500;

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

/// What the expression decided.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    pub passing: bool,
    pub messages: Vec<String>,
}

static GLOBALS: LazyLock<Globals> = LazyLock::new(|| {
    GlobalsBuilder::extended_by(&[
        LibraryExtension::StructType,
        LibraryExtension::Json,
        LibraryExtension::Map,
        LibraryExtension::Filter,
    ])
    .with(host::natives)
    .build()
});

fn dialect() -> Dialect {
    Dialect {
        enable_f_strings: true,
        ..Dialect::Extended
    }
}

impl ExpressionPolicy {
    /// Compiles the expression (with placeholder inputs) so syntax errors and unknown names are
    /// reported, with their position, when the policy is saved.
    pub fn validate(&self) -> FieldErrors {
        if self.expression.trim().is_empty() {
            return vec![("expression".into(), "This field may not be blank.".into())];
        }
        let host = Host {
            services: None,
            runtime: None,
            policy: String::new(),
        };
        match run(&self.expression, placeholder_input(), &host, None, false) {
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
        let input = input(request, row)?;
        let host = Host {
            services: Some(services.clone()),
            runtime: Some(tokio::runtime::Handle::current()),
            policy: row.name.clone(),
        };
        let expression = self.expression.clone();
        let deadline = Instant::now() + timeout;
        let outcome = tokio::task::spawn_blocking(move || {
            run(&expression, input, &host, Some(deadline), true)
        })
        .await
        .map_err(|e| PolicyError::Internal(e.to_string()))?;
        match outcome {
            Ok(outcome) => Ok(PolicyResult {
                passing: outcome.passing,
                messages: outcome.messages,
            }),
            Err(ExpressionError::Timeout) => Err(PolicyError::Timeout(timeout.as_secs())),
            Err(error) => Err(PolicyError::Expression(error.to_string())),
        }
    }
}

/// What the prelude builds `request`, `context` and the users from.
fn input(request: &PolicyRequest<'_>, row: &policy::Model) -> Result<Json, PolicyError> {
    let mut context =
        serde_json::to_value(request.context).map_err(|e| PolicyError::Internal(e.to_string()))?;
    if let Some(map) = context.as_object_mut() {
        map.remove("pending_user");
    }
    let pending_user = match &request.context.pending_user {
        None => Json::Null,
        Some(pending) => match request.user {
            Some(user) if pending.pk == Some(user.id) => {
                host::user_json(user, pending.backend.as_deref())
            }
            // Unsaved (pretend) users have only what identification knew.
            _ => {
                let mut user = host::anonymous_user_json();
                if let Some(map) = user.as_object_mut() {
                    map.insert("pk".into(), json!(pending.pk));
                    map.insert("id".into(), json!(pending.pk));
                    map.insert("username".into(), json!(pending.username));
                    map.insert("email".into(), json!(pending.email));
                    if let Some(backend) = &pending.backend {
                        map.insert("backend".into(), json!(backend));
                    }
                }
                user
            }
        },
    };
    let user = request
        .user
        .map(|u| host::user_json(u, None))
        .unwrap_or_else(host::anonymous_user_json);
    let input = json!({
        "context": context,
        "pending_user": pending_user,
        "user": user,
        "flow_pk": Json::Null,
        "policy": row.name,
        "http_request": {
            "client_ip": request.request.client_ip,
            "host": request.request.host,
            "scheme": request.request.scheme,
            "user_agent": request.request.user_agent,
        },
        "tenant": tenant(),
    });
    let size = serde_json::to_vec(&input)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_INPUT_BYTES {
        return Err(PolicyError::Expression(
            "the flow context is too large for an expression policy".into(),
        ));
    }
    Ok(input)
}

/// authentik's install-wide defaults that expressions read through `http_request.tenant`.
fn tenant() -> Json {
    json!({
        "default_user_change_name": true,
        "default_user_change_email": false,
        "default_user_change_username": false,
        "reputation_lower_limit": crate::reputation::SCORE_MIN,
        "reputation_upper_limit": crate::reputation::SCORE_MAX,
    })
}

/// Inputs shaped like real ones, for compiling at validation time.
fn placeholder_input() -> Json {
    json!({
        "context": {},
        "pending_user": null,
        "user": host::anonymous_user_json(),
        "flow_pk": null,
        "policy": "",
        "http_request": {"client_ip": "", "host": "", "scheme": "", "user_agent": ""},
        "tenant": tenant(),
    })
}

/// Compiles and, when `call` is set, runs the expression.
fn run(
    expression: &str,
    input: Json,
    host: &Host,
    deadline: Option<Instant>,
    call: bool,
) -> Result<Outcome, ExpressionError> {
    if expression.len() > MAX_EXPRESSION_BYTES {
        return Err(ExpressionError::TooLarge("expression is too long"));
    }
    let prepared = source::prepare(expression);
    let prelude_lines = PRELUDE.lines().count();
    let program = format!("{PRELUDE}{}", prepared.code);
    let locate = |error: &starlark::Error| -> ExpressionError {
        let message = error.without_diagnostic().to_string();
        let position = error.span().and_then(|span| {
            let resolved = span.resolve_span();
            source::expression_position(
                resolved.begin.line,
                resolved.begin.column,
                prelude_lines,
                &prepared,
            )
        });
        match position {
            Some((line, column)) => ExpressionError::Compile {
                line,
                column,
                message,
            },
            None => ExpressionError::Runtime(message),
        }
    };
    let ast =
        AstModule::parse("expression", program.clone(), &dialect()).map_err(|e| locate(&e))?;
    Module::with_temp_heap(|module| {
        module.set("_ak_input", module.heap().alloc(input));
        let mut eval = Evaluator::new(&module);
        eval.extra = Some(host);
        eval.set_max_callstack_size(MAX_CALL_DEPTH)
            .map_err(|e| ExpressionError::Runtime(e.to_string()))?;
        let timed_out = move || deadline.is_some_and(|d| Instant::now() >= d);
        eval.set_check_cancelled(Box::new(timed_out));
        eval.eval_module(ast, &GLOBALS).map_err(|e| locate(&e))?;
        if !call {
            return Ok(Outcome {
                passing: false,
                messages: Vec::new(),
            });
        }
        let entry = module
            .get(source::ENTRY)
            .ok_or_else(|| ExpressionError::Runtime("expression entry point missing".into()))?;
        let result = eval.eval_function(entry, &[], &[]).map_err(|e| {
            if timed_out() {
                return ExpressionError::Timeout;
            }
            runtime_error(locate(&e), &prepared.unsupported_imports)
        })?;
        let messages = module
            .get("ak_keyflow_messages")
            .and_then(|m| m.to_json_value().ok())
            .and_then(|m| serde_json::from_value::<Vec<String>>(m).ok())
            .unwrap_or_default();
        Ok(Outcome {
            // authentik: `None` fails, anything else by its truth value.
            passing: !result.is_none() && result.to_bool(),
            messages,
        })
    })
}

/// Errors while running are shown to people: keep them short and point at unsupported imports.
fn runtime_error(error: ExpressionError, unsupported_imports: &[String]) -> ExpressionError {
    let mut text = match error {
        ExpressionError::Compile { line, message, .. } => format!("line {line}: {message}"),
        other => other.to_string(),
    };
    if !unsupported_imports.is_empty() {
        text.push_str(&format!(
            " (keyflow does not provide {})",
            unsupported_imports.join(", ")
        ));
    }
    ExpressionError::Runtime(text.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests;
