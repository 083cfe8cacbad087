//! Timings of a model component: instantiation, cold first answer (fresh instance), warm
//! answer (reused instance) and, given the ONNX, native tract on the same input in the same
//! run. Medians over repeated runs; comparisons as ratios, never as absolute assertions.
//! [`op_profile`] splits a warm call by operator kind, in the component and natively.

use crate::native::NativeModel;
use crate::runtime::{Metadata, Model};
use crate::{DType, Tensor};
use anyhow::{Context, Result};
use edgeinfer_protocol::op_profile::{self, OpTime};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Serialize)]
pub struct Stats {
    pub runs: usize,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Stats {
    pub fn from(mut samples: Vec<Duration>) -> Stats {
        samples.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let n = samples.len();
        let median = if n % 2 == 1 {
            ms(samples[n / 2])
        } else {
            (ms(samples[n / 2 - 1]) + ms(samples[n / 2])) / 2.0
        };
        Stats {
            runs: n,
            median_ms: median,
            min_ms: ms(samples[0]),
            max_ms: ms(samples[n - 1]),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Fresh instance from the pre-instantiated component.
    pub instantiate: Stats,
    /// Fresh instance to first answer: what a serverless request pays.
    pub cold: Stats,
    /// Page faults the process took during one cold run (median): the fresh instance's first
    /// touch of memory, which a warm instance no longer pays. 0 where the OS does not count.
    pub cold_page_faults: i64,
    /// Dropping an instance that answered: its memory slot is reset for the next one (with
    /// madvise, or with memset up to `--keep-resident-mib`). Paid after the answer.
    pub teardown: Stats,
    /// Answer from a reused instance.
    pub warm: Stats,
    /// Native tract on the same graph and input, if the ONNX was given.
    pub native: Option<Stats>,
    /// cold / warm (goal for a pre-initialized component: <= 1.1).
    pub cold_over_warm: f64,
    /// native time / component time: the component's speed relative to native (goal >= 0.8).
    pub speed_vs_native: Option<f64>,
    /// Largest linear memory of the warm instance.
    pub memory_peak_bytes: usize,
}

fn time<T>(f: impl FnOnce() -> Result<T>) -> Result<(Duration, T)> {
    let start = Instant::now();
    let value = f()?;
    Ok((start.elapsed(), value))
}

pub fn bench(
    model: &Model,
    inputs: &[Tensor],
    native: Option<&NativeModel>,
    runs: usize,
) -> Result<BenchReport> {
    let runs = runs.max(1);
    // Each clock stops at the answer. Dropping an instance resets its memory slot for the
    // next one, which a host does after the answer has gone out: timed on its own.
    let mut instantiate = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (elapsed, instance) = time(|| model.instantiate())?;
        instantiate.push(elapsed);
        drop(instance);
    }
    let (mut cold, mut teardown, mut faults) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let faults_before = minor_page_faults();
        let (elapsed, instance) = time(|| {
            let mut instance = model.instantiate()?;
            instance.infer(inputs)?;
            Ok(instance)
        })?;
        cold.push(elapsed);
        faults.push(minor_page_faults() - faults_before);
        teardown.push(
            time(|| {
                drop(instance);
                Ok(())
            })?
            .0,
        );
    }
    faults.sort_unstable();

    let mut instance = model.instantiate()?;
    instance
        .infer(inputs)
        .context("the model rejected the benchmark input")?;
    let warm = (0..runs)
        .map(|_| Ok(time(|| Ok(instance.infer(inputs)?))?.0))
        .collect::<Result<Vec<_>>>()?;

    let native = match native {
        Some(native) => {
            native
                .run(inputs)
                .context("native tract rejected the benchmark input")?;
            Some(Stats::from(
                (0..runs)
                    .map(|_| Ok(time(|| native.run(inputs))?.0))
                    .collect::<Result<Vec<_>>>()?,
            ))
        }
        None => None,
    };
    let (cold, warm) = (Stats::from(cold), Stats::from(warm));
    Ok(BenchReport {
        instantiate: Stats::from(instantiate),
        cold_over_warm: cold.median_ms / warm.median_ms,
        speed_vs_native: native.as_ref().map(|n| n.median_ms / warm.median_ms),
        cold,
        cold_page_faults: faults[faults.len() / 2],
        teardown: Stats::from(teardown),
        warm,
        native,
        memory_peak_bytes: instance.memory_peak_bytes(),
    })
}

/// One operator kind's share of an inference: in the component and natively.
#[derive(Clone, Debug, Serialize)]
pub struct OpRow {
    /// tract's operator name (`OptMatMul`, `DepthWise`, ...).
    pub op: String,
    /// Nodes of this kind in the component's plan.
    pub nodes: u32,
    /// Nodes of this kind in native tract's plan, which its optimizer built for this CPU's
    /// kernels: a count that differs shows the two plans differ, not only their speed.
    pub native_nodes: u32,
    /// Median over the runs of the time one warm call spent in these nodes.
    pub component_ms: f64,
    /// The same natively; `None` without the ONNX or when native tract's plan has no such node.
    pub native_ms: Option<f64>,
}

/// Per-operator times of a warm call, in the component and natively (median of `runs`
/// calls each), sorted by the component's time. The component must carry a guest built with
/// the engine's `op-profile` feature (`bench/op_profile.sh` builds one): only such a guest
/// writes its times.
pub fn op_profile(
    model: &Model,
    inputs: &[Tensor],
    native: Option<&NativeModel>,
    runs: usize,
) -> Result<Vec<OpRow>> {
    let runs = runs.max(1);
    // A fresh instance per run keeps its captured stderr small; its second call is warm.
    let mut component = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut instance = model.instantiate()?;
        for _ in 0..2 {
            instance
                .infer(inputs)
                .context("the model rejected the benchmark input")?;
        }
        let calls = op_profile::parse(&instance.stderr_text());
        anyhow::ensure!(
            calls.len() == 2,
            "this component does not time its operators: pack it with a guest built with the \
             engine's `op-profile` feature (`pack --guest`; bench/op_profile.sh does both)"
        );
        component.extend(calls.into_iter().nth(1));
    }
    let native_calls = match native {
        Some(native) => {
            native.run(inputs)?;
            (0..runs)
                .map(|_| native.run_timed(inputs))
                .collect::<Result<Vec<_>>>()?
        }
        None => Vec::new(),
    };
    let median_ms = |calls: &[Vec<OpTime>], op: &str| {
        let samples: Vec<Duration> = calls
            .iter()
            .filter_map(|call| call.iter().find(|t| t.op == op))
            .map(|t| Duration::from_nanos(t.nanos))
            .collect();
        (!samples.is_empty()).then(|| Stats::from(samples).median_ms)
    };
    let native_nodes = |op: &str| {
        native_calls
            .first()
            .and_then(|call| call.iter().find(|t| t.op == op))
            .map_or(0, |t| t.nodes)
    };
    let mut rows: Vec<OpRow> = component[0]
        .iter()
        .map(|t| OpRow {
            op: t.op.clone(),
            nodes: t.nodes,
            native_nodes: native_nodes(&t.op),
            component_ms: median_ms(&component, &t.op).unwrap_or(0.0),
            native_ms: median_ms(&native_calls, &t.op),
        })
        .collect();
    // Operators only native tract's plan has (its optimizer picks kernels for this CPU).
    if let Some(first) = native_calls.first() {
        let native_only: Vec<&OpTime> = first
            .iter()
            .filter(|t| !rows.iter().any(|r| r.op == t.op))
            .collect();
        for t in native_only {
            rows.push(OpRow {
                op: t.op.clone(),
                nodes: 0,
                native_nodes: t.nodes,
                component_ms: 0.0,
                native_ms: median_ms(&native_calls, &t.op),
            });
        }
    }
    rows.sort_by(|a, b| b.component_ms.total_cmp(&a.component_ms));
    Ok(rows)
}

