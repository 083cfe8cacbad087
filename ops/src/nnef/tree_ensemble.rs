//! The tree ensemble evaluator behind `TreeEnsembleRegressor` and `TreeEnsembleClassifier`:
//! `[N, F]` f32 rows in, `[N, K]` f32 per-target (per-class) sums or averages out.
//!
//! It replaces tract-onnx-opl's `TreeEnsembleClassifier` op, whose kernel
//! (`tract-onnx-opl/src/ml/tree.rs`, `eval_unchecked`) reaches a leaf's weights with
//! `leaves.outer_iter().skip(start)`: ndarray's axis iterator has no `nth`, so every visited
//! leaf walks the weight table from its start, building a view per row. A 50-tree forest spent
//! milliseconds per row there. Here the trees are flat arrays indexed directly:
//!
//! - a node is 16 bytes (threshold, feature with the comparison and NaN flag in its top byte,
//!   the two children); a leaf is a node whose children are itself, so a row can take a fixed
//!   number of steps (the tree's depth) without testing whether it has arrived;
//! - the loop runs tree by tree (a tree's nodes stay in cache) over blocks of rows that descend
//!   together (independent loads overlap);
//! - each row adds its leaves' weights tree after tree, in the weights' order, starting at 0:
//!   the order tract-onnx-opl's kernel adds them (same bits).
//!
//! The comparisons are ONNX's `BRANCH_*` modes with the node's value on the right; a NaN
//! feature goes where the node's NaN flag says (onnxruntime's `missing_value_tracks_true`,
//! which the loader sets for `BRANCH_NEQ`, where onnxruntime's `NaN != v` holds).

use std::hash::{Hash, Hasher};
use tract_nnef::internal::*;

const NAME: &str = "edgeinfer_ml_tree_ensemble";

/// How a branch node compares the row's feature `x` with its value `v`: true goes to the
/// node's true child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mode {
    /// `x <= v`
    Leq = 1,
    /// `x < v`
    Lt = 2,
    /// `x >= v`
    Gte = 3,
    /// `x > v`
    Gt = 4,
    /// `x == v`
    Eq = 5,
    /// `x != v`
    Neq = 6,
}

impl Mode {
    fn from_u8(m: u8) -> Option<Mode> {
        Some(match m {
            1 => Mode::Leq,
            2 => Mode::Lt,
            3 => Mode::Gte,
            4 => Mode::Gt,
            5 => Mode::Eq,
            6 => Mode::Neq,
            _ => return None,
        })
    }
}

/// What the per-row weights become: their sum, or their sum divided by the number of trees
/// (onnxruntime's `AVERAGE`; tract-onnx-opl's divides by the number of weights added).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Aggregate {
    Sum,
    Average,
}

impl Aggregate {
    fn as_str(&self) -> &'static str {
        match self {
            Aggregate::Sum => "SUM",
            Aggregate::Average => "AVERAGE",
        }
    }
}

/// One node, as the loader describes it. Node and weight indices are positions in the
/// ensemble's `nodes` and `weights` lists.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Node {
    Branch {
        mode: Mode,
        feature: u32,
        value: f32,
        /// Where a NaN feature goes: to the true child when set, else to the false one,
        /// whatever the mode.
        nan_is_true: bool,
        true_child: u32,
        false_child: u32,
    },
    /// Adds `weights[start..end]` to the row's targets.
    Leaf { start: u32, end: u32 },
}

/// A weight a leaf adds to one target (class).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Weight {
    pub target: u32,
    pub value: f32,
}

/// The NNEF form, flat arrays (see [`TreeEnsemble::new`] for their meaning); node `i` is
/// `(modes[i], features[i], values[i], true_ids[i], false_ids[i])`, a leaf has mode 0 and its
/// weight range in `true_ids`/`false_ids`; bit 7 of a mode is the NaN flag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Arrays {
    roots: Arc<Tensor>,
    modes: Arc<Tensor>,
    features: Arc<Tensor>,
    values: Arc<Tensor>,
    true_ids: Arc<Tensor>,
    false_ids: Arc<Tensor>,
    weight_targets: Arc<Tensor>,
    weight_values: Arc<Tensor>,
}

const NAN_IS_TRUE: u8 = 0x80;

