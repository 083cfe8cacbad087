//! The one wasmtime configuration edgeinfer uses everywhere (run, pack, serve, tests).

use anyhow::Result;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Resource limits of model instances.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Largest linear memory an instance may grow to (bytes).
    pub memory_limit: usize,
    /// Wall-clock budget of one `infer` or `metadata` call; past it the guest is interrupted.
    ///
    /// `None` runs without one, for trusted batch runs and benchmarks: the code is then
    /// compiled without wasmtime's epoch checks, which cost 13-28% of a CNN's call (a check at
    /// every loop header makes Cranelift keep the loop's vectors on the stack; BENCHMARKS.md,
    /// goal 2), and a model that loops is never stopped. `serve` refuses it.
    pub deadline: Option<Duration>,
    /// Instances that may exist at once (sizes the pooling allocator).
    pub max_instances: u32,
    /// Use the pooling allocator (pre-reserved slots, fastest instantiation). Off, instances
    /// are allocated on demand.
    pub pooling: bool,
    /// Bytes of each pooled linear memory reset with `memset` instead of `madvise` when an
    /// instance ends, so the next instance in the slot takes no page faults there. Worth it
    /// when many threads instantiate at once (a server): copy-on-write faults then cost TLB
    /// shootdowns across cores.
    pub memory_keep_resident: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            memory_limit: 1 << 30,
            deadline: Some(Duration::from_secs(30)),
            max_instances: 64,
            pooling: true,
            memory_keep_resident: 0,
        }
    }
}

/// How often the epoch advances; deadlines are rounded up to it.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

pub(crate) fn build_engine(config: &RuntimeConfig) -> Result<Engine> {
    let mut c = Config::new();
    c.wasm_component_model(true)
        .wasm_simd(true)
        .wasm_relaxed_simd(true)
        // As `wasmtime wizer` does: identical results whatever CPU runs the snapshot.
        .relaxed_simd_deterministic(true)
        .epoch_interruption(config.deadline.is_some())
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .parallel_compilation(true)
        // A snapshot's memory is one copy-on-write image, mapped at instantiation, only
        // while its data fills half its span or the span is under this size (16 MiB by
        // default); otherwise every instantiation copies each segment in. Pack drops the
        // zeros from the snapshot, so a 22 MB model fell just past both: 8 ms to instantiate
        // instead of 0.02. The whole 4 GiB of wasm32 keeps every snapshot an image (the cost:
        // a compiled model holds its zero pages too, mapped, not read).
        .memory_guaranteed_dense_image_size(4 << 30);
    // `EDGEINFER_PERFMAP=1` names the compiled wasm functions in /tmp/perf-<pid>.map, so that
    // `perf record` can put the component's time on the guest's functions (BENCHMARKS.md,
    // goal 2: the profile).
    if std::env::var_os("EDGEINFER_PERFMAP").is_some() {
        c.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if config.pooling {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_instances.max(1);
        // A Rust wasip2 component holds a handful of core instances, memories and tables
        // (main module plus wit-component shims); leave room for them.
        pool.total_component_instances(n)
            .total_core_instances(n * 8)
            .total_memories(n * 2)
            .total_tables(n * 8)
            .max_core_instances_per_component(16)
            .max_memories_per_component(4)
            .max_tables_per_component(16)
            .max_memory_size(config.memory_limit)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .linear_memory_keep_resident(config.memory_keep_resident)
            // Without it the keep-resident reset rewrites the lowest `keep_resident` bytes
            // whole, the snapshot's image too: 2.9 ms per request on a 28 MB image. With it,
            // Linux (6.7+) names the pages written since, and only those are reset
            // (BENCHMARKS.md, goal 1); elsewhere wasmtime falls back to the whole rewrite.
            .pagemap_scan(wasmtime::Enabled::Auto)
            // Slots stay affine to the module that last used them, and a new module (a hot
            // reload) takes cold slots while more than this many unused warm ones exist. At
            // wasmtime's default (100) every reload warmed fresh slots: the 5-minute soak's
            // RSS grew 23% (and 48% at n), flat at n/4 with the same p50/p99 (RELIABILITY.md).
            .max_unused_warm_slots((n / 4).max(4));
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Ok(Engine::new(&c)?)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] so per-call deadlines fire.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> EpochTicker {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.weak();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("edgeinfer-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Deadline in epoch ticks, at least one.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_micros() / EPOCH_TICK.as_micros()).max(1) as u64 + 1
}
