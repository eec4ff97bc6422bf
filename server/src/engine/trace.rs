//! The planner's trace: what [`super::planner::plan_traced`] looked at and decided, step by step.
//! Execution ignores it; the flow diagram (static: nothing evaluated, every branch kept), the
//! simulator (evaluated for a given user and context) and the linter read it. Because it is
//! recorded by the very function that builds plans, none of them can disagree with execution.

use serde::Serialize;
use uuid::Uuid;

use crate::flows::PolicyEngineMode;

/// Who or what a policy binding (a gate) binds.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GateSubject {
    /// `name`/`kind` are `None` when the policy row is missing (the gate then fails to
    /// evaluate and yields `failure_result`).
    Policy {
        id: Uuid,
        name: Option<String>,
        kind: Option<String>,
    },
    Group {
        id: Uuid,
        name: Option<String>,
    },
    User {
        id: i32,
        username: Option<String>,
    },
    /// A binding with no policy, group or user: never passes.
    Nothing,
}

/// What one gate produced when evaluated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateOutcome {
    /// The gate's own result after `negate` (or `failure_result` when it failed to evaluate).
    pub passing: bool,
    pub messages: Vec<String>,
    /// Why the policy gave no result (then `passing` is the binding's `failure_result`).
    pub error: Option<String>,
    /// Wall time of the evaluation, milliseconds.
    pub duration_ms: f64,
}

/// One enabled policy binding on a flow or a flow-stage binding, in evaluation order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gate {
    pub binding_id: Uuid,
    pub order: i32,
    pub subject: GateSubject,
    pub negate: bool,
    pub failure_result: bool,
    /// Seconds the policy may run.
    pub timeout: i32,
    /// `None` in a static trace (nothing evaluated).
    pub outcome: Option<GateOutcome>,
}

/// The gates of one target and how they combine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateSet {
    pub mode: PolicyEngineMode,
    pub gates: Vec<Gate>,
    /// The combined result; `None` when not evaluated. No gates always pass.
    pub passing: Option<bool>,
    pub messages: Vec<String>,
}

impl GateSet {
    pub fn new(mode: PolicyEngineMode) -> Self {
        Self {
            mode,
            gates: Vec::new(),
            passing: None,
            messages: Vec::new(),
        }
    }
}

/// A stage the running stage may put into the plan right after itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Injection {
    pub stage_id: Uuid,
    /// `None` when no stage has that id.
    pub stage_name: Option<String>,
    pub stage_kind: Option<String>,
    /// When it happens, in words ("the user has no authenticator: configure").
    pub when: String,
}

/// The bound stage as the registry describes it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageInfo {
    pub name: String,
    pub kind: String,
    pub injects: Vec<Injection>,
}

/// What the planner did with a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// In the plan (no plan-time policies, or they passed).
    Included,
    /// Left out: its plan-time policies failed.
    Skipped,
    /// Static trace: depends on its policies (both ways are drawn).
    Undecided,
}

/// One flow-stage binding, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BindingTrace {
    pub binding_id: Uuid,
    pub order: i32,
    pub stage_id: Uuid,
    /// `None` when the stage row is missing or unreadable (the flow then fails there).
    pub stage: Option<StageInfo>,
    /// Why `stage` is `None`.
    pub stage_error: Option<String>,
    pub evaluate_on_plan: bool,
    pub re_evaluate_policies: bool,
    pub invalid_response_action: String,
    pub policies: GateSet,
    pub decision: Decision,
    /// Where a failing gate leads: the next binding, or `None` for the end of the flow.
    pub on_fail_next: Option<Uuid>,
}

impl BindingTrace {
    /// Its policies decide at plan time or when the stage becomes current.
    pub fn is_gated(&self) -> bool {
        !self.policies.gates.is_empty() && (self.evaluate_on_plan || self.re_evaluate_policies)
    }
}

/// How planning ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TraceOutcome {
    Plan { stages: usize },
    NotApplicable { message: String },
    Empty,
}

/// Everything one planning recorded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanTrace {
    pub flow_id: Uuid,
    pub slug: String,
    pub name: String,
    pub designation: String,
    /// The flow's `authentication` requirement and whether it held (`None`: static).
    pub authentication: String,
    pub authentication_met: Option<bool>,
    /// What a flow-level refusal does (authentik's `denied_action`).
    pub denied_action: String,
    /// The flow's own policies; `None` when planning stopped before them.
    pub flow_policies: Option<GateSet>,
    pub bindings: Vec<BindingTrace>,
    pub outcome: Option<TraceOutcome>,
}