/// A node of the evaluator: 16 bytes. `flags_feature`: feature in the low 24 bits, mode in
/// bits 24..27 (0 for a leaf), NaN flag in bit 31. `next[1]` is the true child; a leaf's
/// children are itself (and its feature 0).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Packed {
    value: f32,
    flags_feature: u32,
    next: [u32; 2],
}

const FEATURE_BITS: u32 = 24;
const FEATURE_MASK: u32 = (1 << FEATURE_BITS) - 1;
const NAN_BIT: u32 = 1 << 31;

/// Sums (or averages) the weights of the leaves each row reaches, one tree after another.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    arrays: Arrays,
    n_targets: usize,
    aggregate: Aggregate,
    // The evaluator's form, derived from `arrays`.
    nodes: Vec<Packed>,
    /// Per tree: root node, number of steps that reaches a leaf from it on any path.
    trees: Vec<(u32, u32)>,
    /// Per node: its weights (empty for branches).
    leaf_weights: Vec<(u32, u32)>,
    weights: Vec<Weight>,
    /// Every branch compares the same way (the evaluator then reads no mode).
    uniform_mode: Option<Mode>,
    /// The largest feature index a branch reads.
    max_feature: Option<usize>,
}

impl PartialEq for TreeEnsemble {
    fn eq(&self, other: &Self) -> bool {
        self.arrays == other.arrays
            && self.n_targets == other.n_targets
            && self.aggregate == other.aggregate
    }
}

impl Eq for TreeEnsemble {}

impl Hash for TreeEnsemble {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.arrays.hash(state);
        self.n_targets.hash(state);
        self.aggregate.hash(state);
    }
}

fn slice<T: Datum>(t: &Tensor) -> TractResult<&[T]> {
    ensure!(
        t.datum_type() == T::datum_type(),
        "{NAME}: expected {:?} tensor, got {:?}",
        T::datum_type(),
        t.datum_type()
    );
    ensure!(
        t.rank() == 1,
        "{NAME}: expected a 1-D tensor, got {:?}",
        t.shape()
    );
    t.try_as_plain_ram()?.as_slice::<T>()
}

impl TreeEnsemble {
    /// An ensemble of `roots.len()` trees over `nodes` (each tree's nodes reachable from its
    /// root; trees may not share nodes with cycles), whose leaves add `weights` to `n_targets`
    /// targets.
    pub fn new(
        roots: &[u32],
        nodes: &[Node],
        weights: &[Weight],
        n_targets: usize,
        aggregate: Aggregate,
    ) -> TractResult<TreeEnsemble> {
        let n = nodes.len();
        let mut modes = Vec::with_capacity(n);
        let mut features = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut true_ids = Vec::with_capacity(n);
        let mut false_ids = Vec::with_capacity(n);
        for node in nodes {
            match *node {
                Node::Branch {
                    mode,
                    feature,
                    value,
                    nan_is_true,
                    true_child,
                    false_child,
                } => {
                    modes.push(mode as u8 | if nan_is_true { NAN_IS_TRUE } else { 0 });
                    features.push(feature);
                    values.push(value);
                    true_ids.push(true_child);
                    false_ids.push(false_child);
                }
                Node::Leaf { start, end } => {
                    modes.push(0u8);
                    features.push(0);
                    values.push(0f32);
                    true_ids.push(start);
                    false_ids.push(end);
                }
            }
        }
        let arrays = Arrays {
            roots: rctensor1(roots),
            modes: rctensor1(&modes),
            features: rctensor1(&features),
            values: rctensor1(&values),
            true_ids: rctensor1(&true_ids),
            false_ids: rctensor1(&false_ids),
            weight_targets: rctensor1(&weights.iter().map(|w| w.target).collect::<Vec<_>>()),
            weight_values: rctensor1(&weights.iter().map(|w| w.value).collect::<Vec<_>>()),
        };
        TreeEnsemble::from_arrays(arrays, n_targets, aggregate)
    }

