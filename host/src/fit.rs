//! Platform fit: does a packed model run within the limits of a serverless platform? Measures
//! what those limits are about (the package, raw and gzipped; the linear memory one request
//! needs; the CPU time of one request on a fresh instance, as those platforms run each
//! request) and checks each against the published limits of Fastly Compute, Fermyon / Akamai
//! Functions (Spin) and Cloudflare Workers.
//!
//! The CPU time is measured here, in wasmtime on this machine, for the component; the Fastly
//! module runs the same engine build on the same snapshot, and Fastly's machines are not this
//! one: read the numbers as an estimate with margin, not as the platform's own meter.

use crate::Tensor;
use crate::bench::Stats;
use crate::runtime::Model;
use anyhow::{Context, Result};
use serde::Serialize;
use std::time::Duration;

const MB: u64 = 1_000_000;

/// What a platform allows one deployment and one request.
struct Platform {
    name: &'static str,
    /// Limits, each with the measurement it bounds.
    limits: &'static [(Measure, u64)],
    note: &'static str,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// The module or component as uploaded.
    PackageBytes,
    /// The same, gzip-compressed (what size limits on compressed scripts count).
    CompressedBytes,
    /// Linear memory after one request on a fresh instance (snapshot + heap growth).
    MemoryBytes,
    /// CPU time of one request on a fresh instance (instantiate + infer), in microseconds.
    CpuMicros,
}

// Published limits (2026-11; see docs/serverless.md): Fastly Compute's resource limits page,
// Fermyon Cloud / Akamai Functions' quotas, Cloudflare Workers' limits (paid plan).
const PLATFORMS: &[Platform] = &[
    Platform {
        name: "Fastly Compute",
        limits: &[
            (Measure::CompressedBytes, 100 * MB),
            (Measure::MemoryBytes, 128 * MB),
            (Measure::CpuMicros, 50_000),
        ],
        note: "edgeinfer pack --target fastly; 100 MB package, 128 MB heap, 50 ms CPU per request",
    },
    Platform {
        name: "Fermyon / Akamai Functions (Spin)",
        limits: &[
            (Measure::PackageBytes, 100 * MB),
            (Measure::CpuMicros, 10_000_000),
        ],
        note: "the component as it is; 100 MB application, 10 s per request",
    },
    Platform {
        name: "Cloudflare Workers",
        limits: &[
            (Measure::CompressedBytes, 10 * MB),
            (Measure::MemoryBytes, 128 * MB),
            (Measure::CpuMicros, 30_000_000),
        ],
        note: "through the jco JS shim (web/); paid plan: 10 MB compressed (free: 3 MB), 128 MB memory, 30 s CPU",
    },
];

#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    pub model: String,
    pub package_bytes: u64,
    pub compressed_bytes: u64,
    /// Linear memory after one request on a fresh instance.
    pub memory_bytes: u64,
    /// CPU time of one request on a fresh instance (instantiate + infer).
    pub cpu: Stats,
    /// Wall time of the same.
    pub wall: Stats,
    pub platforms: Vec<PlatformFit>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlatformFit {
    pub platform: String,
    pub fits: bool,
    pub checks: Vec<Check>,
    pub note: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub measure: Measure,
    pub value: u64,
    pub limit: u64,
    pub fits: bool,
}

/// The sizes a platform receives: the file uploaded, and its gzip.
#[derive(Clone, Copy, Debug)]
pub struct PackageSize {
    pub bytes: u64,
    pub compressed_bytes: u64,
}

impl PackageSize {
    pub fn of(wasm: &[u8]) -> PackageSize {
        PackageSize {
            bytes: wasm.len() as u64,
            compressed_bytes: crate::pack::gzip_len(wasm),
        }
    }
}

/// Measures `model` on `inputs` (a fresh instance per run, `runs` runs) and checks it against
/// each platform's limits.
pub fn fit(model: &Model, inputs: &[Tensor], size: PackageSize, runs: usize) -> Result<FitReport> {
    let name = model.metadata()?.name;
    // One request first: it must succeed, and it gives the memory a request needs.
    let mut instance = model.instantiate()?;
    instance
        .infer(inputs)
        .context("the model rejected the measurement input")?;
    let memory_bytes = instance.memory_peak_bytes() as u64;
    drop(instance);

    let mut cpu = Vec::new();
    let mut wall = Vec::new();
    for _ in 0..runs.max(1) {
        let (cpu0, wall0) = (thread_cpu_time(), std::time::Instant::now());
        model.instantiate()?.infer(inputs)?;
        wall.push(wall0.elapsed());
        cpu.push(thread_cpu_time().saturating_sub(cpu0));
    }
    let (cpu, wall) = (Stats::from(cpu), Stats::from(wall));

    let value_of = |m: Measure| match m {
        Measure::PackageBytes => size.bytes,
        Measure::CompressedBytes => size.compressed_bytes,
        Measure::MemoryBytes => memory_bytes,
        Measure::CpuMicros => (cpu.median_ms * 1e3).round() as u64,
    };
    let platforms = PLATFORMS
        .iter()
        .map(|p| {
            let checks: Vec<Check> = p
                .limits
                .iter()
                .map(|&(measure, limit)| {
                    let value = value_of(measure);
                    Check {
                        measure,
                        value,
                        limit,
                        fits: value <= limit,
                    }
                })
                .collect();
            PlatformFit {
                platform: p.name.to_string(),
                fits: checks.iter().all(|c| c.fits),
                checks,
                note: p.note.to_string(),
            }
        })
        .collect();
    Ok(FitReport {
        model: name,
        package_bytes: size.bytes,
        compressed_bytes: size.compressed_bytes,
        memory_bytes,
        cpu,
        wall,
        platforms,
    })
}

/// CPU time of this thread (instantiation and inference run on it).
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass; the clock id is a constant.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One line per platform: fits or not, with the numbers.
pub fn describe(report: &FitReport) -> Vec<String> {
    report
        .platforms
        .iter()
        .map(|p| {
            let checks: Vec<String> = p
                .checks
                .iter()
                .map(|c| {
                    let (v, l) = match c.measure {
                        Measure::CpuMicros => (
                            format!("{:.1} ms CPU", c.value as f64 / 1e3),
                            format!("{:.0} ms", c.limit as f64 / 1e3),
                        ),
                        m => (
                            format!("{:.1} MB {}", c.value as f64 / 1e6, label(m)),
                            format!("{:.0} MB", c.limit as f64 / 1e6),
                        ),
                    };
                    format!("{v} {} {l}", if c.fits { "<=" } else { ">" })
                })
                .collect();
            format!(
                "{:34} {:13} {}",
                p.platform,
                if p.fits { "fits" } else { "does not fit" },
                checks.join(", ")
            )
        })
        .collect()
}

fn label(m: Measure) -> &'static str {
    match m {
        Measure::PackageBytes => "package",
        Measure::CompressedBytes => "compressed",
        Measure::MemoryBytes => "memory",
        Measure::CpuMicros => "CPU",
    }
}
