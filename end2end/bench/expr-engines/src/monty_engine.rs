//! monty 0.0.23: parse once into a `MontyRun`, then every run gets a fresh heap and
//! executes prelude + request + policy (monty keeps no VM between runs).

use monty::MontyRun;
use monty_types::{CompileOptions, MontyObject, PrintWriter, ResourceLimits, ResourceTracker};

use crate::case::Case;
use crate::engine::{Engine, Limits, Outcome};

// A compiled policy can move to (or be cloned into) any worker thread: `MontyRun` is `Send`
// and `Clone`, though not `Sync` (checked at compile time).
const _: fn() = || {
    fn movable<T: Send + Clone>() {}
    movable::<MontyRun>();
};

pub struct MontyEngine {
    limits: ResourceLimits,
}

impl Engine for MontyEngine {
    type Compiled = MontyRun;
    const NAME: &'static str = "monty";

    fn start(limits: &Limits) -> Result<Self, String> {
        let limits = ResourceLimits {
            max_duration: Some(limits.timeout),
            max_memory: limits.max_memory,
            max_recursion_depth: limits.max_recursion,
            ..ResourceLimits::default()
        };
        Ok(MontyEngine { limits })
    }

    fn compile(&self, case: &Case) -> Result<MontyRun, String> {
        MontyRun::new(
            case.full_script(),
            "policy.py",
            vec![],
            CompileOptions::default(),
        )
        .map_err(|e| e.to_string())
    }

    fn run(&self, compiled: &MontyRun) -> Outcome {
        let tracker = ResourceTracker::new(self.limits.clone());
        match compiled.run(vec![], tracker, PrintWriter::Disabled) {
            Ok(MontyObject::String(verdict)) => Outcome::Verdict(verdict),
            Ok(other) => Outcome::Verdict(format!("{other:?}")),
            Err(error) => Outcome::Error(error.to_string()),
        }
    }
}

impl MontyEngine {
    /// A run of the prelude alone (no request, no policy): the floor of monty's per-call cost.
    pub fn compile_prelude_only() -> Result<MontyRun, String> {
        let script = format!("{}\nNone\n", crate::case::PRELUDE_DEFS);
        MontyRun::new(script, "prelude.py", vec![], CompileOptions::default())
            .map_err(|e| e.to_string())
    }
}