    /// Checks the arrays (they may come from an NNEF file) and builds the evaluator's form.
    fn from_arrays(
        arrays: Arrays,
        n_targets: usize,
        aggregate: Aggregate,
    ) -> TractResult<TreeEnsemble> {
        let roots = slice::<u32>(&arrays.roots)?;
        let modes = slice::<u8>(&arrays.modes)?;
        let features = slice::<u32>(&arrays.features)?;
        let values = slice::<f32>(&arrays.values)?;
        let true_ids = slice::<u32>(&arrays.true_ids)?;
        let false_ids = slice::<u32>(&arrays.false_ids)?;
        let weight_targets = slice::<u32>(&arrays.weight_targets)?;
        let weight_values = slice::<f32>(&arrays.weight_values)?;
        let n = modes.len();
        ensure!(
            [
                features.len(),
                values.len(),
                true_ids.len(),
                false_ids.len()
            ]
            .iter()
            .all(|l| *l == n),
            "{NAME}: node arrays of different lengths"
        );
        ensure!(
            weight_targets.len() == weight_values.len(),
            "{NAME}: weight arrays of different lengths"
        );
        ensure!(n < (1 << 31), "{NAME}: too many nodes");
        ensure!(n_targets > 0, "{NAME}: no target");
        let weights: Vec<Weight> = weight_targets
            .iter()
            .zip(weight_values)
            .map(|(&target, &value)| {
                ensure!(
                    (target as usize) < n_targets,
                    "{NAME}: a weight names target {target} of {n_targets}"
                );
                Ok(Weight { target, value })
            })
            .collect::<TractResult<_>>()?;
        let mut nodes = Vec::with_capacity(n);
        let mut leaf_weights = Vec::with_capacity(n);
        let mut uniform_mode = None;
        let mut mixed = false;
        let mut max_feature = None;
        for i in 0..n {
            let flags = modes[i];
            if flags == 0 {
                let (start, end) = (true_ids[i], false_ids[i]);
                ensure!(
                    start <= end && end as usize <= weights.len(),
                    "{NAME}: leaf {i} has weights {start}..{end} of {}",
                    weights.len()
                );
                nodes.push(Packed {
                    value: 0.0,
                    flags_feature: 0,
                    next: [i as u32; 2],
                });
                leaf_weights.push((start, end));
                continue;
            }
            let mode = Mode::from_u8(flags & !NAN_IS_TRUE)
                .ok_or_else(|| format_err!("{NAME}: node {i} has an unknown mode {flags:#x}"))?;
            let feature = features[i];
            ensure!(
                feature <= FEATURE_MASK,
                "{NAME}: node {i} reads feature {feature}, beyond {FEATURE_MASK}"
            );
            for child in [true_ids[i], false_ids[i]] {
                ensure!(
                    (child as usize) < n,
                    "{NAME}: node {i} points to node {child} of {n}"
                );
            }
            match uniform_mode {
                None if !mixed => uniform_mode = Some(mode),
                Some(m) if m != mode => {
                    uniform_mode = None;
                    mixed = true;
                }
                _ => (),
            }
            max_feature = max_feature.max(Some(feature as usize));
            let nan = if flags & NAN_IS_TRUE != 0 { NAN_BIT } else { 0 };
            nodes.push(Packed {
                value: values[i],
                flags_feature: nan | (mode as u32) << FEATURE_BITS | feature,
                next: [false_ids[i], true_ids[i]],
            });
            leaf_weights.push((0, 0));
        }
        let depths = depths(&nodes)?;
        let trees = roots
            .iter()
            .map(|&root| {
                ensure!(
                    (root as usize) < n,
                    "{NAME}: a tree's root is node {root} of {n}"
                );
                Ok((root, depths[root as usize]))
            })
            .collect::<TractResult<_>>()?;
        Ok(TreeEnsemble {
            arrays,
            n_targets,
            aggregate,
            nodes,
            trees,
            leaf_weights,
            weights,
            uniform_mode: if mixed { None } else { uniform_mode },
            max_feature,
        })
    }

    pub fn n_targets(&self) -> usize {
        self.n_targets
    }

    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    pub fn aggregate(&self) -> Aggregate {
        self.aggregate
    }

    /// The largest feature index a branch reads (`None` when every tree is a leaf).
    pub fn max_feature(&self) -> Option<usize> {
        self.max_feature
    }

