//! tract running natively, outside wasm, on the same NNEF graph the component carries: the
//! baseline `edgeinfer bench` measures the component against, and a reference for tests.

use crate::pack::{ShapeRequest, nnef, onnx_to_nnef};
use crate::{DType, Tensor};
use anyhow::{Context, Result};
use edgeinfer_protocol::op_profile::{self, OpTime};
use edgeinfer_protocol::tract::{from_datum_type, to_datum_type};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::prelude::*;

pub struct NativeModel {
    plan: Arc<TypedSimplePlan>,
    input_names: Vec<String>,
    output_names: Vec<String>,
}

impl NativeModel {
    /// Converts the ONNX model exactly as `pack` does, then optimizes it for this CPU with the
    /// guest's rewrites (`edgeinfer_ops::optimize`), so both run the same plan.
    pub fn from_onnx(path: &Path, shapes: &ShapeRequest) -> Result<NativeModel> {
        let converted = onnx_to_nnef(path, shapes)?;
        let plan = nnef()
            .model_for_read(&mut &converted.nnef[..])
            .and_then(|mut m| {
                edgeinfer_ops::repair_reloaded(&mut m)?;
                edgeinfer_ops::optimize(m)
            })
            .and_then(|m| m.into_runnable())
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(NativeModel {
            plan,
            input_names: converted.input_names,
            output_names: converted.output_names,
        })
    }

    /// Runs the model; inputs are matched by name.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let values = self.values(inputs)?;
        let outputs = self
            .plan
            .run(values)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        outputs
            .iter()
            .zip(&self.output_names)
            .map(|(value, name)| {
                let dtype: DType = from_datum_type(value.datum_type()).with_context(|| {
                    format!("output `{name}` has type {:?}", value.datum_type())
                })?;
                Ok(crate::Tensor::new(
                    name.clone(),
                    dtype,
                    value.shape(),
                    value.as_bytes().to_vec(),
                ))
            })
            .collect()
    }

    /// Runs the model node by node, as the guest's `op-profile` build does, and returns the
    /// time spent in each operator kind.
    pub fn run_timed(&self, inputs: &[Tensor]) -> Result<Vec<OpTime>> {
        let values = self.values(inputs)?;
        let mut times: Vec<OpTime> = Vec::new();
        let mut state = TypedSimpleState::new(&self.plan).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        state
            .run_plan_with_eval(values, |ctx, op_state, node, node_inputs| {
                let start = Instant::now();
                let result = tract_onnx::tract_core::plan::eval(ctx, op_state, node, node_inputs);
                op_profile::record(
                    &mut times,
                    &node.op().name(),
                    start.elapsed().as_nanos() as u64,
                );
                result
            })
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(times)
    }

    /// The inputs as tract values in the model's order, matched by name.
    fn values(&self, inputs: &[Tensor]) -> Result<TVec<TValue>> {
        self.input_names
            .iter()
            .map(|name| {
                let t = inputs
                    .iter()
                    .find(|t| &t.name == name)
                    .with_context(|| format!("missing input `{name}`"))?;
                let dt =
                    to_datum_type(t.dtype).with_context(|| format!("tract has no {}", t.dtype))?;
                anyhow::ensure!(
                    t.data.len() == t.len() * t.dtype.size(),
                    "`{name}`: data length"
                );
                // SAFETY: the byte length matches the shape and plain element type.
                let tensor =
                    unsafe { tract_onnx::prelude::Tensor::from_raw_dt(dt, &t.shape, &t.data) }
                        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
                Ok(tensor.into_tvalue())
            })
            .collect::<Result<TVec<_>>>()
    }
}