/// Minor page faults of this process so far (first touches of mapped memory).
fn minor_page_faults() -> i64 {
    // SAFETY: getrusage only writes the struct it is given.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut usage) != 0 {
            return 0;
        }
        usage.ru_minflt as i64
    }
}

/// Deterministic inputs for every declared input: floats in [0, 1), integers and bools 0.
/// Free dimensions take their value from `symbols`, else 1.
pub fn synthetic_inputs(metadata: &Metadata, symbols: &BTreeMap<String, u64>) -> Vec<Tensor> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 40) as f32 / (1u64 << 24) as f32
    };
    metadata
        .inputs
        .iter()
        .map(|spec| {
            let mut with_defaults = symbols.clone();
            for d in &spec.shape {
                if let crate::runtime::Dim::Free(s) = d {
                    with_defaults.entry(s.clone()).or_insert(1);
                }
            }
            let shape = spec
                .concrete_shape(&with_defaults)
                .expect("all symbols set");
            let len: usize = shape.iter().product();
            let data = match spec.dtype {
                DType::F32 => (0..len).flat_map(|_| next().to_le_bytes()).collect(),
                DType::F64 => (0..len)
                    .flat_map(|_| (next() as f64).to_le_bytes())
                    .collect(),
                other => vec![0; len * other.size()],
            };
            Tensor::new(spec.name.clone(), spec.dtype, &shape, data)
        })
        .collect()
}
