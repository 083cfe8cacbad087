//! `TreeEnsembleRegressor` (ai.onnx.ml opsets 1 and 3; what every tree regressor of skl2onnx,
//! onnxmltools' LightGBM and XGBoost converters becomes), decomposed the way tract-onnx wires
//! its own `TreeEnsembleClassifier`: tract-onnx-opl's tree ensemble op (already in the guest,
//! with its NNEF form) whose "classes" are the targets, then base values, averaging and the post
//! transform as core ops. The attribute parsing re-implements tract-onnx's (private)
//! `parse_nodes_data` (sonos/tract, `onnx/src/ops/ml/tree_ensemble_classifier.rs`, MIT/Apache-2.0),
//! with these changes so results match onnxruntime (`tree_ensemble_common.h`,
//! `tree_ensemble_aggregator.h`):
//!
//! - the aggregate attribute is `aggregate_function` (tract-onnx's parser reads `aggregate`);
//!   `AVERAGE` divides the sum by the number of trees (tract's own average divides by the
//!   number of contributions); `MIN`/`MAX` are refused (tract's kernel starts them at 0);
//! - `BRANCH_GTE` becomes `BRANCH_LT` with the branches swapped (tract 0.23 decodes its
//!   comparator 6 as a leaf), the NaN direction swapped with them;
//! - `BRANCH_NEQ` sends NaN to the true branch (`NaN != v` holds in onnxruntime);
//! - node ids are looked up, not assumed dense, and a tree's root is its first node listed;
//! - `*_as_tensor` (double) thresholds, weights and base values are read, as f32;
//! - one target: `base_values[0]` is added when there is exactly one, and only `PROBIT` would
//!   apply (onnxruntime ignores LOGISTIC/SOFTMAX there); several targets: `base_values` are
//!   added when there is one per target, then the post transform.
//!
//! Inputs are compared in f32: a double input is cast first. onnxruntime compares doubles in
//! double, so a double value within half an f32 ulp of a threshold can take the other branch.

use super::*;
use std::collections::HashMap;
use tract_onnx::tract_hir::tract_core::ops::math;
use tract_onnx_opl::ml::tree::{Aggregate, Cmp, TreeEnsemble, TreeEnsembleData};
use tract_onnx_opl::ml::tree_ensemble_classifier::TreeEnsembleClassifier as TreeEnsembleOp;

#[derive(Debug, Clone)]
struct TreeEnsembleRegressor {
    ensemble: TreeEnsemble,
    n_trees: usize,
    average: bool,
    base_values: Option<Vec<f32>>,
    post_transform: PostTransform,
}

fn ints(node: &NodeProto, name: &str, n: usize) -> TractResult<Vec<i64>> {
    let v: Vec<i64> = node.get_attr_opt_vec(name)?.unwrap_or_default();
    if v.len() != n {
        return refuse(node, format!("{name} has {} values, expected {n}", v.len()));
    }
    Ok(v)
}

fn floats(ctx: &ParsingContext, node: &NodeProto, name: &str, n: usize) -> TractResult<Vec<f32>> {
    let v = floats_attr(ctx, node, name)?.unwrap_or_default();
    if v.len() != n {
        return refuse(node, format!("{name} has {} values, expected {n}", v.len()));
    }
    Ok(v)
}

