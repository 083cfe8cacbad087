//! The tree ensemble evaluator ([`TreeEnsemble`]) against the one it replaces (tract-onnx-opl's
//! `TreeEnsembleClassifier` op, as edgeinfer-ops wired it before): the same bits on every tree
//! model of `tests/models` and on a synthetic forest, at several batch sizes; and, ignored by
//! default, the timing of both, natively, on the same ensembles and rows in the same run
//! (printed, never asserted; the two must still agree bit for bit):
//!
//! ```text
//! cargo test -p edgeinfer-ops --features onnx --release --test tree_ensemble -- --ignored --nocapture
//! ```
//!
//! Ensembles: a synthetic forest shaped like the corpus' RandomForestClassifier (50 full trees of
//! depth 8, 10 features, 3 classes, a weight per class on each leaf), always; and the tree
//! models of the corpus (`models/corpus/fetch`; `EDGEINFER_CORPUS` names another corpus
//! folder), on their 64-row test input, when they are there. For a corpus model, the whole
//! optimized plan is timed too, with either op in it.

use edgeinfer_ops::nnef::tree_ensemble::{Aggregate, Mode, Node, TreeEnsemble, Weight};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::internal::{EvalContext, EvalOp};
use tract_onnx_opl::ml::tree::{
    Aggregate as OplAggregate, Cmp, TreeEnsemble as OplEnsemble, TreeEnsembleData,
};
use tract_onnx_opl::ml::tree_ensemble_classifier::TreeEnsembleClassifier as OplOp;

/// The op tract-onnx's loader would have wired for `ours` (what edgeinfer-ops wired before):
/// tract-onnx-opl's encoding, `BRANCH_GTE` as `BRANCH_LT` with the children and the NaN
/// direction swapped (tract-onnx-opl cannot decode its own `GreaterEqual`).
fn opl_op(ours: &TreeEnsemble) -> OplOp {
    let mut nodes: Vec<u32> = vec![];
    let mut max_feature = 0;
    for node in ours.nodes() {
        match node {
            Node::Leaf { start, end } => nodes.extend([start, end, 0, 0, 0]),
            Node::Branch {
                mode,
                feature,
                value,
                nan_is_true,
                true_child,
                false_child,
            } => {
                let (cmp, t, f, nan) = match mode {
                    Mode::Leq => (Cmp::LessEqual, true_child, false_child, nan_is_true),
                    Mode::Lt => (Cmp::Less, true_child, false_child, nan_is_true),
                    Mode::Gt => (Cmp::Greater, true_child, false_child, nan_is_true),
                    Mode::Gte => (Cmp::Less, false_child, true_child, !nan_is_true),
                    Mode::Eq => (Cmp::Equal, true_child, false_child, nan_is_true),
                    Mode::Neq => (Cmp::NotEqual, true_child, false_child, nan_is_true),
                };
                max_feature = max_feature.max(feature as usize);
                nodes.extend([
                    feature,
                    t,
                    f,
                    value.to_bits(),
                    cmp as u32 | if nan { 0x100 } else { 0 },
                ]);
            }
        }
    }
    let n = nodes.len() / 5;
    let leaves: Vec<u32> = ours
        .weights()
        .iter()
        .flat_map(|w| [w.target, w.value.to_bits()])
        .collect();
    let m = leaves.len() / 2;
    let data = TreeEnsembleData {
        trees: rctensor1(&ours.roots()),
        nodes: tensor1(&nodes)
            .into_shape(&[n, 5])
            .unwrap()
            .into_arc_tensor(),
        leaves: tensor1(&leaves)
            .into_shape(&[m, 2])
            .unwrap()
            .into_arc_tensor(),
    };
    OplOp {
        ensemble: OplEnsemble::build(data, max_feature, ours.n_targets(), OplAggregate::Sum)
            .unwrap(),
    }
}