    /// The nodes, as [`TreeEnsemble::new`] took them.
    pub fn nodes(&self) -> Vec<Node> {
        (0..self.nodes.len())
            .map(|i| {
                let p = &self.nodes[i];
                let mode = (p.flags_feature >> FEATURE_BITS) as u8 & 0x7;
                match Mode::from_u8(mode) {
                    None => Node::Leaf {
                        start: self.leaf_weights[i].0,
                        end: self.leaf_weights[i].1,
                    },
                    Some(mode) => Node::Branch {
                        mode,
                        feature: p.flags_feature & FEATURE_MASK,
                        value: p.value,
                        nan_is_true: p.flags_feature & NAN_BIT != 0,
                        true_child: p.next[1],
                        false_child: p.next[0],
                    },
                }
            })
            .collect()
    }

    /// The roots of the trees.
    pub fn roots(&self) -> Vec<u32> {
        self.trees.iter().map(|t| t.0).collect()
    }

    pub fn weights(&self) -> &[Weight] {
        &self.weights
    }

    fn check_features(&self, n_features: usize) -> TractResult<()> {
        if let Some(f) = self.max_feature {
            ensure!(
                n_features > f,
                "{NAME}: the input has {n_features} features, the trees read feature #{f}"
            );
        }
        Ok(())
    }

    /// Evaluates `rows` (`n_features` values each, row-major) into `out` (`n_targets` per
    /// row), which it overwrites.
    pub fn eval_rows(&self, rows: &[f32], n_features: usize, out: &mut [f32]) -> TractResult<()> {
        self.check_features(n_features)?;
        let n_rows = out.len() / self.n_targets;
        ensure!(
            out.len() == n_rows * self.n_targets && rows.len() == n_rows * n_features,
            "{NAME}: {} input values, {} output values for {} features and {} targets",
            rows.len(),
            out.len(),
            n_features,
            self.n_targets
        );
        out.iter_mut().for_each(|o| *o = 0.0);
        if n_rows == 0 {
            return Ok(());
        }
        match self.uniform_mode {
            Some(Mode::Leq) => self.eval_blocks::<{ Mode::Leq as u8 }>(rows, n_features, out),
            Some(Mode::Lt) => self.eval_blocks::<{ Mode::Lt as u8 }>(rows, n_features, out),
            Some(Mode::Gte) => self.eval_blocks::<{ Mode::Gte as u8 }>(rows, n_features, out),
            Some(Mode::Gt) => self.eval_blocks::<{ Mode::Gt as u8 }>(rows, n_features, out),
            _ => self.eval_blocks::<MIXED>(rows, n_features, out),
        }
        if self.aggregate == Aggregate::Average {
            let n = self.trees.len() as f32;
            out.iter_mut().for_each(|o| *o /= n);
        }
        Ok(())
    }

    /// `BLOCK` lanes descend together, each a (tree, row) pair: one tree and `BLOCK` rows at a
    /// time ([`Self::eval_row_blocks`]), or with fewer rows, a few trees at a time
    /// ([`Self::eval_tree_blocks`]). A lane takes as many steps as the deepest of its block's
    /// trees (a leaf steps to itself). Each row then adds its leaves' weights in tree order.
    fn eval_blocks<const M: u8>(&self, rows: &[f32], n_features: usize, out: &mut [f32]) {
        let n_rows = out.len() / self.n_targets;
        if n_rows >= BLOCK {
            self.eval_row_blocks::<M>(rows, n_features, out)
        } else {
            self.eval_tree_blocks::<M>(rows, n_features, out)
        }
    }

    /// Tree after tree, `BLOCK` rows at a time.
    fn eval_row_blocks<const M: u8>(&self, rows: &[f32], n_features: usize, out: &mut [f32]) {
        let k = self.n_targets;
        let n_rows = out.len() / k;
        let nodes = &self.nodes[..];
        for &(root, depth) in &self.trees {
            let mut first = 0;
            while first < n_rows {
                let len = BLOCK.min(n_rows - first);
                let block = &rows[first * n_features..(first + len) * n_features];
                let mut at = [root; BLOCK];
                for _ in 0..depth {
                    for (r, at) in at[..len].iter_mut().enumerate() {
                        let node = &nodes[*at as usize];
                        let feature = (node.flags_feature & FEATURE_MASK) as usize;
                        let x = block[r * n_features + feature];
                        *at = node.next[goes_true::<M>(node, x) as usize];
                    }
                }
                for (r, at) in at[..len].iter().enumerate() {
                    let (start, end) = self.leaf_weights[*at as usize];
                    let o = &mut out[(first + r) * k..][..k];
                    for w in &self.weights[start as usize..end as usize] {
                        o[w.target as usize] += w.value;
                    }
                }
                first += len;
            }
        }
    }

