//! Drives one monty run from start to end on the calling thread: the same code runs in a worker
//! process and on the in-process thread.

use std::str::FromStr;

use monty::{MontyRun, RunProgress};
use monty_types::{
    CompileOptions, ExcType, ExtFunctionResult, MontyException, MontyObject, NameLookupResult,
    PrintWriter, ResourceLimits, ResourceTracker,
};
use serde::{Deserialize, Serialize};

use super::{HostCall, HostReply, Limits, SandboxError};

/// A job as it crosses to the interpreter (owned, serialisable).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JobSpec {
    pub code: String,
    pub script_name: String,
    pub input_names: Vec<String>,
    pub inputs: Vec<MontyObject>,
    pub limits: Limits,
}

impl JobSpec {
    pub fn new(job: super::Job, limits: Limits) -> Self {
        Self {
            code: job.code.to_string(),
            script_name: job.script_name,
            input_names: job.input_names,
            inputs: job.inputs,
            limits,
        }
    }
}

/// Parses and compiles a program.
pub(crate) fn compile(
    code: String,
    script_name: &str,
    input_names: Vec<String>,
) -> Result<MontyRun, SandboxError> {
    MontyRun::new(code, script_name, input_names, CompileOptions::default()).map_err(compile_error)
}

/// Runs `spec` to the end. `ask` answers each host call, blocking; `None` means the host is gone
/// and ends the run.
pub(crate) fn execute(
    spec: JobSpec,
    mut ask: impl FnMut(HostCall) -> Option<HostReply>,
) -> Result<MontyObject, SandboxError> {
    let limits = spec.limits;
    let runner = compile(spec.code, &spec.script_name, spec.input_names)?;
    let tracker = ResourceTracker::new(ResourceLimits {
        max_duration: Some(limits.timeout),
        // Without monty-alloc this is only checked against single large requests (a string
        // repeated 10**10 times, a huge power): a clean MemoryError before the allocation.
        // The worker's OS ceiling catches gradual growth.
        max_memory: Some(limits.max_memory_bytes),
        gc_interval: None,
        max_recursion_depth: limits.max_recursion_depth,
        max_suspensions: limits.max_host_calls,
    });
    let mut progress = runner
        .start(spec.inputs, tracker, PrintWriter::Disabled)
        .map_err(runtime_error)?;
    let mut host_calls = 0usize;
    loop {
        let next = match progress {
            RunProgress::Complete(value) => return Ok(value),
            RunProgress::FunctionCall(mut call) => {
                if call.object_id.is_some() {
                    // Methods of host objects would need the receiver, which HostCall does
                    // not carry; keyflow hands in plain functions only.
                    let refusal = MontyException::new(
                        ExcType::TypeError,
                        Some(format!(
                            "method {}() of a host object is not available",
                            call.function_name
                        )),
                    );
                    call.resume(refusal, PrintWriter::Disabled)
                } else if host_calls >= limits.max_host_calls {
                    let stop = MontyException::new(
                        ExcType::RuntimeError,
                        Some(format!(
                            "more than {} calls to host functions",
                            limits.max_host_calls
                        )),
                    );
                    call.abort(stop, PrintWriter::Disabled)
                } else {
                    host_calls += 1;
                    let request = HostCall {
                        function: std::mem::take(&mut call.function_name),
                        args: std::mem::take(&mut call.args),
                        kwargs: std::mem::take(&mut call.kwargs),
                    };
                    let Some(reply) = ask(request) else {
                        return Err(SandboxError::WorkerCrashed("the host went away".into()));
                    };
                    call.resume(reply_to_result(reply), PrintWriter::Disabled)
                }
            }
            // Names the program neither defines nor receives: Python's NameError.
            RunProgress::NameLookup(lookup) => {
                lookup.resume(NameLookupResult::Undefined, PrintWriter::Disabled)
            }
            // Files, environment, clock-of-the-host... none of it is handed to the sandbox.
            RunProgress::OsCall(os) => {
                let refusal = MontyException::new(
                    ExcType::PermissionError,
                    Some(format!(
                        "{} is not available in the sandbox",
                        os.function_call.name()
                    )),
                );
                os.resume(ExtFunctionResult::Error(refusal), PrintWriter::Disabled)
            }
            // Only reachable after resume_pending, which keyflow never uses.
            RunProgress::ResolveFutures(futures) => {
                let stop = MontyException::new(
                    ExcType::RuntimeError,
                    Some("asynchronous host calls are not supported".into()),
                );
                futures.abort(stop, PrintWriter::Disabled)
            }
        };
        progress = next.map_err(runtime_error)?;
    }
}

fn reply_to_result(reply: HostReply) -> ExtFunctionResult {
    match reply {
        HostReply::Value(value) => ExtFunctionResult::Return(value),
        HostReply::Raise { exc_type, message } => {
            let exception = match ExcType::from_str(&exc_type) {
                Ok(kind) => MontyException::new(kind, Some(message)),
                Err(_) => MontyException::new(
                    ExcType::RuntimeError,
                    Some(format!("{exc_type}: {message}")),
                ),
            };
            ExtFunctionResult::Error(exception)
        }
    }
}

/// A parse or compile failure, located by its first traceback frame (1-based already).
fn compile_error(exception: MontyException) -> SandboxError {
    let (line, column) = exception
        .traceback()
        .first()
        .map(|frame| (frame.start.line as usize, frame.start.column as usize))
        .unwrap_or((1, 1));
    SandboxError::Compile {
        line,
        column,
        message: exception.summary(),
    }
}

/// Maps an exception that ended the run. monty raises its resource limits as TimeoutError,
/// MemoryError and RecursionError with fixed messages; a program raising TimeoutError itself
/// stays a plain exception.
pub(crate) fn runtime_error(exception: MontyException) -> SandboxError {
    let message = exception.message().unwrap_or_default();
    match exception.exc_type() {
        ExcType::TimeoutError if message.starts_with("time limit exceeded") => {
            SandboxError::Timeout
        }
        ExcType::MemoryError => SandboxError::MemoryLimit,
        ExcType::RecursionError => SandboxError::RecursionLimit,
        ExcType::SyntaxError => compile_error(exception),
        other => SandboxError::Raised {
            exc_type: other.to_string(),
            message: message.to_owned(),
        },
    }
}
