//! `TreeEnsembleClassifier`, replacing tract-onnx's loader: tract 0.23 takes the label as the
//! argmax of the per-class sums, which is wrong for every binary model the converters write
//! (skl2onnx's forests, trees and gradient boosting, LightGBM, XGBoost: one class id, the
//! positive class's score only), and it refuses two base values. Same decomposition as
//! tract-onnx's (an ensemble op, this crate's [`crate::nnef::TreeEnsemble`] rather than
//! tract-onnx-opl's slow one, then core ops; [`super::tree`] reads the trees),
//! with onnxruntime's rules (`TreeAggregatorClassifier` in `tree_ensemble_aggregator.h`):
//!
//! - more than two classes: base values added, label = first class with the largest score
//!   among the classes that have one, scores = post transform of the sums;
//! - two classes, one class id ("binary case"): one score `s` (plus the base value); label =
//!   positive class when `s > 0.5` if all weights are >= 0 (forests: `s` is a probability),
//!   `s > 0` otherwise (boosting: `s` is a margin); scores `[1 - s, s]`, or `[σ(-s), σ(s)]` with
//!   LOGISTIC, `[-s, s]` otherwise;
//! - two classes, both scored: label 1 or 0 (sic, not the class labels) by `s₁ > 0`, scores
//!   the post transform of both; two base values: only `b₀` is added, class 1 stays 0; two
//!   base values with class 1 scored: refused (onnxruntime's rule there is not reproduced).
//!
//! onnxruntime decides "has a score" per row; here per model (a class has one when some leaf
//! weighs it), which is the same for what converters write. String labels are refused.

use super::tree::parse_ensemble;
use super::*;
use crate::nnef::tree_ensemble::{Aggregate, TreeEnsemble};
use tract_onnx::tract_hir::tract_core::ops::array::{Gather, Slice, TypedConcat};
use tract_onnx::tract_hir::tract_core::ops::{logic, math, nn};

#[derive(Debug, Clone)]
struct TreeEnsembleClassifier {
    ensemble: TreeEnsemble,
    labels: Vec<i64>,
    base_values: Vec<f32>,
    post_transform: PostTransform,
    scored: Vec<bool>,
    weights_all_positive: bool,
}

pub(super) fn load(ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    if node
        .get_attr_opt_tvec::<&str>("classlabels_strings")?
        .is_some_and(|s| !s.is_empty())
    {
        return refuse_strings(node, "classlabels_strings");
    }
    let labels: Vec<i64> = node
        .get_attr_opt_vec("classlabels_int64s")?
        .unwrap_or_default();
    if labels.len() < 2 {
        return refuse(node, "classlabels_int64s must name at least two classes");
    }
    let post_transform = post_transform(node)?;
    let base_values = floats_attr(ctx, node, "base_values")?.unwrap_or_default();
    if base_values.len() > labels.len() || (labels.len() == 2 && base_values.len() > 2) {
        return refuse(
            node,
            format!(
                "{} base_values for {} classes",
                base_values.len(),
                labels.len()
            ),
        );
    }
    let parsed = parse_ensemble(ctx, node, "class", labels.len(), Aggregate::Sum)?;
    if labels.len() == 2 && !parsed.scored[1] && !parsed.scored[0] {
        return refuse(node, "no leaf weighs any class");
    }
    if labels.len() == 2 && base_values.len() == 2 && parsed.scored[1] {
        return refuse(
            node,
            "two classes with two base_values and weights on class 1: onnxruntime's rule for \
             this layout (no converter writes it) is not reproduced",
        );
    }
    let op = TreeEnsembleClassifier {
        ensemble: parsed.ensemble,
        labels,
        base_values,
        post_transform,
        scored: parsed.scored,
        weights_all_positive: parsed.weights_all_positive,
    };
    Ok((expand(op), vec![]))
}

impl TreeEnsembleClassifier {
    fn binary_case(&self) -> bool {
        self.labels.len() == 2 && self.scored.iter().filter(|s| **s).count() == 1
    }

    /// Multi-class: scores, and the label among the classes that have a score.
    fn wire_multiclass(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        sums: OutletId,
    ) -> TractResult<(OutletId, OutletId)> {
        let c = self.labels.len();
        let mut scores = sums;
        if !self.base_values.is_empty() {
            let mut base = self.base_values.clone();
            base.resize(c, 0.0);
            let base = row_const(model, format!("{prefix}.base_values"), tensor1(&base))?;
            scores = wire_bin(
                model,
                format!("{prefix}.add_base_values"),
                math::add(),
                scores,
                base,
            )?;
        }
        let candidates: Vec<bool> = (0..c)
            .map(|k| self.scored[k] || k < self.base_values.len())
            .collect();
        let mut ranked = scores;
        if candidates.iter().any(|c| !c) {
            let mask = row_const(model, format!("{prefix}.has_score"), tensor1(&candidates))?;
            let never =
                model.add_const(format!("{prefix}.never"), tensor2(&[[f32::NEG_INFINITY]]))?;
            ranked = model.wire_node(
                format!("{prefix}.ranked"),
                logic::Iff,
                &[mask, scores, never],
            )?[0];
        }
        let winner = model.wire_node(
            format!("{prefix}.argmax"),
            nn::Reduce::new(tvec!(1), nn::Reducer::ArgMax(false)),
            &[ranked],
        )?[0];
        let winner = model.wire_node(format!("{prefix}.winner"), AxisOp::Rm(1), &[winner])?[0];
        let labels = model.add_const(format!("{prefix}.labels"), tensor1(&self.labels))?;
        let label =
            model.wire_node(format!("{prefix}.label"), Gather::new(0), &[labels, winner])?[0];
        let scores = wire_post_transform(model, prefix, scores, self.post_transform)?;
        Ok((label, scores))
    }

