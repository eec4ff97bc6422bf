//! In-process mode: the interpreter on a thread of its own, host calls answered on the caller's
//! task through channels.

use tokio::sync::{mpsc, oneshot};

use super::exec::{execute, JobSpec};
use super::{Host, HostCall, HostReply, Job, Limits, SandboxError};
use monty_types::MontyObject;

/// The interpreter thread's stack: room for deep native recursion (repr of nested values,
/// parsing) within the recursion limit.
pub(crate) const INTERPRETER_STACK_BYTES: usize = 64 * 1024 * 1024;

pub(crate) async fn run(
    job: Job,
    limits: Limits,
    host: &mut (dyn Host + Send),
) -> Result<MontyObject, SandboxError> {
    let spec = JobSpec::new(job, limits);
    let (call_tx, mut call_rx) = mpsc::channel::<HostCall>(1);
    let (reply_tx, reply_rx) = std::sync::mpsc::channel::<HostReply>();
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("sandbox".into())
        .stack_size(INTERPRETER_STACK_BYTES)
        .spawn(move || {
            // If the caller is gone (its future was dropped) the run ends at the next host call,
            // or at its time limit.
            let result = execute(spec, |call| {
                call_tx.blocking_send(call).ok()?;
                reply_rx.recv().ok()
            });
            let _ = done_tx.send(result);
        })
        .map_err(|e| SandboxError::WorkerCrashed(format!("cannot start a thread: {e}")))?;
    // Ends when the thread drops its sender, i.e. when the run is over.
    while let Some(call) = call_rx.recv().await {
        let reply = host.call(call).await;
        if reply_tx.send(reply).is_err() {
            break;
        }
    }
    done_rx.await.unwrap_or_else(|_| {
        Err(SandboxError::WorkerCrashed(
            "the interpreter panicked".into(),
        ))
    })
}
