//! Timing each operator of a call (feature `op-profile`, off in shipped guests): runs the plan
//! node by node as tract's own `SimpleState::run` does, adds each node's time to its operator
//! kind, and writes the call's times to stderr in `edgeinfer_protocol::op_profile`'s format
//! for `edgeinfer bench --op-profile`.

use edgeinfer_protocol::op_profile::{self, OpTime};
use std::io::Write;
use std::time::Instant;
use tract_nnef::internal::*;

pub(crate) fn run(plan: &Arc<TypedSimplePlan>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
    let mut times: Vec<OpTime> = Vec::new();
    let mut state = TypedSimpleState::new(plan)?;
    let outputs = state.run_plan_with_eval(inputs, |ctx, op_state, node, node_inputs| {
        let start = Instant::now();
        let result = tract_nnef::tract_core::plan::eval(ctx, op_state, node, node_inputs);
        op_profile::record(
            &mut times,
            &node.op().name(),
            start.elapsed().as_nanos() as u64,
        );
        result
    })?;
    // Not eprint!, which panics when the host's stderr is full: the times are a side channel.
    let _ = std::io::stderr().write_all(op_profile::format(&times).as_bytes());
    Ok(outputs)
}