/// Median time of one call, over calls repeated for about a second (3 calls at least).
fn time(mut f: impl FnMut()) -> Duration {
    f();
    let mut times = vec![];
    let start = Instant::now();
    while times.len() < 3 || (start.elapsed() < Duration::from_secs(1) && times.len() < 10_000) {
        let t = Instant::now();
        f();
        times.push(t.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

fn eval(op: &impl EvalOp, rows: &Tensor) -> Tensor {
    let out = op
        .eval(
            &EvalContext::out_of_plan(),
            tvec!(rows.clone().into_tvalue()),
        )
        .unwrap();
    out[0].clone().into_tensor()
}

fn report(what: &str, rows: usize, old: Duration, new: Duration) {
    let per_row = |d: Duration| d.as_secs_f64() * 1e6 / rows as f64;
    println!(
        "{what:<34} old {:>10.3} ms ({:>8.2} µs/row)   new {:>8.4} ms ({:>6.3} µs/row)   {:>7.0}x",
        old.as_secs_f64() * 1e3,
        per_row(old),
        new.as_secs_f64() * 1e3,
        per_row(new),
        old.as_secs_f64() / new.as_secs_f64()
    );
}

fn floats(t: &Tensor) -> Vec<f32> {
    t.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .to_vec()
}

fn bits(t: &Tensor) -> Vec<u32> {
    floats(t).iter().map(|v| v.to_bits()).collect()
}

/// Times both ops on `rows`, after checking they agree bit for bit.
fn compare_ops(what: &str, ours: &TreeEnsemble, rows: &Tensor) {
    // (with AVERAGE, the old wiring divided by the number of trees after the op)
    assert_same_bits(what, ours, rows);
    let old = opl_op(ours);
    let t_old = time(|| {
        eval(&old, rows);
    });
    let t_new = time(|| {
        eval(ours, rows);
    });
    report(what, rows.shape()[0], t_old, t_new);
}

/// A deterministic pseudo-random stream in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// `trees` full binary trees of `depth` (`BRANCH_LEQ`), node ids breadth first, each leaf
/// weighing every class (as skl2onnx writes a random forest classifier).
fn synthetic_forest(trees: usize, depth: u32, features: u32, classes: u32) -> TreeEnsemble {
    let mut rng = Lcg(42);
    let mut roots = vec![];
    let mut nodes = vec![];
    let mut weights = vec![];
    let per_tree = (1usize << (depth + 1)) - 1;
    let branches = (1usize << depth) - 1;
    for _ in 0..trees {
        let base = nodes.len();
        roots.push(base as u32);
        for i in 0..per_tree {
            if i < branches {
                nodes.push(Node::Branch {
                    mode: Mode::Leq,
                    feature: (rng.next() * features as f32) as u32 % features,
                    value: rng.next() * 2.0 - 1.0,
                    nan_is_true: false,
                    true_child: (base + 2 * i + 1) as u32,
                    false_child: (base + 2 * i + 2) as u32,
                });
            } else {
                let start = weights.len() as u32;
                for c in 0..classes {
                    weights.push(Weight {
                        target: c,
                        value: rng.next() / trees as f32,
                    });
                }
                nodes.push(Node::Leaf {
                    start,
                    end: weights.len() as u32,
                });
            }
        }
    }
    TreeEnsemble::new(&roots, &nodes, &weights, classes as usize, Aggregate::Sum).unwrap()
}

/// Unbalanced random trees (depth up to `max_depth`), every mode, NaN going either way,
/// leaves weighing 0 to 3 targets; thresholds on a grid of quarters, so that inputs drawn from
/// the same grid (and NaN) hit `==` and the boundaries of `<=`, `<`.
fn mixed_forest(
    modes: &[Mode],
    trees: usize,
    max_depth: u32,
    features: u32,
    targets: u32,
) -> TreeEnsemble {
    fn grow(
        modes: &[Mode],
        rng: &mut Lcg,
        depth: u32,
        features: u32,
        targets: u32,
        nodes: &mut Vec<Node>,
        weights: &mut Vec<Weight>,
    ) -> u32 {
        let id = nodes.len() as u32;
        if depth == 0 || rng.next() < 0.2 {
            let start = weights.len() as u32;
            for _ in 0..(rng.next() * 4.0) as u32 {
                weights.push(Weight {
                    target: (rng.next() * targets as f32) as u32 % targets,
                    value: rng.next() - 0.5,
                });
            }
            nodes.push(Node::Leaf {
                start,
                end: weights.len() as u32,
            });
            return id;
        }
        nodes.push(Node::Leaf { start: 0, end: 0 }); // placeholder, set below
        let mode = modes[(rng.next() * modes.len() as f32) as usize % modes.len()];
        let feature = (rng.next() * features as f32) as u32 % features;
        let value = ((rng.next() * 8.0) as i32 - 4) as f32 / 4.0;
        let nan_is_true = rng.next() < 0.5;
        let true_child = grow(modes, rng, depth - 1, features, targets, nodes, weights);
        let false_child = grow(modes, rng, depth - 1, features, targets, nodes, weights);
        nodes[id as usize] = Node::Branch {
            mode,
            feature,
            value,
            nan_is_true,
            true_child,
            false_child,
        };
        id
    }
    let mut rng = Lcg(3);
    let (mut roots, mut nodes, mut weights) = (vec![], vec![], vec![]);
    for _ in 0..trees {
        roots.push(grow(
            modes,
            &mut rng,
            max_depth,
            features,
            targets,
            &mut nodes,
            &mut weights,
        ));
    }
    TreeEnsemble::new(&roots, &nodes, &weights, targets as usize, Aggregate::Sum).unwrap()
}

const ALL_MODES: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

fn grid_rows(n: usize, features: usize, seed: u64) -> Tensor {
    let mut rng = Lcg(seed);
    let values: Vec<f32> = (0..n * features)
        .map(|_| {
            let v = rng.next();
            if v < 0.1 {
                f32::NAN
            } else {
                ((rng.next() * 10.0) as i32 - 5) as f32 / 4.0
            }
        })
        .collect();
    tensor1(&values).into_shape(&[n, features]).unwrap()
}

fn assert_same_bits(what: &str, ours: &TreeEnsemble, rows: &Tensor) {
    let mut want = eval(&opl_op(ours), rows);
    if ours.aggregate() == Aggregate::Average {
        let n = ours.n_trees() as f32;
        want.try_as_plain_ram_mut()
            .unwrap()
            .as_slice_mut::<f32>()
            .unwrap()
            .iter_mut()
            .for_each(|v| *v /= n);
    }
    let got = eval(ours, rows);
    assert_eq!(got.shape(), want.shape(), "{what}");
    assert_eq!(bits(&got), bits(&want), "{what}: {got:?} vs {want:?}");
}

#[test]
fn same_bits_as_tract_onnx_opl_on_synthetic_forests() {
    let forests = [
        ("full LEQ forest", synthetic_forest(7, 5, 6, 3), 6),
        (
            "mixed modes, unbalanced",
            mixed_forest(&ALL_MODES, 23, 9, 5, 4),
            5,
        ),
        ("one target", mixed_forest(&ALL_MODES, 11, 6, 3, 1), 3),
        ("all LT", mixed_forest(&[Mode::Lt], 9, 6, 4, 2), 4),
        ("all GTE", mixed_forest(&[Mode::Gte], 9, 6, 4, 2), 4),
        ("all GT", mixed_forest(&[Mode::Gt], 9, 6, 4, 2), 4),
        ("all EQ", mixed_forest(&[Mode::Eq], 9, 6, 4, 2), 4),
        ("all NEQ", mixed_forest(&[Mode::Neq], 9, 6, 4, 2), 4),
    ];
    for (what, forest, features) in &forests {
        for n in [1, 2, 3, 5, 7, 8, 9, 16, 21, 64] {
            let rows = grid_rows(n, *features, n as u64);
            assert_same_bits(&format!("{what}, {n} rows"), forest, &rows);
        }
    }
}

/// Every tree model of `tests/models` (as `register_onnx` loads it), on its cases' inputs.
#[test]
fn same_bits_as_tract_onnx_opl_on_test_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/models");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in manifest["cases"].as_array().unwrap() {
        if case.get("refusal").is_some_and(|r| !r.is_null()) {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let mut onnx = tract_onnx::onnx();
        edgeinfer_ops::register_onnx(&mut onnx);
        let model = onnx
            .model_for_path(dir.join(case["model"].as_str().unwrap()))
            .unwrap();
        if model.input_outlets().unwrap().len() != 1 {
            continue;
        }
        let typed = model.into_typed().unwrap().into_decluttered().unwrap();
        let Some(node) = typed.nodes().iter().find(|n| n.op_is::<TreeEnsemble>()) else {
            continue;
        };
        let ours = node.op_as::<TreeEnsemble>().unwrap();
        for run in case["runs"].as_array().unwrap() {
            let file = run["inputs"][0][1].as_str().unwrap();
            let rows = read_npy(&dir.join(file))
                .cast_to::<f32>()
                .unwrap()
                .into_owned();
            assert_same_bits(&format!("{name} {file}"), ours, &rows);
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} tree models found");
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("EDGEINFER_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/corpus"))
}

fn read_npy(path: &Path) -> Tensor {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape: Vec<usize> = npy.shape().iter().map(|d| *d as usize).collect();
    match npy.dtype().descr().as_str() {
        "'<f4'" => tract_ndarray::ArrayD::from_shape_vec(shape, npy.into_vec::<f32>().unwrap())
            .unwrap()
            .into_tensor(),
        "'<f8'" => tract_ndarray::ArrayD::from_shape_vec(shape, npy.into_vec::<f64>().unwrap())
            .unwrap()
            .into_tensor(),
        other => panic!("{}: dtype {other}", path.display()),
    }
}

/// A corpus model: its tree op on the test rows, then the whole optimized plan with either op.
fn compare_model(name: &str, dir: &Path) {
    let mut onnx = tract_onnx::onnx();
    edgeinfer_ops::register_onnx(&mut onnx);
    let input = read_npy(&dir.join("inputs/input.npy"));
    let typed = onnx
        .model_for_path(dir.join("model.onnx"))
        .unwrap()
        .with_input_fact(0, input.datum_type().fact(input.shape()).into())
        .unwrap()
        .into_typed()
        .unwrap()
        .into_decluttered()
        .unwrap();
    let trees: Vec<usize> = typed
        .nodes()
        .iter()
        .filter(|n| n.op_is::<TreeEnsemble>())
        .map(|n| n.id)
        .collect();
    assert_eq!(trees.len(), 1, "{name}: one tree ensemble expected");
    let ours = typed
        .node(trees[0])
        .op_as::<TreeEnsemble>()
        .unwrap()
        .clone();
    println!("{name}: {}", ours.info().unwrap().join(", "));
    let rows = input.cast_to::<f32>().unwrap().into_owned();
    compare_ops(&format!("{name} op"), &ours, &rows);
    let one = tensor1(&floats(&rows)[..rows.shape()[1]])
        .into_shape(&[1, rows.shape()[1]])
        .unwrap();
    compare_ops(&format!("{name} op, 1 row"), &ours, &one);

    let mut old_model = typed.clone();
    old_model.node_mut(trees[0]).op = Box::new(opl_op(&ours));
    if ours.aggregate() == Aggregate::Average {
        println!(
            "  ({name}: AVERAGE, whole plan not compared: the old graph divided after the op)"
        );
        return;
    }
    let new_plan = typed.into_optimized().unwrap().into_runnable().unwrap();
    let old_plan = old_model.into_optimized().unwrap().into_runnable().unwrap();
    let run =
        |plan: &Arc<TypedRunnableModel>| plan.run(tvec!(input.clone().into_tvalue())).unwrap();
    let (a, b) = (run(&new_plan), run(&old_plan));
    for (a, b) in a.iter().zip(b.iter()) {
        assert_eq!(a, b, "{name}: the plans disagree");
    }
    let t_old = time(|| {
        run(&old_plan);
    });
    let t_new = time(|| {
        run(&new_plan);
    });
    report(&format!("{name} plan"), input.shape()[0], t_old, t_new);
}

#[test]
#[ignore]
fn tree_ensemble_old_vs_new() {
    let forest = synthetic_forest(50, 8, 10, 3);
    println!("synthetic: {}", forest.info().unwrap().join(", "));
    let mut rng = Lcg(7);
    let rows: Vec<f32> = (0..64 * 10).map(|_| rng.next() * 2.0 - 1.0).collect();
    let rows = tensor1(&rows).into_shape(&[64, 10]).unwrap();
    compare_ops("synthetic 50x depth 8, 3 classes", &forest, &rows);
    let one = tensor1(&floats(&rows)[..10]).into_shape(&[1, 10]).unwrap();
    compare_ops("  same, 1 row", &forest, &one);

    let corpus = corpus_dir();
    for name in [
        "sklearn-rf-clf",
        "sklearn-rf-reg",
        "sklearn-gb-clf",
        "sklearn-gb-reg",
        "sklearn-hgb-reg",
        "sklearn-dt-reg",
        "lgbm-clf",
        "lgbm-reg",
        "xgb-clf",
        "xgb-reg",
    ] {
        let dir = corpus.join(name);
        if dir.join("model.onnx").exists() {
            compare_model(name, &dir);
        } else {
            println!("{name}: not in {} (models/corpus/fetch)", corpus.display());
        }
    }
}
