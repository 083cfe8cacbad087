//! Loading an NNEF model into an optimized tract plan, describing it, running it.

use crate::tensors::{self, IoSpec};
use crate::types::{Dimension, Error, ErrorCode, ModelMetadata, NamedTensor, TensorInfo};
use edgeinfer_protocol::PackManifest;
use std::collections::BTreeMap;
use std::sync::Arc;
use tract_nnef::internal::*;
use tract_onnx_opl::WithOnnx;

pub(crate) const ENGINE: &str = "tract 0.23.9";

pub(crate) struct LoadedModel {
    name: String,
    version: String,
    plan: Arc<TypedSimplePlan>,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    preinitialized: bool,
    properties: Vec<(String, String)>,
}

fn load_error(context: &str, e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::InvalidEncoding, format!("{context}: {e:#}"))
}

impl LoadedModel {
    /// Parses the NNEF tar as it streams from `nnef`, optimizes it and builds the plan.
    pub(crate) fn load(
        manifest: &PackManifest,
        nnef: &mut dyn std::io::Read,
        preinitialized: bool,
    ) -> Result<LoadedModel, Error> {
        let mut framework = tract_nnef::nnef().with_onnx();
        framework.allow_extended_identifier_syntax(true);
        edgeinfer_ops::register_nnef(&mut framework);
        let mut model = framework
            .model_for_read(nnef)
            .map_err(|e| load_error("loading the NNEF model", e))?;
        // tract bugs that only a graph read back from NNEF meets (see edgeinfer-ops).
        edgeinfer_ops::repair_reloaded(&mut model)
            .map_err(|e| load_error("repairing the NNEF model", e))?;
        let facts = |e| load_error("reading the model's inputs and outputs", e);
        let inputs = describe(
            &model,
            model.input_outlets().map_err(facts)?,
            &manifest.input_names,
        )?;
        let outputs = describe(
            &model,
            model.output_outlets().map_err(facts)?,
            &manifest.output_names,
        )?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| load_error("optimizing the model", e))?;
        Ok(LoadedModel {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            plan,
            inputs,
            outputs,
            preinitialized,
            properties: manifest
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// One inference on zeros so lazily built kernels and tables exist before the snapshot.
    /// Failure is fine (some models reject zeros or size-1 free dims): it only warms less.
    pub(crate) fn warm_up(&self, symbols: &BTreeMap<String, u64>) {
        let inputs = self
            .inputs
            .iter()
            .map(|spec| {
                let shape: Vec<usize> = spec
                    .shape
                    .iter()
                    .map(|d| match d {
                        Dimension::Fixed(n) => *n as usize,
                        Dimension::Free(sym) => symbols.get(sym).copied().unwrap_or(1) as usize,
                    })
                    .collect();
                let dt = tensors::to_datum_type(spec.dtype).context("no tract type")?;
                Tensor::zero_dt(dt, &shape).map(|t| t.into_tvalue())
            })
            .collect::<TractResult<TVec<_>>>();
        if let Ok(inputs) = inputs {
            let _ = self.plan.run(inputs);
        }
    }

    pub(crate) fn metadata(&self) -> ModelMetadata {
        ModelMetadata {
            name: self.name.clone(),
            version: self.version.clone(),
            inputs: self.inputs.iter().map(IoSpec::info).collect(),
            outputs: self.outputs.iter().map(IoSpec::info).collect(),
            engine: ENGINE.to_string(),
            preinitialized: self.preinitialized,
            properties: self.properties.clone(),
        }
    }

    pub(crate) fn infer(&self, given: Vec<NamedTensor>) -> Result<Vec<NamedTensor>, Error> {
        let inputs = tensors::validate_inputs(&self.inputs, given)?;
        let results = self
            .plan
            .run(inputs)
            .map_err(|e| Error::new(ErrorCode::RuntimeError, format!("inference failed: {e:#}")))?;
        results
            .into_iter()
            .zip(&self.outputs)
            .map(|(value, spec)| tensors::to_named_tensor(&spec.name, &value))
            .collect()
    }
}

/// Names, types and shapes of a model's inputs or outputs. Names come from the manifest (the
/// original ONNX names, which NNEF identifiers may not preserve) when it has them.
fn describe(
    model: &TypedModel,
    outlets: &[OutletId],
    names: &[String],
) -> Result<Vec<IoSpec>, Error> {
    outlets
        .iter()
        .enumerate()
        .map(|(ix, outlet)| {
            let fact = model
                .outlet_fact(*outlet)
                .map_err(|e| load_error("reading model facts", e))?;
            let name = names
                .get(ix)
                .cloned()
                .or_else(|| model.outlet_label(*outlet).map(str::to_string))
                .unwrap_or_else(|| model.node(outlet.node).name.clone());
            let dtype = tensors::from_datum_type(fact.datum_type).ok_or_else(|| {
                Error::new(
                    ErrorCode::UnsupportedOperation,
                    format!(
                        "`{name}` has element type {:?}, which the WIT interface cannot carry",
                        fact.datum_type
                    ),
                )
            })?;
            let shape = fact
                .shape
                .iter()
                .map(|d| match d.to_i64() {
                    Ok(n) if n >= 0 => Dimension::Fixed(n as u64),
                    _ => Dimension::Free(d.to_string()),
                })
                .collect();
            Ok(IoSpec { name, dtype, shape })
        })
        .collect()
}

impl IoSpec {
    fn info(&self) -> TensorInfo {
        TensorInfo {
            name: self.name.clone(),
            ty: self.dtype,
            shape: self.shape.clone(),
        }
    }
}
