//! Reading the `nodes_*` and `target_*`/`class_*` attributes of the tree ensembles into
//! [`crate::nnef::TreeEnsemble`]. Follows tract-onnx's (private) `parse_nodes_data` (sonos/tract,
//! `onnx/src/ops/ml/tree_ensemble_classifier.rs`, MIT/Apache-2.0) with these changes, so that
//! results match onnxruntime (`tree_ensemble_common.h`):
//!
//! - every `BRANCH_*` mode is kept as it is (tract 0.23 decodes `BRANCH_GTE` as a leaf);
//! - `BRANCH_NEQ` sends NaN to the true branch (`NaN != v` holds in onnxruntime);
//! - node ids are looked up, not assumed dense, and a tree's root is its first node listed;
//! - `*_as_tensor` (double) thresholds and weights are read, as f32.

use super::*;
use crate::nnef::tree_ensemble::{Aggregate, Mode, Node, TreeEnsemble, Weight};
use std::collections::HashMap;

/// What the parse tells besides the ensemble.
pub(super) struct Parsed {
    pub(super) ensemble: TreeEnsemble,
    /// Per target or class: some leaf gives it a weight (onnxruntime's `has_score`, which it
    /// tracks per row; a converter gives every leaf of a tree the same targets).
    pub(super) scored: Vec<bool>,
    /// Every leaf weight is >= 0.
    pub(super) weights_all_positive: bool,
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

/// Builds the ensemble from the `nodes_*` and `<leaf>_*` attributes; its nodes are sorted by
/// (tree id, node id).
pub(super) fn parse_ensemble(
    ctx: &ParsingContext,
    node: &NodeProto,
    leaf: &str,
    n_targets: usize,
    aggregate: Aggregate,
) -> TractResult<Parsed> {
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
                return refuse(
                    node,
                    format!(
                        "nodes_missing_value_tracks_true has {} values, expected {n}",
                        v.len()
                    ),
                );
            }
            v
        }
        _ => vec![0; n],
    };
    let leaf_ids: Vec<i64> = node
        .get_attr_opt_vec(&format!("{leaf}_ids"))?
        .unwrap_or_default();
    let m = leaf_ids.len();
    let leaf_node_ids = ints(node, &format!("{leaf}_nodeids"), m)?;
    let leaf_tree_ids = ints(node, &format!("{leaf}_treeids"), m)?;
    let leaf_weights = floats(ctx, node, &format!("{leaf}_weights"), m)?;

    // Rows sorted by (tree, node); a node is found by its ids.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (tree_ids[i], node_ids[i]));
    let mut row_of = HashMap::new();
    for (row, &i) in order.iter().enumerate() {
        if row_of
            .insert((tree_ids[i], node_ids[i]), row as u32)
            .is_some()
        {
            return refuse(
                node,
                format!(
                    "node {} of tree {} is listed twice",
                    node_ids[i], tree_ids[i]
                ),
            );
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
                format!(
                    "a weight names node {} of tree {}, which does not exist",
                    leaf_node_ids[l], leaf_tree_ids[l]
                ),
            );
        };
        if leaf_ids[l] < 0 || leaf_ids[l] as usize >= n_targets {
            return refuse(
                node,
                format!("a weight names target {} of {n_targets}", leaf_ids[l]),
            );
        }
        weights_of[row as usize].push((leaf_ids[l] as u32, leaf_weights[l]));
    }

    let mut nodes: Vec<Node> = Vec::with_capacity(n);
    let mut weights: Vec<Weight> = vec![];
    for (row, &i) in order.iter().enumerate() {
        let tracks_true = tracks[i] != 0;
        let (mode, nan_is_true) = match modes[i] {
            "LEAF" => {
                let start = weights.len() as u32;
                weights.extend(
                    weights_of[row]
                        .iter()
                        .map(|&(target, value)| Weight { target, value }),
                );
                nodes.push(Node::Leaf {
                    start,
                    end: weights.len() as u32,
                });
                continue;
            }
            "BRANCH_LEQ" => (Mode::Leq, tracks_true),
            "BRANCH_LT" => (Mode::Lt, tracks_true),
            "BRANCH_GT" => (Mode::Gt, tracks_true),
            "BRANCH_GTE" => (Mode::Gte, tracks_true),
            "BRANCH_EQ" => (Mode::Eq, tracks_true),
            "BRANCH_NEQ" => (Mode::Neq, true),
            other => return refuse(node, format!("node mode {other:?} is not supported")),
        };
        let child = |id: i64| {
            row_of.get(&(tree_ids[i], id)).copied().ok_or_else(|| {
                format_err!(
                    "{} `{}`: node {} of tree {} points to missing node {id}",
                    node.op_type,
                    node.name,
                    node_ids[i],
                    tree_ids[i]
                )
            })
        };
        if feature_ids[i] < 0 || feature_ids[i] > u32::MAX as i64 {
            return refuse(node, format!("feature id {}", feature_ids[i]));
        }
        nodes.push(Node::Branch {
            mode,
            feature: feature_ids[i] as u32,
            value: values[i],
            nan_is_true,
            true_child: child(true_ids[i])?,
            false_child: child(false_ids[i])?,
        });
    }
    let mut scored = vec![false; n_targets];
    for id in &leaf_ids {
        scored[*id as usize] = true;
    }
    let ensemble = TreeEnsemble::new(&roots, &nodes, &weights, n_targets, aggregate)
        .map_err(|e| format_err!("{} `{}`: {e}", node.op_type, node.name))?;
    Ok(Parsed {
        ensemble,
        scored,
        weights_all_positive: leaf_weights.iter().all(|w| *w >= 0.0),
    })
}