    /// Fewer than `BLOCK` rows, `BLOCK / rows` trees at a time.
    fn eval_tree_blocks<const M: u8>(&self, rows: &[f32], n_features: usize, out: &mut [f32]) {
        let k = self.n_targets;
        let n_rows = out.len() / k;
        let nodes = &self.nodes[..];
        let trees_per_block = BLOCK / n_rows;
        for trees in self.trees.chunks(trees_per_block) {
            let depth = trees.iter().map(|t| t.1).max().unwrap_or(0);
            let lanes = trees.len() * n_rows;
            let mut at = [0u32; BLOCK];
            let mut row_at = [0usize; BLOCK];
            for (t, tree) in trees.iter().enumerate() {
                for r in 0..n_rows {
                    at[t * n_rows + r] = tree.0;
                    row_at[t * n_rows + r] = r * n_features;
                }
            }
            for _ in 0..depth {
                for (at, row_at) in at[..lanes].iter_mut().zip(&row_at[..lanes]) {
                    let node = &nodes[*at as usize];
                    let feature = (node.flags_feature & FEATURE_MASK) as usize;
                    let x = rows[row_at + feature];
                    *at = node.next[goes_true::<M>(node, x) as usize];
                }
            }
            for r in 0..n_rows {
                let o = &mut out[r * k..][..k];
                for t in 0..trees.len() {
                    let (start, end) = self.leaf_weights[at[t * n_rows + r] as usize];
                    for w in &self.weights[start as usize..end as usize] {
                        o[w.target as usize] += w.value;
                    }
                }
            }
        }
    }
}

/// Lanes (tree, row) that descend together.
const BLOCK: usize = 8;
/// `eval_blocks`' mode parameter when branches compare in different ways.
const MIXED: u8 = 0;

#[inline(always)]
fn goes_true<const M: u8>(node: &Packed, x: f32) -> bool {
    let mode = if M == MIXED {
        ((node.flags_feature >> FEATURE_BITS) & 0x7) as u8
    } else {
        M
    };
    let v = node.value;
    let c = match mode {
        1 => x <= v,
        2 => x < v,
        3 => x >= v,
        4 => x > v,
        5 => x == v,
        6 => x != v,
        // a leaf: either way is itself
        _ => false,
    };
    if x.is_nan() {
        node.flags_feature & NAN_BIT != 0
    } else {
        c
    }
}

/// The number of steps from each node to a leaf on its longest path; an error on a cycle.
fn depths(nodes: &[Packed]) -> TractResult<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    const OPEN: u32 = u32::MAX - 1;
    let mut depth = vec![UNSEEN; nodes.len()];
    let mut stack: Vec<u32> = vec![];
    for start in 0..nodes.len() {
        if depth[start] != UNSEEN {
            continue;
        }
        stack.push(start as u32);
        while let Some(&i) = stack.last() {
            let i = i as usize;
            let node = &nodes[i];
            if node.flags_feature >> FEATURE_BITS & 0x7 == 0 {
                depth[i] = 0;
                stack.pop();
                continue;
            }
            if depth[i] == UNSEEN {
                depth[i] = OPEN;
                for c in node.next {
                    match depth[c as usize] {
                        UNSEEN => stack.push(c),
                        OPEN => bail!("{NAME}: node {i} is its own descendant"),
                        _ => (),
                    }
                }
            } else {
                // children done
                let d = node
                    .next
                    .iter()
                    .map(|c| depth[*c as usize])
                    .max()
                    .unwrap_or(0);
                depth[i] = d + 1;
                stack.pop();
            }
        }
    }
    Ok(depth)
}