/// Builds tract's tree encoding (see `tract_onnx_opl::ml::tree::TreeEnsembleData`) from the
/// `nodes_*` and `<leaf>_*` attributes. Returns the ensemble and its number of trees.
fn parse_ensemble(
    ctx: &ParsingContext,
    node: &NodeProto,
    leaf: &str,
    n_targets: usize,
    aggregate: Aggregate,
) -> TractResult<(TreeEnsemble, usize)> {
    let modes: TVec<&str> = node.get_attr_opt_tvec("nodes_modes")?.unwrap_or_default();
    let n = modes.len();
    if n == 0 {
        return refuse(node, "nodes_modes is missing or empty");
    }
    let tree_ids = ints(node, "nodes_treeids", n)?;
    let node_ids = ints(node, "nodes_nodeids", n)?;
    let feature_ids = ints(node, "nodes_featureids", n)?;
    let true_ids = ints(node, "nodes_truenodeids", n)?;
    let false_ids = ints(node, "nodes_falsenodeids", n)?;
    let values = floats(ctx, node, "nodes_values", n)?;
    let tracks: Vec<i64> = match node.get_attr_opt_vec::<i64>("nodes_missing_value_tracks_true")? {
        Some(v) if !v.is_empty() => {
            if v.len() != n {
                return refuse(node, format!("nodes_missing_value_tracks_true has {} values, expected {n}", v.len()));
            }
            v
        }
        _ => vec![0; n],
    };
    let leaf_ids: Vec<i64> = node.get_attr_opt_vec(&format!("{leaf}_ids"))?.unwrap_or_default();
    let m = leaf_ids.len();
    let leaf_node_ids = ints(node, &format!("{leaf}_nodeids"), m)?;
    let leaf_tree_ids = ints(node, &format!("{leaf}_treeids"), m)?;
    let leaf_weights = floats(ctx, node, &format!("{leaf}_weights"), m)?;

    // Rows sorted by (tree, node); a node is found by its ids.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (tree_ids[i], node_ids[i]));
    let mut row_of = HashMap::new();
    for (row, &i) in order.iter().enumerate() {
        if row_of.insert((tree_ids[i], node_ids[i]), row as u32).is_some() {
            return refuse(node, format!("node {} of tree {} is listed twice", node_ids[i], tree_ids[i]));
        }
    }
    // Roots: the first node listed of each tree, as onnxruntime takes them.
    let roots: Vec<u32> = (0..n)
        .filter(|&i| i == 0 || tree_ids[i] != tree_ids[i - 1])
        .map(|i| row_of[&(tree_ids[i], node_ids[i])])
        .collect();

    let mut weights_of: Vec<Vec<(u32, f32)>> = vec![vec![]; n];
    for l in 0..m {
        let Some(&row) = row_of.get(&(leaf_tree_ids[l], leaf_node_ids[l])) else {
            return refuse(
                node,
                format!("a weight names node {} of tree {}, which does not exist", leaf_node_ids[l], leaf_tree_ids[l]),
            );
        };
        if leaf_ids[l] < 0 || leaf_ids[l] as usize >= n_targets {
            return refuse(node, format!("a weight names target {} of {n_targets}", leaf_ids[l]));
        }
        weights_of[row as usize].push((leaf_ids[l] as u32, leaf_weights[l]));
    }

    let mut nodes: Vec<u32> = Vec::with_capacity(n * 5);
    let mut leaves: Vec<u32> = vec![];
    let mut max_used_feature = 0usize;
    for (row, &i) in order.iter().enumerate() {
        let tracks_true = tracks[i] != 0;
        let (cmp, swap, nan_is_true) = match modes[i] {
            "LEAF" => {
                let start = leaves.len() as u32 / 2;
                for (target, weight) in &weights_of[row] {
                    leaves.push(*target);
                    leaves.push(weight.to_bits());
                }
                nodes.extend([start, leaves.len() as u32 / 2, 0, 0, 0]);
                continue;
            }
            "BRANCH_LEQ" => (Cmp::LessEqual, false, tracks_true),
            "BRANCH_LT" => (Cmp::Less, false, tracks_true),
            "BRANCH_GT" => (Cmp::Greater, false, tracks_true),
            "BRANCH_GTE" => (Cmp::Less, true, !tracks_true),
            "BRANCH_EQ" => (Cmp::Equal, false, tracks_true),
            "BRANCH_NEQ" => (Cmp::NotEqual, false, true),
            other => return refuse(node, format!("node mode {other:?} is not supported")),
        };
        let child = |id: i64| {
            row_of.get(&(tree_ids[i], id)).copied().ok_or_else(|| {
                format_err!("{} `{}`: node {} of tree {} points to missing node {id}", node.op_type, node.name, node_ids[i], tree_ids[i])
            })
        };
        let (mut t, mut f) = (child(true_ids[i])?, child(false_ids[i])?);
        if swap {
            std::mem::swap(&mut t, &mut f);
        }
        if feature_ids[i] < 0 {
            return refuse(node, format!("negative feature id {}", feature_ids[i]));
        }
        max_used_feature = max_used_feature.max(feature_ids[i] as usize);
        nodes.extend([feature_ids[i] as u32, t, f, values[i].to_bits(), (0x100 * nan_is_true as u32) | cmp as u32]);
    }
    let n_trees = roots.len();
    let data = TreeEnsembleData {
        trees: rctensor1(&roots),
        nodes: tensor1(&nodes).into_shape(&[n, 5])?.into_arc_tensor(),
        leaves: tensor1(&leaves).into_shape(&[leaves.len() / 2, 2])?.into_arc_tensor(),
    };
    Ok((TreeEnsemble::build(data, max_used_feature, n_targets, aggregate)?, n_trees))
}

