//! The frozen plan: the stages still to run and the context, stored server-side per session.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::context::FlowContext;
use crate::flows::{InvalidResponseAction, PolicyEngineMode};

/// One stage still to run, with what the executor needs to know about its binding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedStage {
    /// The flow-stage binding; `None` for stages injected at run time (they have no policies).
    pub binding_id: Option<Uuid>,
    pub stage_id: Uuid,
    /// Re-check the binding's policies when the stage becomes current (`ReevaluateMarker`).
    pub re_evaluate: bool,
    pub invalid_response_action: InvalidResponseAction,
    pub policy_engine_mode: PolicyEngineMode,
    /// A stage that lives only in this plan, with no `stages` row (`stage_id` is nil): the
    /// consent step the email stage puts in front of its link (spec §4.12). Its configuration
    /// is opaque to the engine; [`super::stage::StageRegistry`] turns it into a stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_memory: Option<InMemoryStage>,
}

impl PlannedStage {
    /// A stage inserted while the flow runs (e.g. "configure" from authenticator validation).
    pub fn injected(stage_id: Uuid) -> Self {
        Self {
            binding_id: None,
            stage_id,
            re_evaluate: false,
            invalid_response_action: InvalidResponseAction::Retry,
            policy_engine_mode: PolicyEngineMode::Any,
            in_memory: None,
        }
    }

    /// A stage that exists only in the plan (authentik's in-memory stages).
    pub fn in_memory(config: InMemoryStage) -> Self {
        Self {
            in_memory: Some(config),
            ..Self::injected(Uuid::nil())
        }
    }
}

/// The serialised configuration of a stage kept only in a plan, as the stages layer wrote it
/// (`{"kind": …, "config": …}`, the same JSON a stored plan always held).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InMemoryStage(pub serde_json::Value);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowPlan {
    pub flow_id: Uuid,
    /// Index 0 is the current stage.
    pub stages: Vec<PlannedStage>,
    pub context: FlowContext,
}

impl FlowPlan {
    pub fn current(&self) -> Option<&PlannedStage> {
        self.stages.first()
    }

    /// The current stage is done.
    pub fn pop(&mut self) {
        if !self.stages.is_empty() {
            self.stages.remove(0);
        }
    }

    /// Runs `stage` right after the current one.
    pub fn insert_next(&mut self, stage: PlannedStage) {
        let at = self.stages.len().min(1);
        self.stages.insert(at, stage);
    }
}
