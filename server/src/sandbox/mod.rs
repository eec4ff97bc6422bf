//! Runs untrusted Python (authentik expression policies written by admins) in monty, pydantic's
//! sandboxed interpreter.
//!
//! A program sees only its inputs. It reaches the host solely through external functions (passed
//! as `MontyObject::Function` inputs), whose calls pause the interpreter and are answered by a
//! [`Host`]. Name lookups the program cannot resolve raise `NameError`; file-system, environment
//! and other `os`-level requests raise `PermissionError`. Every run has a time limit (the job's
//! `timeout`), a recursion limit, a memory limit and a bound on host calls, and each job starts
//! from a fresh interpreter state.
//!
//! Two modes, same API:
//! - [`Sandbox::new`] (production): a pool of worker subprocesses (this binary's hidden
//!   `sandbox-worker` command) under an OS memory ceiling, so a runaway allocation, a stack
//!   overflow or an interpreter bug kills one worker, which is reported and replaced, never the
//!   server. The parent also enforces a wall-clock deadline and kills a worker that overruns it.
//! - [`Sandbox::in_process`] (unit tests): the interpreter on a thread of this process; monty's
//!   own limits apply, but a crash inside it would take the process down.

mod exec;
mod in_process;
mod pool;
mod wire;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
pub use monty_types::MontyObject;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How deep jobs may nest (a [`Host`] call that runs another job, as authentik's
/// `ak_call_policy` does): the outermost job is depth 0.
pub const MAX_NESTING_DEPTH: usize = 3;

/// One Python program and its inputs.
#[derive(Clone, Debug)]
pub struct Job {
    /// The program; its last expression statement is the result (`None` if there is none).
    pub code: Arc<str>,
    /// Shown in tracebacks (e.g. the policy's name).
    pub script_name: String,
    /// Global names bound to `inputs`, in order.
    pub input_names: Vec<String>,
    pub inputs: Vec<MontyObject>,
    /// Interpreter time for the whole run; time spent waiting on the host does not count.
    pub timeout: Duration,
}

/// A call by the program to one of its external functions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostCall {
    pub function: String,
    pub args: Vec<MontyObject>,
    pub kwargs: Vec<(MontyObject, MontyObject)>,
}

/// The host's answer to a [`HostCall`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum HostReply {
    /// The call returns this value.
    Value(MontyObject),
    /// The call raises `exc_type(message)` in the program (an unknown type raises
    /// `RuntimeError`), which the program may catch.
    Raise { exc_type: String, message: String },
}

/// Answers the program's external function calls. A call may itself run another [`Job`] on
/// the same [`Sandbox`] (await it inside `call`; a job spawned onto another task does not count
/// as nested and queues like a new one).
#[async_trait]
pub trait Host {
    async fn call(&mut self, call: HostCall) -> HostReply;
}

/// Why a job produced no value.
#[derive(Clone, Debug, Error, PartialEq, Serialize, Deserialize)]
pub enum SandboxError {
    /// The program does not compile; `line` and `column` are 1-based, in `code` as given.
    #[error("line {line}, column {column}: {message}")]
    Compile {
        line: usize,
        column: usize,
        message: String,
    },
    /// An uncaught Python exception, e.g. `exc_type: "ValueError"`.
    #[error("{exc_type}: {message}")]
    Raised { exc_type: String, message: String },
    #[error("the program ran out of time")]
    Timeout,
    #[error("the program used too much memory")]
    MemoryLimit,
    #[error("maximum recursion depth exceeded")]
    RecursionLimit,
    /// The worker process died or broke the protocol; it has been replaced.
    #[error("the sandbox worker failed: {0}")]
    WorkerCrashed(String),
    /// Every worker stayed busy until the job's queueing deadline.
    #[error("the sandbox is overloaded, try again")]
    Overloaded,
}

