//! Pack-time half: ONNX loaders for the `ai.onnx.ml` operators tract 0.23 lacks, and an `If`
//! that folds a constant condition (`if_then_else`).
//!
//! tract-onnx keys its operator register by `op_type` alone (the node's domain is not looked
//! at), so `register_onnx` inserts plain names such as `Scaler`; none of them clashes with a
//! default-domain operator. The `ai.onnx.ml` opset version, where semantics depend on it
//! (`LabelEncoder`), is read from the model's `opset_import`.
//!
//! Semantics follow onnxruntime's CPU kernels (`onnxruntime/core/providers/cpu/ml/`), which is
//! what the exporters are tested against; each module says where it departs from them.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::tract_core::ops::change_axes::wire_with_rank_broadcast;

mod array_feature_extractor;
mod binarizer;
mod feature_vectorizer;
mod if_then_else;
mod imputer;
mod label_encoder;
mod one_hot_encoder;
mod scaler;
mod svm;
mod tree;
mod tree_ensemble_classifier;
mod tree_ensemble_regressor;

/// Adds the loaders of this crate to a tract ONNX framework: `register_onnx(&mut onnx)` right
/// after `tract_onnx::onnx()`. Models then load, type and declutter into tract core ops plus,
/// for the tree ensembles, `LabelEncoder` and SVM probabilities, this crate's run-time ops
/// (register those with [`crate::register_nnef`] wherever the NNEF is written or read).
pub fn register_onnx(onnx: &mut tract_onnx::Onnx) {
    let reg = &mut onnx.op_register;
    reg.insert("ArrayFeatureExtractor", array_feature_extractor::load);
    reg.insert("Binarizer", binarizer::load);
    reg.insert("FeatureVectorizer", feature_vectorizer::load);
    // Replaces tract-onnx's own: a constant condition inlines the taken branch.
    reg.insert("If", if_then_else::load);
    reg.insert("Imputer", imputer::load);
    reg.insert("LabelEncoder", label_encoder::load);
    reg.insert("OneHotEncoder", one_hot_encoder::load);
    reg.insert("Scaler", scaler::load);
    reg.insert("SVMClassifier", svm::load_classifier);
    reg.insert("SVMRegressor", svm::load_regressor);
    reg.insert("TreeEnsembleRegressor", tree_ensemble_regressor::load);
    // Replaces tract-onnx's own, which gets every binary classifier's label wrong.
    reg.insert("TreeEnsembleClassifier", tree_ensemble_classifier::load);
    reg.insert("ZipMap", zip_map);
}

type Loaded = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// The version of `ai.onnx.ml` the model imports (1 when it does not say).
fn ml_opset(ctx: &ParsingContext) -> i64 {
    ctx.model
        .opset_import
        .iter()
        .find(|o| o.domain == "ai.onnx.ml")
        .map(|o| o.version)
        .unwrap_or(1)
}

/// An error naming the node and its operator, for what edgeinfer refuses on purpose.
fn refuse<T>(node: &NodeProto, why: impl std::fmt::Display) -> TractResult<T> {
    bail!(
        "{} `{}` (ai.onnx.ml) is not supported: {why}",
        node.op_type,
        node.name
    )
}

/// Strings cannot cross edgeinfer's interface (WIT tensors carry numbers), and the NNEF form
/// has no string tensors: refuse an operator that needs them.
fn refuse_strings<T>(node: &NodeProto, attr: &str) -> TractResult<T> {
    refuse(
        node,
        format!(
            "it uses string values (`{attr}`); edgeinfer tensors carry numbers only, so encode \
             the strings as integers before exporting (e.g. an OrdinalEncoder in the pipeline)"
        ),
    )
}

/// `ZipMap` (skl2onnx's default classifier output) makes a sequence of maps, which neither
/// tract nor edgeinfer's tensors hold: say so, and how to export without it.
fn zip_map(_ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    refuse(
        node,
        "it outputs a sequence of maps (class -> probability), which edgeinfer tensors cannot \
         hold; export the classifier without it (skl2onnx: options={'zipmap': False}, \
         onnxmltools: zipmap=False) to get the probabilities as a [N, classes] tensor",
    )
}

/// A float list attribute, or its `<name>_as_tensor` form (doubles in newer opsets), as f32.
fn floats_attr(
    ctx: &ParsingContext,
    node: &NodeProto,
    name: &str,
) -> TractResult<Option<Vec<f32>>> {
    if let Some(v) = node.get_attr_opt_vec::<f32>(name)? {
        return Ok(Some(v));
    }
    let tensor_name = format!("{name}_as_tensor");
    if let Some(proto) = node.get_attr_opt::<&tract_onnx::pb::TensorProto>(&tensor_name)? {
        let t = ctx.load_tensor(proto)?.cast_to::<f32>()?.into_owned();
        return Ok(Some(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()));
    }
    Ok(None)
}

/// The post transforms of the classifiers and regressors (`post_transform` attribute).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PostTransform {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

fn post_transform(node: &NodeProto) -> TractResult<PostTransform> {
    match node
        .get_attr_opt::<&str>("post_transform")?
        .unwrap_or("NONE")
    {
        "NONE" => Ok(PostTransform::None),
        "LOGISTIC" => Ok(PostTransform::Logistic),
        "SOFTMAX" => Ok(PostTransform::Softmax),
        "SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
        "PROBIT" => refuse(node, "post_transform PROBIT is not implemented"),
        other => refuse(node, format!("unknown post_transform {other:?}")),
    }
}