pub(super) fn load(ctx: &ParsingContext, node: &NodeProto) -> Loaded {
    let n_targets: i64 = node.get_attr_opt("n_targets")?.unwrap_or(0);
    if n_targets < 1 {
        return refuse(node, "n_targets must be at least 1");
    }
    let n_targets = n_targets as usize;
    let average = match node.get_attr_opt::<&str>("aggregate_function")?.unwrap_or("SUM") {
        "SUM" => false,
        "AVERAGE" => true,
        other => return refuse(node, format!("aggregate_function {other} is not implemented (SUM and AVERAGE are)")),
    };
    let post_transform = post_transform(node)?;
    let base_values = floats_attr(ctx, node, "base_values")?.filter(|b| !b.is_empty());
    let (ensemble, n_trees) = parse_ensemble(ctx, node, "target", n_targets, Aggregate::Sum)?;
    Ok((expand(TreeEnsembleRegressor { ensemble, n_trees, average, base_values, post_transform }), vec![]))
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
        s.equals(&outputs[0].shape[1], self.ensemble.n_classes().to_dim())?;
        rows_rule(s, &inputs[0], &outputs[0])
    }

    fn wire(&self, prefix: &str, model: &mut TypedModel, inputs: &[OutletId]) -> TractResult<TVec<OutletId>> {
        let n_targets = self.ensemble.n_classes();
        let x = wire_cast(model, format!("{prefix}.to_f32"), inputs[0], f32::datum_type())?;
        let x = wire_as_rows(model, format!("{prefix}.as_rows"), x)?;
        let features = model.outlet_fact(x)?.shape[1].clone();
        if let Ok(f) = features.to_usize() {
            self.ensemble.check_n_features(f)?;
        }
        let mut y = model.wire_node(
            format!("{prefix}.trees"),
            TreeEnsembleOp { ensemble: self.ensemble.clone() },
            &[x],
        )?[0];
        if self.average {
            let n = model.add_const(format!("{prefix}.n_trees"), tensor2(&[[self.n_trees as f32]]))?;
            y = wire_bin(model, format!("{prefix}.average"), math::div(), y, n)?;
        }
        let base = match &self.base_values {
            Some(b) if n_targets == 1 && b.len() == 1 => Some(b.clone()),
            Some(b) if n_targets > 1 && b.len() == n_targets => Some(b.clone()),
            _ => None,
        };
        if let Some(base) = base {
            let base = row_const(model, format!("{prefix}.base_values"), tensor1(&base))?;
            y = wire_bin(model, format!("{prefix}.add_base_values"), math::add(), y, base)?;
        }
        if n_targets > 1 {
            y = wire_post_transform(model, prefix, y, self.post_transform)?;
        }
        Ok(tvec!(y))
    }
}
