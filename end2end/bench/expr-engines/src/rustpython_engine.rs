//! RustPython 0.6 (vm + stdlib + frozen pylib, built without the `host_env` feature, so the
//! interpreter has no `os`/`posix`/`open` to reach the host with).
//!
//! One interpreter runs the prelude once; every run executes the compiled request+policy code
//! in a fresh copy of the prelude's globals. RustPython has no time limit of its own: the
//! watchdog thread below sends a "user signal" through the VM's signal channel when the
//! deadline passes, and the VM raises it at its next bytecode boundary.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustpython_vm::builtins::{PyBaseException, PyCode, PyDictRef};
use rustpython_vm::compiler::Mode;
use rustpython_vm::scope::Scope;
use rustpython_vm::signal::{UserSignalSender, user_signal_channel};
use rustpython_vm::{
    AsObject, Interpreter, InterpreterBuilder, Py, PyRef, Settings, VirtualMachine,
};

use crate::case::{Case, PRELUDE_DEFS};
use crate::engine::{Engine, Limits, Outcome};

pub struct RustPythonEngine {
    interpreter: Interpreter,
    prelude_globals: PyDictRef,
    watchdog: Watchdog,
    timeout: Duration,
}

impl Engine for RustPythonEngine {
    type Compiled = PyRef<PyCode>;
    const NAME: &'static str = "rustpython";

    fn start(limits: &Limits) -> Result<Self, String> {
        let (signal_tx, signal_rx) = user_signal_channel();
        let mut settings = Settings::default();
        settings.import_site = false;
        settings.ignore_environment = true;
        settings.install_signal_handlers = false;
        let builder = InterpreterBuilder::new().settings(settings);
        let native_modules = rustpython_stdlib::stdlib_module_defs(&builder.ctx);
        let max_recursion = limits.max_recursion;
        let interpreter = builder
            .add_native_modules(&native_modules)
            .add_frozen_modules(rustpython_pylib::FROZEN_STDLIB)
            .init_hook(move |vm| {
                vm.set_user_signal_channel(signal_rx);
                vm.recursion_limit.set(max_recursion);
            })
            .build();
        let prelude_globals = interpreter.enter(|vm| {
            let scope = vm.new_scope_with_builtins();
            vm.run_string(scope.clone(), PRELUDE_DEFS, "<prelude>")
                .map_err(|e| exception_text(vm, &e))?;
            Ok::<_, String>(scope.globals)
        })?;
        Ok(RustPythonEngine {
            interpreter,
            prelude_globals,
            watchdog: Watchdog::spawn(signal_tx),
            timeout: limits.timeout,
        })
    }

    fn compile(&self, case: &Case) -> Result<PyRef<PyCode>, String> {
        self.interpreter.enter(|vm| {
            vm.compile(&case.request_script(), Mode::Exec, "<policy>".to_owned())
                .map_err(|e| format!("SyntaxError: {e}"))
        })
    }

    fn run(&self, compiled: &PyRef<PyCode>) -> Outcome {
        self.run_with(compiled, true)
    }
}

impl RustPythonEngine {
    /// Compiles prelude + request + policy in one module, like monty runs it: each run then
    /// re-creates the prelude's classes, so nothing one request patches reaches the next.
    pub fn compile_isolated(&self, case: &Case) -> Result<PyRef<PyCode>, String> {
        self.interpreter.enter(|vm| {
            vm.compile(&case.full_script(), Mode::Exec, "<policy>".to_owned())
                .map_err(|e| format!("SyntaxError: {e}"))
        })
    }

    /// Runs code from [`Self::compile_isolated`] in empty globals.
    pub fn run_isolated(&self, compiled: &PyRef<PyCode>) -> Outcome {
        self.run_with(compiled, false)
    }

    fn run_with(&self, compiled: &PyRef<PyCode>, on_prelude: bool) -> Outcome {
        let ticket = self.watchdog.arm(self.timeout);
        let outcome = self.interpreter.enter(|vm| {
            let globals = if on_prelude {
                match fresh_globals(vm, &self.prelude_globals) {
                    Ok(globals) => globals,
                    Err(e) => return Outcome::Error(exception_text(vm, &e)),
                }
            } else {
                vm.ctx.new_dict()
            };
            let scope = Scope::with_builtins(None, globals.clone(), vm);
            if let Err(e) = vm.run_code_obj(compiled.clone(), scope) {
                return Outcome::Error(exception_text(vm, &e));
            }
            match globals.get_item("_kf_verdict_text", vm) {
                Ok(verdict) => match verdict.str(vm) {
                    Ok(text) => Outcome::Verdict(text.to_string()),
                    Err(e) => Outcome::Error(exception_text(vm, &e)),
                },
                Err(e) => Outcome::Error(exception_text(vm, &e)),
            }
        });
        self.watchdog.disarm(ticket);
        outcome
    }
}

/// A per-request copy of the prelude's globals, so one request's names never reach the next.
fn fresh_globals(
    vm: &VirtualMachine,
    prelude: &PyDictRef,
) -> Result<PyDictRef, rustpython_vm::builtins::PyBaseExceptionRef> {
    let copy = vm.call_method(prelude.as_object(), "copy", ())?;
    copy.downcast::<rustpython_vm::builtins::PyDict>()
        .map_err(|_| vm.new_type_error("dict.copy() returned a non-dict"))
}

fn exception_text(vm: &VirtualMachine, exc: &Py<PyBaseException>) -> String {
    let mut text = String::new();
    if vm.write_exception(&mut text, exc).is_err() {
        return "unprintable exception".to_owned();
    }
    text
}

/// Sends a `TimeoutError` into the VM when an evaluation outlives its deadline.
///
/// One long-lived thread, so arming costs a channel send rather than a thread spawn. Each run
/// gets a ticket; the signal checks the ticket when it fires, so a late signal can never
/// interrupt the next run.
struct Watchdog {
    arm_tx: mpsc::Sender<(u64, Instant)>,
    running: Arc<AtomicU64>,
    next_ticket: AtomicU64,
}

impl Watchdog {
    fn spawn(signal_tx: UserSignalSender) -> Watchdog {
        let (arm_tx, arm_rx) = mpsc::channel::<(u64, Instant)>();
        let running = Arc::new(AtomicU64::new(0));
        let running_in_thread = Arc::clone(&running);
        thread::spawn(move || {
            // Deadlines arrive in increasing order, so sleeping to each in turn is exact enough.
            for (ticket, deadline) in arm_rx {
                let now = Instant::now();
                if deadline > now {
                    thread::sleep(deadline - now);
                }
                if running_in_thread.load(Ordering::SeqCst) != ticket {
                    continue;
                }
                let running_at_signal = Arc::clone(&running_in_thread);
                let _ = signal_tx.send(Box::new(move |vm: &VirtualMachine| {
                    if running_at_signal.load(Ordering::SeqCst) != ticket {
                        return Ok(());
                    }
                    Err(vm.new_exception_msg(
                        vm.ctx.exceptions.timeout_error.to_owned(),
                        "evaluation exceeded its time limit".into(),
                    ))
                }));
            }
        });
        Watchdog {
            arm_tx,
            running,
            next_ticket: AtomicU64::new(1),
        }
    }

    fn arm(&self, timeout: Duration) -> u64 {
        let ticket = self.next_ticket.fetch_add(1, Ordering::SeqCst);
        self.running.store(ticket, Ordering::SeqCst);
        let _ = self.arm_tx.send((ticket, Instant::now() + timeout));
        ticket
    }

    fn disarm(&self, ticket: u64) {
        let _ = self
            .running
            .compare_exchange(ticket, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}
