//! `TreeEnsembleRegressor` (ai.onnx.ml opsets 1 and 3; what every tree regressor of skl2onnx,
//! onnxmltools' LightGBM and XGBoost converters becomes): this crate's
//! [`crate::nnef::TreeEnsemble`] (sums or averages per target), then base values and the post
//! transform as core ops ([`super::tree`] reads the trees). As onnxruntime
//! (`tree_ensemble_aggregator.h`):
//!
//! - the aggregate attribute is `aggregate_function` (tract-onnx's classifier parser reads
//!   `aggregate`); `AVERAGE` divides the sum by the number of trees (tract's own average divides
//!   by the number of contributions); `MIN`/`MAX` are refused (tract's kernel starts them at 0);
//! - one target: `base_values[0]` is added when there is exactly one, and only `PROBIT` would
//!   apply (onnxruntime ignores LOGISTIC/SOFTMAX there); several targets: `base_values` are
//!   added when there is one per target, then the post transform;
//! - `base_values_as_tensor` (double) is read, as f32.
//!
//! Inputs are compared in f32: a double input is cast first. onnxruntime compares doubles in
//! double, so a double value within half an f32 ulp of a threshold can take the other branch.

use super::tree::parse_ensemble;
use super::*;
use crate::nnef::tree_ensemble::{Aggregate, TreeEnsemble};
use tract_onnx::tract_hir::tract_core::ops::math;

#[derive(Debug, Clone)]
struct TreeEnsembleRegressor {
    ensemble: TreeEnsemble,
    base_values: Option<Vec<f32>>,
    post_transform: PostTransform,
}

pub(super) fn load(ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(0);
    if n_targets < 1 {
        return refuse(node, "n_targets must be at least 1");
    }
    let n_targets = n_targets as usize;
    let aggregate = match node
        .get_attr_opt::<&str>("aggregate_function")?
        .unwrap_or("SUM")
    {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        other => {
            return refuse(
                node,
                format!("aggregate_function {other} is not implemented (SUM and AVERAGE are)"),
            );
        }
    };
    let post_transform = post_transform(node)?;
    let base_values = floats_attr(ctx, node, "base_values")?.filter(|b| !b.is_empty());
    let ensemble = parse_ensemble(ctx, node, "target", n_targets, aggregate)?.ensemble;
    Ok((
        expand(TreeEnsembleRegressor {
            ensemble,
            base_values,
            post_transform,
        }),
        vec![],
    ))
}

impl Expansion for TreeEnsembleRegressor {
    fn name(&self) -> StaticName {
        "TreeEnsembleRegressor".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[1], self.ensemble.n_targets().to_dim())?;
        rows_rule(s, &inputs[0], &outputs[0])
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let n_targets = self.ensemble.n_targets();
        let x = wire_cast(
            model,
            format!("{prefix}.to_f32"),
            inputs[0],
            f32::datum_type(),
        )?;
        let x = wire_as_rows(model, format!("{prefix}.as_rows"), x)?;
        let mut y = model.wire_node(format!("{prefix}.trees"), self.ensemble.clone(), &[x])?[0];
        let base = match &self.base_values {
            Some(b) if n_targets == 1 && b.len() == 1 => Some(b.clone()),
            Some(b) if n_targets > 1 && b.len() == n_targets => Some(b.clone()),
            _ => None,
        };
        if let Some(base) = base {
            let base = row_const(model, format!("{prefix}.base_values"), tensor1(&base))?;
            y = wire_bin(
                model,
                format!("{prefix}.add_base_values"),
                math::add(),
                y,
                base,
            )?;
        }
        if n_targets > 1 {
            y = wire_post_transform(model, prefix, y, self.post_transform)?;
        }
        Ok(tvec!(y))
    }
}
