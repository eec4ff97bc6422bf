//! Isolated mode: a pool of worker subprocesses (`keyflow sandbox-worker`).
//!
//! A job takes a permit for its nesting level, then an idle worker (or starts one), and drives
//! it to the end. A worker goes back to the pool only after a clean end of job; any failure,
//! overrun or cancellation kills it (`kill_on_drop`), and the next job starts a fresh one.
//!
//! Nested jobs (a host call running another job) take permits from the next level's own
//! semaphore, so a parent holding a worker never waits on permits its own level holds: no
//! deadlock, only a bounded wait and then `Overloaded`.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use monty_types::MontyObject;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::exec::JobSpec;
use super::wire::{self, FromWorker, ToWorker};
use super::{Host, Job, Limits, SandboxConfig, SandboxError, MAX_NESTING_DEPTH};

/// Wall-clock allowance over a job's interpreter timeout before the parent kills its worker:
/// covers starting a worker and moving messages, and catches a worker stuck where monty does
/// not check its clock.
pub const DEADLINE_GRACE: Duration = Duration::from_secs(1);
/// Jobs a worker runs before it is replaced, bounding whatever slow growth (allocator
/// fragmentation) many jobs might cause.
const JOBS_PER_WORKER: u32 = 1_000;
/// How long a dead worker gets to be reaped and to finish writing its last words on stderr.
const REAP_WAIT: Duration = Duration::from_secs(2);
/// Bytes of a worker's stderr kept to explain a crash.
const STDERR_TAIL_BYTES: usize = 2048;

pub(crate) struct Pool {
    exe: Result<PathBuf, String>,
    max_memory_bytes: usize,
    max_recursion_depth: usize,
    /// One semaphore per nesting level, each with `workers` permits.
    levels: Vec<Semaphore>,
    idle: Mutex<Vec<Worker>>,
    workers: usize,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("exe", &self.exe)
            .field("workers", &self.workers)
            .field("max_memory_bytes", &self.max_memory_bytes)
            .finish()
    }
}

impl Pool {
    pub fn new(config: SandboxConfig) -> Self {
        let workers = if config.workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            config.workers
        };
        let exe = match config.worker_exe {
            Some(path) => Ok(path),
            None => std::env::current_exe().map_err(|e| format!("cannot find this program: {e}")),
        };
        Self {
            exe,
            max_memory_bytes: config.max_memory_bytes,
            max_recursion_depth: config.max_recursion_depth,
            levels: (0..=MAX_NESTING_DEPTH)
                .map(|_| Semaphore::new(workers))
                .collect(),
            idle: Mutex::new(Vec::new()),
            workers,
        }
    }

    pub fn max_memory_bytes(&self) -> usize {
        self.max_memory_bytes
    }

    pub fn max_recursion_depth(&self) -> usize {
        self.max_recursion_depth
    }

    pub async fn run(
        &self,
        job: Job,
        limits: Limits,
        depth: usize,
        host: &mut (dyn Host + Send),
    ) -> Result<MontyObject, SandboxError> {
        let level = &self.levels[depth.min(MAX_NESTING_DEPTH)];
        // A job waits for a worker at most as long as it may run.
        let _permit = match tokio::time::timeout(job.timeout, level.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(SandboxError::Overloaded),
        };
        let mut worker = match self.take_idle() {
            Some(worker) => worker,
            None => self.start_worker()?,
        };
        let budget = limits.timeout + DEADLINE_GRACE;
        match worker.run(JobSpec::new(job, limits), budget, host).await {
            Ok(result) => {
                self.put_back(worker);
                result
            }
            Err(failure) => {
                let error = worker.failure(failure).await;
                tracing::warn!(%error, "sandbox worker replaced");
                Err(error)
            }
        }
    }

    fn take_idle(&self) -> Option<Worker> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(mut worker) = idle.pop() {
            // One that died while idle (killed from outside) is dropped, not blamed on a job.
            if matches!(worker.child.try_wait(), Ok(None)) {
                return Some(worker);
            }
        }
        None
    }

    fn put_back(&self, worker: Worker) {
        if worker.jobs >= JOBS_PER_WORKER {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        // Workers started for nested jobs beyond the base pool are let go.
        if idle.len() < self.workers {
            idle.push(worker);
        }
    }

    fn start_worker(&self) -> Result<Worker, SandboxError> {
        let exe = self
            .exe
            .as_ref()
            .map_err(|e| SandboxError::WorkerCrashed(e.clone()))?;
        Worker::start(exe, self.max_memory_bytes).map_err(|e| {
            SandboxError::WorkerCrashed(format!(
                "cannot start {} sandbox-worker: {e}",
                exe.display()
            ))
        })
    }
}

