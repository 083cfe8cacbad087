//! Loading an NNEF model into an optimized tract plan, describing it, running it.

use crate::tensors::{self, IoSpec};
use crate::types::{Dimension, Error, ErrorCode, ModelMetadata, NamedTensor, TensorInfo};
use edgeinfer_protocol::PackManifest;
use edgeinfer_protocol::pack::SPECIALIZED_PROPERTY;
use std::collections::BTreeMap;
use std::sync::Arc;
use tract_nnef::internal::*;
use tract_onnx_opl::WithOnnx;

pub(crate) const ENGINE: &str = "tract 0.23.9";

struct SpecializedPlan {
    /// The fixed dims as `SYMBOL=SIZE`, comma separated.
    sizes: String,
    /// Each input's dims in model order: the size a call must have where the plan fixed it,
    /// `None` where the dim stays free in this plan too.
    shapes: Vec<Vec<Option<usize>>>,
    plan: Arc<TypedSimplePlan>,
}

impl SpecializedPlan {
    fn takes(&self, inputs: &[TValue]) -> bool {
        inputs.iter().zip(&self.shapes).all(|(tensor, dims)| {
            tensor
                .shape()
                .iter()
                .zip(dims)
                .all(|(given, fixed)| fixed.is_none_or(|n| n == *given))
        })
    }
}

pub(crate) struct LoadedModel {
    name: String,
    version: String,
    plan: Arc<TypedSimplePlan>,
    /// The same graph optimized for one concrete set of input shapes (see
    /// `PackManifest::specialize`); calls with exactly those shapes run on it.
    specialized: Option<SpecializedPlan>,
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
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        crate::wasm_gemm::keep_linked();
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
        // Built only at pre-init: on a deferred load every fresh instance would pay a second
        // optimization on its first call.
        let specialized = match (&manifest.specialize, preinitialized) {
            (Some(sizes), true) => specialize(&model, sizes)?,
            _ => None,
        };
        let plan = edgeinfer_ops::optimize(model)
            .and_then(|m| m.into_runnable())
            .map_err(|e| load_error("optimizing the model", e))?;
        let mut properties: Vec<(String, String)> = manifest
            .properties
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(specialized) = &specialized {
            properties.push((SPECIALIZED_PROPERTY.into(), specialized.sizes.clone()));
        }
        Ok(LoadedModel {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            plan,
            specialized,
            inputs,
            outputs,
            preinitialized,
            properties,
        })
    }

    /// One inference on zeros on each plan so lazily built kernels and tables exist before
    /// the snapshot. Failure is fine (some models reject zeros or size-1 free dims): it only
    /// warms less.
    pub(crate) fn warm_up(&self, symbols: &BTreeMap<String, u64>) {
        let free_size = |dim: &Dimension| match dim {
            Dimension::Fixed(n) => *n as usize,
            Dimension::Free(sym) => symbols.get(sym).copied().unwrap_or(1) as usize,
        };
        let zeros = |shape_of: &dyn Fn(usize, &IoSpec) -> Vec<usize>| {
            self.inputs
                .iter()
                .enumerate()
                .map(|(ix, spec)| {
                    let dt = tensors::to_datum_type(spec.dtype).context("no tract type")?;
                    Tensor::zero_dt(dt, &shape_of(ix, spec)).map(|t| t.into_tvalue())
                })
                .collect::<TractResult<TVec<_>>>()
        };
        if let Ok(inputs) = zeros(&|_, spec| spec.shape.iter().map(free_size).collect()) {
            let _ = self.plan.run(inputs);
        }
        if let Some(specialized) = &self.specialized {
            let shape_of = |ix: usize, spec: &IoSpec| {
                (spec.shape.iter().zip(&specialized.shapes[ix]))
                    .map(|(dim, fixed)| fixed.unwrap_or_else(|| free_size(dim)))
                    .collect()
            };
            if let Ok(inputs) = zeros(&shape_of) {
                let _ = specialized.plan.run(inputs);
            }
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
        let plan = match &self.specialized {
            Some(specialized) if specialized.takes(&inputs) => &specialized.plan,
            _ => &self.plan,
        };
        #[cfg(feature = "op-profile")]
        let results = crate::op_profile::run(plan, inputs);
        #[cfg(not(feature = "op-profile"))]
        let results = plan.run(inputs);
        let results = results
            .map_err(|e| Error::new(ErrorCode::RuntimeError, format!("inference failed: {e:#}")))?;
        results
            .into_iter()
            .zip(&self.outputs)
            .map(|(value, spec)| tensors::to_named_tensor(&spec.name, &value))
            .collect()
    }
}

/// The model optimized with some of its inputs' free dims fixed: the symbols `sizes` names
/// (at those sizes) or, when it names none, each input's first dim if free (the batch) at 1,
/// provided that leaves no dim free. `None` when there is nothing to fix. Only a symbol that is a whole dim of some input is
/// fixed, so that a call's shapes show whether it matches.
fn specialize(
    model: &TypedModel,
    sizes: &BTreeMap<String, u64>,
) -> Result<Option<SpecializedPlan>, Error> {
    let error = |e| load_error("specializing the model to fixed sizes of its free dims", e);
    let facts = model
        .input_outlets()
        .and_then(|outlets| {
            outlets
                .iter()
                .map(|o| model.outlet_fact(*o).cloned())
                .collect::<TractResult<Vec<_>>>()
        })
        .map_err(error)?;
    let whole_dims: BTreeMap<String, Symbol> = facts
        .iter()
        .flat_map(|f| f.shape.iter())
        .filter_map(|d| match d {
            TDim::Sym(s) => Some((s.to_string(), s.clone())),
            _ => None,
        })
        .collect();
    let chosen: BTreeMap<Symbol, i64> = if sizes.is_empty() {
        facts
            .iter()
            .filter_map(|f| match f.shape.iter().next() {
                Some(TDim::Sym(s)) => Some((s.clone(), 1)),
                _ => None,
            })
            .collect()
    } else {
        sizes
            .iter()
            .map(|(name, size)| match whole_dims.get(name) {
                Some(symbol) => Ok((symbol.clone(), *size as i64)),
                None => Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "no input has a free dimension `{name}` to specialize; the free dims \
                         are: {}",
                        whole_dims.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )),
            })
            .collect::<Result<_, _>>()?
    };
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut values = SymbolValues::default();
    for (symbol, size) in &chosen {
        values = values.with(symbol, *size);
    }
    let shapes: Vec<Vec<Option<usize>>> = facts
        .iter()
        .map(|f| {
            f.shape
                .iter()
                .map(|d| d.eval(&values).to_usize().ok())
                .collect()
        })
        .collect();
    // By default only where the batch is the last free dim: with a width or a sequence
    // still free, tract's plan stays symbolic where it matters and the second copy of the
    // packed weights buys nothing (measured on the corpus' recognizers and transformers).
    let all_fixed = shapes.iter().flatten().all(Option::is_some);
    if sizes.is_empty() && !all_fixed {
        return Ok(None);
    }
    let sizes = chosen
        .iter()
        .map(|(symbol, size)| format!("{symbol}={size}"))
        .collect::<Vec<_>>()
        .join(",");
    let substitutions = chosen
        .into_iter()
        .map(|(symbol, size)| (symbol, TDim::Val(size)))
        .collect();
    let plan = model
        .set_symbols(&substitutions)
        .and_then(edgeinfer_ops::optimize)
        .and_then(|m| m.into_runnable())
        .map_err(error)?;
    Ok(Some(SpecializedPlan {
        sizes,
        shapes,
        plan,
    }))
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
