//! The answers of the flow tools (the `flows/instances` actions `lint`, `diagram_model`,
//! `simulate`, `versions`, `versions/diff`), as the editor's tabs read them. Lenient like
//! [`super::model`]: unknown fields are ignored, missing ones take defaults. (Serialize: a
//! resource's value travels from the server render to the browser.)

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The linter's report on one flow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LintReport {
    pub flow: String,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

/// One linter finding; `severity` is `error` or `warning`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Finding {
    pub severity: String,
    pub rule: String,
    pub binding_id: Option<String>,
    pub order: Option<i32>,
    pub stage_name: Option<String>,
    pub message: String,
    pub fix: String,
}

/// The diagram's nodes (in reading order) and arrows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Diagram {
    pub nodes: Vec<DiagramNode>,
    pub edges: Vec<DiagramEdge>,
}

/// `kind`: start, requirement, flow_policies, gate, stage, injected, done, denied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiagramNode {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub binding_id: Option<String>,
}

/// `kind`: next, pass, fail, inject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiagramEdge {
    pub from: String,
    pub to: String,
    pub kind: String,
    pub label: Option<String>,
}

/// A dry run's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Simulation {
    pub flow: String,
    pub user: Option<String>,
    /// `plan`, `not_applicable` or `empty`.
    pub outcome: String,
    pub message: Option<String>,
    pub stages: Vec<SimulatedStage>,
    pub trace: PlanTrace,
    pub skipped_writes: Vec<String>,
    pub duration_ms: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatedStage {
    pub binding_id: String,
    pub order: i32,
    pub stage_name: Option<String>,
    pub stage_kind: Option<String>,
    pub re_evaluate_policies: bool,
    pub when_current: Option<GateSet>,
}

/// Every step of a planning.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanTrace {
    pub authentication: String,
    pub authentication_met: Option<bool>,
    pub flow_policies: Option<GateSet>,
    pub bindings: Vec<BindingTrace>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BindingTrace {
    pub binding_id: String,
    pub order: i32,
    pub stage: Option<StageInfo>,
    pub stage_error: Option<String>,
    pub evaluate_on_plan: bool,
    pub re_evaluate_policies: bool,
    pub policies: GateSet,
    /// `included`, `skipped` or `undecided`.
    pub decision: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageInfo {
    pub name: String,
    pub kind: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateSet {
    pub mode: String,
    pub gates: Vec<Gate>,
    pub passing: Option<bool>,
    pub messages: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Gate {
    pub order: i32,
    /// `{"type": "policy" | "group" | "user" | "nothing", "name"/"username": …}`.
    pub subject: Value,
    pub negate: bool,
    pub outcome: Option<GateOutcome>,
}

impl Gate {
    /// "policy “x”", "group “staff”", "user “alice”", "nothing".
    pub fn label(&self) -> String {
        let kind = self.subject["type"].as_str().unwrap_or("nothing");
        let name = self.subject["name"]
            .as_str()
            .or_else(|| self.subject["username"].as_str())
            .unwrap_or("(missing)");
        let base = if kind == "nothing" {
            "nothing bound (never passes)".to_owned()
        } else {
            format!("{kind} “{name}”")
        };
        if self.negate {
            format!("not {base}")
        } else {
            base
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GateOutcome {
    pub passing: bool,
    pub messages: Vec<String>,
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// One saved version of a flow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowVersion {
    pub number: i32,
    pub author: String,
    pub created: String,
    pub summary: String,
}

/// Two versions compared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionDiff {
    pub from: i32,
    pub to: i32,
    pub diff: String,
}