/// Pool and limits for [`Sandbox::new`].
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// The worker executable (this binary); `None` means `std::env::current_exe()`.
    pub worker_exe: Option<PathBuf>,
    /// Workers running top-level jobs at once; 0 means the number of cores. Nested jobs get as
    /// many again per nesting level.
    pub workers: usize,
    /// Memory a program may use, in bytes: monty refuses single allocations above it with
    /// `MemoryError`, and a worker's data segment is capped at this plus its own baseline.
    pub max_memory_bytes: usize,
    /// Python call depth.
    pub max_recursion_depth: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            worker_exe: None,
            workers: 0,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_recursion_depth: DEFAULT_MAX_RECURSION_DEPTH,
        }
    }
}

/// 64 MiB: an expression works on a user, a request and a few lookups; this is ample, and
/// several workers at this ceiling still fit a small server.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// CPython's default, so programs that run there run here.
pub const DEFAULT_MAX_RECURSION_DEPTH: usize = 1000;
/// Host calls one job may make: a backstop against a program looping on host calls, whose
/// waiting time does not count against its time limit.
pub const MAX_HOST_CALLS: usize = 10_000;

/// The limits one run is held to (sent to a worker with the job).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub max_memory_bytes: usize,
    pub max_recursion_depth: usize,
    pub max_host_calls: usize,
}

/// Runs [`Job`]s. Cheap to clone; build once at start-up.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

enum Inner {
    InProcess,
    Pool(pool::Pool),
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::InProcess => f.write_str("Sandbox(in-process)"),
            Inner::Pool(pool) => write!(f, "Sandbox({pool:?})"),
        }
    }
}

tokio::task_local! {
    /// Nesting depth of the job whose host call is running on this task.
    static NESTING: usize;
}

impl Sandbox {
    /// A pool of worker subprocesses; workers start on first use.
    pub fn new(config: SandboxConfig) -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner::Pool(pool::Pool::new(config))),
        }
    }

    /// Runs jobs on a thread of this process with monty's limits (default memory and recursion
    /// limits), without process isolation: for tests.
    pub fn in_process() -> Sandbox {
        Sandbox {
            inner: Arc::new(Inner::InProcess),
        }
    }

    /// Parses and compiles `code` without running it (microseconds for an expression).
    pub fn compile_check(code: &str, input_names: &[String]) -> Result<(), SandboxError> {
        exec::compile(code.to_owned(), "<check>", input_names.to_vec()).map(drop)
    }

    /// Runs `job`, answering its external function calls through `host`, and returns the value
    /// of its last expression statement.
    ///
    /// Errors: [`SandboxError`]; resource errors are not catchable by the program (except
    /// `RecursionError`, as in CPython). Cancelling the returned future stops the job (its
    /// worker is killed).
    pub async fn run(
        &self,
        job: Job,
        host: &mut (dyn Host + Send),
    ) -> Result<MontyObject, SandboxError> {
        let depth = NESTING.try_with(|d| *d).unwrap_or(0);
        if depth > MAX_NESTING_DEPTH {
            return Err(SandboxError::RecursionLimit);
        }
        let limits = self.limits(&job);
        let run = async {
            match &*self.inner {
                Inner::InProcess => in_process::run(job, limits, host).await,
                Inner::Pool(pool) => pool.run(job, limits, depth, host).await,
            }
        };
        NESTING.scope(depth + 1, run).await
    }

    fn limits(&self, job: &Job) -> Limits {
        let (max_memory_bytes, max_recursion_depth) = match &*self.inner {
            Inner::InProcess => (DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MAX_RECURSION_DEPTH),
            Inner::Pool(pool) => (pool.max_memory_bytes(), pool.max_recursion_depth()),
        };
        Limits {
            timeout: job.timeout,
            max_memory_bytes,
            max_recursion_depth,
            max_host_calls: MAX_HOST_CALLS,
        }
    }
}

#[cfg(test)]
mod tests;
