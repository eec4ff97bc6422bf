//! The answer of stage kinds whose configuration keyflow already stores (so blueprints and
//! exports keep them) but whose behaviour is not written yet: an engine error, which the flow
//! shows as `ak-stage-flow-error`. Passing silently would let a flow skip a check it promises.

use crate::engine::{EngineError, EngineResult};

use crate::engine::stage::StageOutcome;

/// The outcome every not-yet-implemented stage kind gives, on GET and POST alike.
pub fn not_implemented(kind: &'static str) -> EngineResult<StageOutcome> {
    Err(EngineError::StageNotImplemented(kind))
}