    /// Two classes, as `TreeAggregatorClassifier::FinalizeScores` and `_set_score_binary`.
    fn wire_binary(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        sums: OutletId,
    ) -> TractResult<(OutletId, OutletId)> {
        let s0 = model.wire_node(format!("{prefix}.class_0"), Slice::new(1, 0, 1), &[sums])?[0];
        let s1 = model.wire_node(format!("{prefix}.class_1"), Slice::new(1, 1, 2), &[sums])?[0];
        let add =
            |model: &mut TypedModel, name: &str, x: OutletId, v: f32| -> TractResult<OutletId> {
                let v = model.add_const(format!("{prefix}.{name}_base"), tensor2(&[[v]]))?;
                wire_bin(model, format!("{prefix}.{name}"), math::add(), x, v)
            };
        let b = &self.base_values;
        // (scores kept, whether the second one counts as scored)
        let (preds, second_scored): (TVec<OutletId>, bool) = match b.len() {
            // onnxruntime 1.32 leaves the unscored class 1 at 0 (b1 unused)
            2 => (tvec!(add(model, "p0", s0, b[0])?, s1), false),
            1 => {
                let p0 = add(model, "p0", s0, b[0])?;
                if self.scored[1] {
                    (tvec!(p0, s1), true)
                } else {
                    (tvec!(p0), false)
                }
            }
            _ => {
                if self.scored[1] {
                    (tvec!(s0, s1), true)
                } else {
                    (tvec!(s0), false)
                }
            }
        };
        let positive = if preds.len() == 2 && second_scored {
            preds[1]
        } else {
            preds[0]
        };
        // f32 (an f64 constant made the typed graph compare f32 with f64, which only the NNEF
        // reload's casts hid: the decluttered model itself failed to run)
        let threshold = if self.binary_case() && self.weights_all_positive {
            0.5f32
        } else {
            0.0f32
        };
        let threshold = model.add_const(format!("{prefix}.threshold"), tensor2(&[[threshold]]))?;
        let is_positive = wire_bin(
            model,
            format!("{prefix}.is_positive"),
            binary(logic::comp_gt()),
            positive,
            threshold,
        )?;
        // Outside the binary case onnxruntime answers 1 or 0, whatever the class labels.
        let (pos, neg) = if self.binary_case() {
            (self.labels[1], self.labels[0])
        } else {
            (1, 0)
        };
        let pos_label = model.add_const(format!("{prefix}.positive_label"), tensor2(&[[pos]]))?;
        let neg_label = model.add_const(format!("{prefix}.negative_label"), tensor2(&[[neg]]))?;
        let label = model.wire_node(
            format!("{prefix}.label_2d"),
            logic::Iff,
            &[is_positive, pos_label, neg_label],
        )?[0];
        let label = model.wire_node(format!("{prefix}.label"), AxisOp::Rm(1), &[label])?[0];

        let scores = if preds.len() == 2 {
            let both = model.wire_node(format!("{prefix}.scores"), TypedConcat::new(1), &preds)?[0];
            wire_post_transform(model, prefix, both, self.post_transform)?
        } else {
            let s = preds[0];
            let (first, second) = if self.binary_case() && self.weights_all_positive {
                let one = model.add_const(format!("{prefix}.one"), tensor2(&[[1f32]]))?;
                (
                    wire_bin(model, format!("{prefix}.complement"), math::sub(), one, s)?,
                    s,
                )
            } else if self.binary_case() || b.is_empty() {
                let neg = model.wire_node(format!("{prefix}.negated"), math::neg(), &[s])?[0];
                if self.post_transform == PostTransform::Logistic {
                    let a =
                        model.wire_node(format!("{prefix}.logistic_0"), nn::sigmoid(), &[neg])?[0];
                    let b =
                        model.wire_node(format!("{prefix}.logistic_1"), nn::sigmoid(), &[s])?[0];
                    (a, b)
                } else {
                    (neg, s)
                }
            } else {
                bail!(
                    "TreeEnsembleClassifier: one score, neither the binary case nor without base values"
                );
            };
            model.wire_node(
                format!("{prefix}.scores"),
                TypedConcat::new(1),
                &[first, second],
            )?[0]
        };
        Ok((label, scores))
    }
}

impl Expansion for TreeEnsembleClassifier {
    fn name(&self) -> StaticName {
        "TreeEnsembleClassifier".into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(2)
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 2)?;
        s.equals(&outputs[0].datum_type, i64::datum_type())?;
        s.equals(&outputs[0].rank, 1)?;
        s.equals(&outputs[1].datum_type, f32::datum_type())?;
        s.equals(&outputs[1].rank, 2)?;
        s.equals(&outputs[1].shape[1], self.labels.len().to_dim())?;
        s.equals(&outputs[0].shape[0], &outputs[1].shape[0])?;
        rows_rule(s, &inputs[0], &outputs[1])
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = wire_cast(
            model,
            format!("{prefix}.to_f32"),
            inputs[0],
            f32::datum_type(),
        )?;
        let x = wire_as_rows(model, format!("{prefix}.as_rows"), x)?;
        let sums = model.wire_node(format!("{prefix}.trees"), self.ensemble.clone(), &[x])?[0];
        let (label, scores) = if self.labels.len() > 2 {
            self.wire_multiclass(prefix, model, sums)?
        } else {
            self.wire_binary(prefix, model, sums)?
        };
        Ok(tvec!(label, scores))
    }
}