/// How a job's conversation with its worker broke off.
enum Failure {
    /// The parent's wall-clock deadline passed.
    Deadline,
    /// The pipe broke or carried garbage.
    Io(std::io::Error),
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    /// Collects the last bytes the worker wrote on stderr (panic and out-of-memory messages).
    stderr_tail: Option<JoinHandle<String>>,
    jobs: u32,
}

impl Worker {
    fn start(exe: &std::path::Path, max_memory_bytes: usize) -> std::io::Result<Worker> {
        let mut child = Command::new(exe)
            .arg("sandbox-worker")
            .arg("--max-memory-bytes")
            .arg(max_memory_bytes.to_string())
            // The server's environment holds its secrets: the worker gets none of it.
            .env_clear()
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("worker pipes missing"));
        };
        let stderr_tail = tokio::spawn(async move {
            let mut stderr = stderr;
            let mut tail = Vec::new();
            let mut chunk = [0u8; 1024];
            while let Ok(n) = stderr.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&chunk[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                tail.drain(..excess);
            }
            String::from_utf8_lossy(&tail).into_owned()
        });
        Ok(Worker {
            child,
            stdin,
            stdout,
            stderr_tail: Some(stderr_tail),
            jobs: 0,
        })
    }

    /// Runs one job; `Ok` means the worker is in a clean state and may run another. The
    /// deadline clock stops while the host answers a call, as monty's own clock does.
    async fn run(
        &mut self,
        spec: JobSpec,
        budget: Duration,
        host: &mut (dyn Host + Send),
    ) -> Result<Result<MontyObject, SandboxError>, Failure> {
        self.jobs += 1;
        let mut remaining = budget;
        let mut message = ToWorker::Run(Box::new(spec));
        loop {
            let started = Instant::now();
            let exchange = async {
                wire::write(&mut self.stdin, &message).await?;
                wire::read::<FromWorker>(&mut self.stdout).await
            };
            let answer = tokio::time::timeout(remaining, exchange)
                .await
                .map_err(|_| Failure::Deadline)?
                .map_err(Failure::Io)?;
            remaining = remaining.saturating_sub(started.elapsed());
            match answer {
                FromWorker::Done(result) => return Ok(result),
                FromWorker::Call(call) => message = ToWorker::Reply(host.call(call).await),
            }
        }
    }

    /// Kills and reaps a worker whose job broke off, and says why.
    async fn failure(mut self, failure: Failure) -> SandboxError {
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(REAP_WAIT, self.child.wait()).await;
        let stderr = match self.stderr_tail.take() {
            Some(tail) => tokio::time::timeout(REAP_WAIT, tail)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        };
        if let Failure::Deadline = failure {
            return SandboxError::Timeout;
        }
        // Rust's out-of-memory handler, reached when the data-segment cap refuses memory.
        if stderr.contains("memory allocation of") || stderr.contains("capacity overflow") {
            return SandboxError::MemoryLimit;
        }
        let how = match status {
            Ok(Ok(status)) => status.to_string(),
            _ => "did not exit".into(),
        };
        let last_words = stderr.lines().rev().find(|l| !l.trim().is_empty());
        let detail = match (&failure, last_words) {
            (_, Some(line)) => format!("{how}: {}", line.trim()),
            (Failure::Io(e), None) => format!("{how} ({e})"),
            (Failure::Deadline, None) => how,
        };
        SandboxError::WorkerCrashed(detail)
    }
}
