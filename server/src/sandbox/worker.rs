//! The worker process (`keyflow sandbox-worker`): runs jobs from stdin one at a time, each in a
//! fresh interpreter, and answers on stdout (see `wire`). Started only by the pool, never by
//! hand. It holds nothing of the server's: no database, no secrets, no environment.

use std::io::{self, BufReader, BufWriter};
use std::process::ExitCode;

use rustix::process::{setrlimit, Resource, Rlimit};

use super::exec::execute;
use super::in_process::INTERPRETER_STACK_BYTES;
use super::wire::{self, FromWorker, ToWorker};

/// What the worker needs besides the program's memory: the interpreter thread's stack (which
/// counts in full) and, for its own data, allocator bookkeeping and protocol buffers, 16 MiB
/// (an idle worker's `VmData` is the stack plus under 1 MiB).
pub const WORKER_OVERHEAD_BYTES: u64 = 16 * 1024 * 1024 + INTERPRETER_STACK_BYTES as u64;

/// Runs the worker until its input closes. `max_memory_bytes` is the program's budget; the
/// process's data segment is capped at that plus [`WORKER_OVERHEAD_BYTES`], so runaway growth
/// ends this process (the parent reports `MemoryLimit` and starts another), not the server.
pub fn main(max_memory_bytes: u64) -> ExitCode {
    let interpreter = std::thread::Builder::new()
        .name("sandbox-worker".into())
        .stack_size(INTERPRETER_STACK_BYTES)
        .spawn(move || serve(max_memory_bytes));
    let outcome = match interpreter {
        Ok(thread) => thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the interpreter panicked"))),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("keyflow sandbox-worker: {error}");
            ExitCode::FAILURE
        }
    }
}

fn serve(max_memory_bytes: u64) -> io::Result<()> {
    limit_self(max_memory_bytes)?;
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    while let Some(message) = wire::read_sync::<ToWorker>(&mut input)? {
        let ToWorker::Run(spec) = message else {
            return Err(io::Error::other("a reply arrived with no job running"));
        };
        let mut broken = None;
        let result = execute(*spec, |call| {
            if let Err(e) = wire::write_sync(&mut output, &FromWorker::Call(call)) {
                broken = Some(e);
                return None;
            }
            match wire::read_sync::<ToWorker>(&mut input) {
                Ok(Some(ToWorker::Reply(reply))) => Some(reply),
                Ok(Some(ToWorker::Run(_))) => {
                    broken = Some(io::Error::other("a job arrived while one was running"));
                    None
                }
                Ok(None) => {
                    broken = Some(io::ErrorKind::UnexpectedEof.into());
                    None
                }
                Err(e) => {
                    broken = Some(e);
                    None
                }
            }
        });
        if let Some(error) = broken {
            return Err(error);
        }
        wire::write_sync(&mut output, &FromWorker::Done(result))?;
    }
    Ok(())
}

/// Caps this process before it runs any program: data segment (heap and anonymous mappings),
/// no core files, no files written.
fn limit_self(max_memory_bytes: u64) -> io::Result<()> {
    let data = max_memory_bytes.saturating_add(WORKER_OVERHEAD_BYTES);
    for (resource, bytes) in [
        (Resource::Data, data),
        (Resource::Core, 0),
        (Resource::Fsize, 0),
    ] {
        setrlimit(
            resource,
            Rlimit {
                current: Some(bytes),
                maximum: Some(bytes),
            },
        )
        .map_err(io::Error::from)?;
    }
    Ok(())
}