impl Op for TreeEnsemble {
    fn name(&self) -> StaticName {
        "TreeEnsemble".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let max_depth = self.trees.iter().map(|t| t.1).max().unwrap_or(0);
        Ok(vec![format!(
            "{} trees, {} nodes, max depth {max_depth}, {} targets, {}, {}",
            self.trees.len(),
            self.nodes.len(),
            self.n_targets,
            self.aggregate.as_str(),
            match self.uniform_mode {
                Some(m) => format!("all {m:?}"),
                None => "mixed modes".to_string(),
            }
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsemble {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        ensure!(
            input.rank() == 2,
            "{NAME}: input must be [rows, features], got {:?}",
            input.shape()
        );
        let (n, f) = (input.shape()[0], input.shape()[1]);
        let input = input.cast_to::<f32>()?;
        let rows = input.try_as_plain_ram()?;
        let rows = rows.as_slice::<f32>()?;
        let mut out = vec![0f32; n * self.n_targets];
        self.eval_rows(rows, f, &mut out)?;
        Ok(tvec!(
            tensor1(&out)
                .into_shape(&[n, self.n_targets])?
                .into_tvalue()
        ))
    }
}

impl TypedOp for TreeEnsemble {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].rank() == 2,
            "{NAME}: input must be [rows, features], got {:?}",
            inputs[0].shape
        );
        if let Ok(f) = inputs[0].shape[1].to_usize() {
            self.check_features(f)?;
        }
        Ok(tvec!(f32::fact([
            inputs[0].shape[0].clone(),
            self.n_targets.to_dim()
        ])))
    }

    as_op!();
}

pub(super) fn register(registry: &mut Registry) {
    registry.register_primitive(
        NAME,
        &[
            TypeName::Scalar.tensor().named("input"),
            TypeName::Integer.tensor().named("roots"),
            TypeName::Integer.tensor().named("modes"),
            TypeName::Integer.tensor().named("features"),
            TypeName::Scalar.tensor().named("values"),
            TypeName::Integer.tensor().named("true_ids"),
            TypeName::Integer.tensor().named("false_ids"),
            TypeName::Integer.tensor().named("weight_targets"),
            TypeName::Scalar.tensor().named("weight_values"),
            TypeName::Integer.named("n_targets"),
            TypeName::String.named("aggregate"),
        ],
        &[("output", TypeName::Scalar.tensor())],
        load,
    );
    registry.register_dumper(dump);
}

fn dump(
    ast: &mut IntoAst,
    node: &TypedNode,
    op: &TreeEnsemble,
) -> TractResult<Option<Arc<RValue>>> {
    let input = ast.mapping[&node.inputs[0]].clone();
    let a = &op.arrays;
    let mut args = vec![input];
    for (name, t) in [
        ("roots", &a.roots),
        ("modes", &a.modes),
        ("features", &a.features),
        ("values", &a.values),
        ("true_ids", &a.true_ids),
        ("false_ids", &a.false_ids),
        ("weight_targets", &a.weight_targets),
        ("weight_values", &a.weight_values),
    ] {
        args.push(ast.konst_variable(format!("{}.{name}", node.name), t)?);
    }
    Ok(Some(invocation(
        NAME,
        &args,
        &[
            ("n_targets", numeric(op.n_targets)),
            ("aggregate", string(op.aggregate.as_str())),
        ],
    )))
}

fn load(builder: &mut ModelBuilder, invocation: &ResolvedInvocation) -> TractResult<Value> {
    let input = invocation.named_arg_as(builder, "input")?;
    let mut arg =
        |name: &str| -> TractResult<Arc<Tensor>> { invocation.named_arg_as(builder, name) };
    let arrays = Arrays {
        roots: arg("roots")?,
        modes: arg("modes")?,
        features: arg("features")?,
        values: arg("values")?,
        true_ids: arg("true_ids")?,
        false_ids: arg("false_ids")?,
        weight_targets: arg("weight_targets")?,
        weight_values: arg("weight_values")?,
    };
    let n_targets: usize = invocation.named_arg_as(builder, "n_targets")?;
    let aggregate: String = invocation.named_arg_as(builder, "aggregate")?;
    let aggregate = match &*aggregate {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        other => bail!("{NAME}: unknown aggregate {other:?}"),
    };
    builder.wire(
        TreeEnsemble::from_arrays(arrays, n_targets, aggregate)?,
        &[input],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branch(mode: Mode, value: f32, nan_is_true: bool, t: u32, f: u32) -> Node {
        Node::Branch {
            mode,
            feature: 0,
            value,
            nan_is_true,
            true_child: t,
            false_child: f,
        }
    }

    fn leaf(w: u32) -> Node {
        Node::Leaf {
            start: w,
            end: w + 1,
        }
    }

    fn weights(n: u32) -> Vec<Weight> {
        (0..n)
            .map(|i| Weight {
                target: 0,
                value: (i + 1) as f32,
            })
            .collect()
    }

    fn run(e: &TreeEnsemble, xs: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; xs.len() * e.n_targets()];
        e.eval_rows(xs, 1, &mut out).unwrap();
        out
    }

    #[test]
    fn modes_and_nan() {
        let x = [0.5f32, 1.0, 1.5, f32::NAN];
        for (mode, want) in [
            (Mode::Leq, [1., 1., 2., 9.]),
            (Mode::Lt, [1., 2., 2., 9.]),
            (Mode::Gte, [2., 1., 1., 9.]),
            (Mode::Gt, [2., 2., 1., 9.]),
            (Mode::Eq, [2., 1., 2., 9.]),
            (Mode::Neq, [1., 2., 1., 9.]),
        ] {
            for nan_is_true in [false, true] {
                let nodes = [branch(mode, 1.0, nan_is_true, 1, 2), leaf(0), leaf(1)];
                let e = TreeEnsemble::new(&[0], &nodes, &weights(2), 1, Aggregate::Sum).unwrap();
                let mut want = want;
                want[3] = if nan_is_true { 1. } else { 2. };
                assert_eq!(run(&e, &x), want, "{mode:?} nan_is_true {nan_is_true}");
            }
        }
    }

    #[test]
    fn average_divides_by_trees_and_a_root_may_be_a_leaf() {
        let nodes = [
            branch(Mode::Leq, 0.0, false, 1, 2),
            leaf(0),
            leaf(1),
            leaf(2),
        ];
        let e = TreeEnsemble::new(&[0, 3], &nodes, &weights(3), 1, Aggregate::Average).unwrap();
        assert_eq!(run(&e, &[-1.0, 1.0]), [2.0, 2.5]);
    }

    #[test]
    fn refuses_cycles_and_dangling_ids() {
        let w = weights(1);
        let cycle = [
            branch(Mode::Leq, 0.0, false, 1, 2),
            branch(Mode::Leq, 0.0, false, 0, 2),
            leaf(0),
        ];
        assert!(TreeEnsemble::new(&[0], &cycle, &w, 1, Aggregate::Sum).is_err());
        let dangling = [branch(Mode::Leq, 0.0, false, 1, 7), leaf(0)];
        assert!(TreeEnsemble::new(&[0], &dangling, &w, 1, Aggregate::Sum).is_err());
        let bad_root = [leaf(0)];
        assert!(TreeEnsemble::new(&[1], &bad_root, &w, 1, Aggregate::Sum).is_err());
        let bad_weights = [Node::Leaf { start: 0, end: 2 }];
        assert!(TreeEnsemble::new(&[0], &bad_weights, &w, 1, Aggregate::Sum).is_err());
        let bad_target = [Weight {
            target: 1,
            value: 1.0,
        }];
        assert!(TreeEnsemble::new(&[0], &[leaf(0)], &bad_target, 1, Aggregate::Sum).is_err());
    }

    #[test]
    fn checks_the_number_of_features() {
        let nodes = [
            Node::Branch {
                mode: Mode::Leq,
                feature: 3,
                value: 0.0,
                nan_is_true: false,
                true_child: 1,
                false_child: 1,
            },
            leaf(0),
        ];
        let e = TreeEnsemble::new(&[0], &nodes, &weights(1), 1, Aggregate::Sum).unwrap();
        let mut out = [0f32; 1];
        assert!(e.eval_rows(&[0.0; 3], 3, &mut out).is_err());
        e.eval_rows(&[0.0; 4], 4, &mut out).unwrap();
        assert_eq!(out, [1.0]);
    }
}