fn binary(op: Box<dyn tract_onnx::tract_hir::tract_core::ops::binary::BinMiniOp>) -> TypedBinOp {
    TypedBinOp(op, None)
}

/// Wires a binary op, adding leading unit axes to the lower-rank input.
fn wire_bin(
    model: &mut TypedModel,
    name: impl AsRef<str>,
    op: impl Into<Box<dyn TypedOp>>,
    a: OutletId,
    b: OutletId,
) -> TractResult<OutletId> {
    Ok(wire_with_rank_broadcast(name.as_ref(), model, op, &[a, b])?[0])
}

/// A constant of `values`' type broadcastable against `[N, len]` (shape `[1, len]`).
fn row_const(
    model: &mut TypedModel,
    name: impl Into<String>,
    values: Tensor,
) -> TractResult<OutletId> {
    let len = values.len();
    model.add_const(name, values.into_shape(&[1, len])?)
}

fn wire_cast(
    model: &mut TypedModel,
    name: impl Into<String>,
    x: OutletId,
    to: DatumType,
) -> TractResult<OutletId> {
    if model.outlet_fact(x)?.datum_type == to {
        return Ok(x);
    }
    Ok(model.wire_node(
        name,
        tract_onnx::tract_hir::tract_core::ops::cast::cast(to),
        &[x],
    )?[0])
}

/// `[F]` becomes `[1, F]` (onnxruntime reads a 1-D input of the ML operators as one row).
fn wire_as_rows(
    model: &mut TypedModel,
    name: impl Into<String>,
    x: OutletId,
) -> TractResult<OutletId> {
    if model.outlet_fact(x)?.rank() == 1 {
        return Ok(model.wire_node(name, AxisOp::Add(0), &[x])?[0]);
    }
    Ok(x)
}

/// Output axis 0 has the rows of the input (`[F]` is one row).
fn rows_rule<'r>(
    s: &mut Solver<'r>,
    input: &'r TensorProxy,
    output: &'r TensorProxy,
) -> InferenceResult {
    s.given(&input.rank, move |s, rank| {
        if rank == 1 {
            s.equals(&output.shape[0], 1.to_dim())
        } else {
            s.equals(&output.shape[0], &input.shape[0])
        }
    })
}

/// Post transform over axis 1 of `[N, K]` scores, as onnxruntime's `ComputeSoftmax`,
/// `ComputeSoftmaxZero` and `ComputeLogistic` compute them.
fn wire_post_transform(
    model: &mut TypedModel,
    prefix: &str,
    scores: OutletId,
    transform: PostTransform,
) -> TractResult<OutletId> {
    use tract_onnx::tract_hir::tract_core::ops::{logic, math, nn};
    Ok(match transform {
        PostTransform::None => scores,
        PostTransform::Logistic => {
            model.wire_node(format!("{prefix}.logistic"), nn::sigmoid(), &[scores])?[0]
        }
        PostTransform::Softmax => model.wire_node(
            format!("{prefix}.softmax"),
            nn::Softmax {
                axes: tvec!(1),
                ..nn::Softmax::default()
            },
            &[scores],
        )?[0],
        PostTransform::SoftmaxZero => {
            // Values within 1e-7 of zero stay (nearly) zero and are left out of the sum:
            // v -> |v| > 1e-7 ? exp(v - max) : v * exp(-max), then divided by the sum of the
            // exponentiated ones.
            let max = model.wire_node(
                format!("{prefix}.softmax_zero.max"),
                nn::Reduce::new(tvec!(1), nn::Reducer::Max),
                &[scores],
            )?[0];
            let shifted = wire_bin(
                model,
                format!("{prefix}.softmax_zero.shifted"),
                math::sub(),
                scores,
                max,
            )?;
            let exp = model.wire_node(
                format!("{prefix}.softmax_zero.exp"),
                math::exp(),
                &[shifted],
            )?[0];
            let neg_max = model.wire_node(
                format!("{prefix}.softmax_zero.neg_max"),
                math::neg(),
                &[max],
            )?[0];
            let exp_neg_max = model.wire_node(
                format!("{prefix}.softmax_zero.exp_neg_max"),
                math::exp(),
                &[neg_max],
            )?[0];
            let tiny = wire_bin(
                model,
                format!("{prefix}.softmax_zero.tiny"),
                math::mul(),
                scores,
                exp_neg_max,
            )?;
            let abs =
                model.wire_node(format!("{prefix}.softmax_zero.abs"), math::abs(), &[scores])?[0];
            let eps =
                model.add_const(format!("{prefix}.softmax_zero.eps"), tensor2(&[[1e-7f32]]))?;
            let nonzero = wire_bin(
                model,
                format!("{prefix}.softmax_zero.nonzero"),
                binary(logic::comp_gt()),
                abs,
                eps,
            )?;
            let zero =
                model.add_const(format!("{prefix}.softmax_zero.zero"), tensor2(&[[0f32]]))?;
            let counted = model.wire_node(
                format!("{prefix}.softmax_zero.counted"),
                logic::Iff,
                &[nonzero, exp, zero],
            )?[0];
            let sum = model.wire_node(
                format!("{prefix}.softmax_zero.sum"),
                nn::Reduce::new(tvec!(1), nn::Reducer::Sum),
                &[counted],
            )?[0];
            let values = model.wire_node(
                format!("{prefix}.softmax_zero.values"),
                logic::Iff,
                &[nonzero, exp, tiny],
            )?[0];
            wire_bin(
                model,
                format!("{prefix}.softmax_zero.normalized"),
                math::div(),
                values,
                sum,
            )?
        }
    })
}
