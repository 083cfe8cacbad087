use super::{LimitArgs, cache_dir};
use anyhow::{Result, bail};
use clap::Args;
use edgeinfer::serve::{self, FileConfig, ModelSpec, ServeOptions, WeightSpec};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub(super) struct ServeArgs {
    /// Models to serve: PATH, NAME=PATH or NAME@VERSION=PATH (a packed .wasm), or a directory
    /// of .wasm files. Name and version default to the packed ones.
    #[arg(value_name = "MODEL", value_parser = ModelSpec::parse)]
    models: Vec<ModelSpec>,
    /// A TOML file with the same settings (`listen`, `max_concurrency`, `[[models]]` with
    /// `path`, `name`, `version`, `weight`...); flags given on the command line win
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Traffic share of a version on its model's unversioned routes, NAME@VERSION=WEIGHT
    /// (repeatable; e.g. `--weight cls@1=90 --weight cls@2=10` for a 10% canary). Without
    /// weights a model's last listed version takes all its traffic
    #[arg(long = "weight", value_name = "NAME@VERSION=W", value_parser = WeightSpec::parse)]
    weights: Vec<WeightSpec>,
    /// Model instances running at once; further requests wait (see --max-queued). Inference
    /// is CPU-bound: more than the cores adds memory and tail latency, not throughput
    /// [default: the number of cores]
    #[arg(long, value_name = "N")]
    max_concurrency: Option<usize>,
    /// Requests that may wait for a busy instance; past it, 503 with Retry-After
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_queued: usize,
    /// Open connections at most; past it a new connection gets 503 and is closed
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection has to send a complete request head, new or kept alive between
    /// requests (closes slowloris and idle connections)
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    header_timeout: f64,
    /// Seconds the whole request body has to arrive in; past it, 408
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    body_timeout: f64,
    /// Largest request body, in MiB [default: 64]
    #[arg(long, value_name = "MIB")]
    max_body_mib: Option<usize>,
    /// Seconds between checks of the model files for changes (hot reload); 0 turns it off
    /// [default: 2]
    #[arg(long, value_name = "SECS")]
    reload_interval: Option<f64>,
    /// MiB of the pages a request wrote that its instance slot resets with memset instead of
    /// madvise (on Linux 6.7+ only the written pages; elsewhere the slot's lowest MiB whole):
    /// fresh instances then take no page faults, whose TLB shootdowns stall the other cores
    /// (measured: +47% requests/s at 8 connections on 2 cores). Keeps those pages resident
    /// per used slot; 0 turns it off
    #[arg(long, value_name = "MIB", default_value_t = 64)]
    keep_resident_mib: usize,
    /// Keep instances that answered for the next request of the same model version, up to
    /// --max-concurrency idle ones, instead of a fresh instance per request: no instantiation
    /// and a warm first inference, but requests share an instance's memory one after another
    /// (the guest keeps no state between calls, yet a fresh instance is the stronger
    /// isolation). Instances that trapped or overran the deadline are never kept
    #[arg(long)]
    reuse_instances: bool,
    /// Dynamic batching: join concurrent infer requests to a model whose inputs and outputs
    /// share a free first dim (the batch) into one call of at most N rows, and split the
    /// answers back. Requests that cannot join run alone; 1 turns it off. Pays where a row
    /// costs little next to a request (tabular models, MLPs, small transformers), not on a
    /// CNN, whose joined rows leave its batch-1 plan: measure with bench/batching.sh
    /// (serve.toml: `max_batch`, also per model) [default: 1]
    #[arg(long, value_name = "N")]
    max_batch: Option<u64>,
    /// How long the first request of a batch waits for others, in ms (serve.toml:
    /// `batch_window_ms`, also per model) [default: 2]
    #[arg(long, value_name = "MS")]
    batch_window_ms: Option<f64>,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: ServeArgs) -> Result<()> {
    let options = options(args)?;
    pin_malloc_mmap_threshold();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("edgeinfer-serve")
        .build()?;
    runtime.block_on(async {
        let running = serve::start(options).await?;
        let base = format!("http://{}", running.addr);
        println!("edgeinfer serve: listening on {base} (Open Inference Protocol v2)");
        for (name, version, weight, path, sha) in &running.models {
            println!(
                "  {name} v{version}  weight {weight}  {}  sha256 {}",
                path.display(),
                &sha[..16]
            );
        }
        if let Some((name, ..)) = running.models.first() {
            println!("  try: curl -s {base}/v2/models/{name}");
        }
        println!("  health {base}/v2/health/ready, metrics {base}/metrics; Ctrl-C stops");
        serve::shutdown_signal().await;
        println!("edgeinfer serve: shutting down (finishing in-flight requests)");
        running.shutdown().await;
        Ok(())
    })
}

/// glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), after
/// which every request body and tensor of a few MB is carved from the arenas, whose freed
/// space stays resident: the soak's server held 100 MiB more for it (RELIABILITY.md). Pinned
/// at glibc's initial 128 KiB, big buffers are mapped and unmapped with their request. A
/// `MALLOC_MMAP_THRESHOLD_` in the environment wins.
fn pin_malloc_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before the server's
        // threads exist.
        unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    }
}

/// The options from the flags and `--config`: a flag given on the command line beats the
/// file, which beats the default.
fn options(mut args: ServeArgs) -> Result<ServeOptions> {
    let file = match &args.config {
        Some(path) => FileConfig::read(path)?,
        None => FileConfig::default(),
    };
    let mut models = args.models;
    if models.is_empty() {
        models = file.models;
    }
    if models.is_empty() {
        bail!("no models to serve: give packed .wasm files, a directory, or --config FILE");
    }
    let models = serve::expand_directories(models)?;
    let mut weights = args.weights;
    for model in &models {
        // Weights from the file need a name and version to refer to.
        if let (Some(w), Some(name), Some(version)) = (model.weight, &model.name, &model.version) {
            weights.push(WeightSpec {
                name: name.clone(),
                version: version.clone(),
                weight: w,
            });
        } else if model.weight.is_some() {
            bail!(
                "{}: a weight needs the model's name and version in the config",
                model.path.display()
            );
        }
    }
    let paths: Vec<&std::path::Path> = models.iter().map(|m| m.path.as_path()).collect();
    args.limits.deadline = args.limits.deadline.or(file.deadline_secs);
    args.limits.memory_limit = args.limits.memory_limit.or(file.memory_limit_mib);
    let mut runtime = args.limits.runtime_config(&paths)?;
    runtime.memory_keep_resident = args.keep_resident_mib << 20;
    let defaults = ServeOptions::default();
    let reload_interval = match args.reload_interval.or(file.reload_interval_secs) {
        None => defaults.reload_interval,
        Some(0.0) => None,
        Some(secs) => Some(positive_secs("--reload-interval", secs)?),
    };
    Ok(ServeOptions {
        listen: args.listen.or(file.listen).unwrap_or(defaults.listen),
        models,
        weights,
        max_concurrency: (args.max_concurrency.or(file.max_concurrency))
            .unwrap_or(defaults.max_concurrency),
        max_body_bytes: (args.max_body_mib.or(file.max_body_mib))
            .map_or(defaults.max_body_bytes, |mib| mib << 20),
        reload_interval,
        runtime,
        cache_dir: cache_dir(),
        max_queued: args.max_queued,
        max_connections: args.max_connections,
        header_timeout: positive_secs("--header-timeout", args.header_timeout)?,
        body_timeout: positive_secs("--body-timeout", args.body_timeout)?,
        reuse_instances: args.reuse_instances || file.reuse_instances.unwrap_or(false),
        batching: batch_policy(
            (args.max_batch.or(file.max_batch)).unwrap_or(defaults.batching.max_batch),
            (args.batch_window_ms.or(file.batch_window_ms))
                .unwrap_or(defaults.batching.window.as_secs_f64() * 1e3),
        )?,
        ..defaults
    })
}

fn batch_policy(max_batch: u64, window_ms: f64) -> Result<serve::BatchPolicy> {
    if max_batch == 0 {
        bail!("--max-batch must be at least 1 (1 turns batching off)");
    }
    if !(window_ms.is_finite() && window_ms >= 0.0) {
        bail!("--batch-window-ms must be a non-negative number of ms, got {window_ms}");
    }
    Ok(serve::BatchPolicy {
        max_batch,
        window: Duration::from_secs_f64(window_ms / 1e3),
    })
}

fn positive_secs(flag: &str, secs: f64) -> Result<Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        anyhow::bail!("{flag} must be a positive number of seconds, got {secs}");
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn options_of(args: &[&str]) -> ServeOptions {
        let cli =
            Cli::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).unwrap();
        options(cli.serve).unwrap()
    }

    #[test]
    fn flags_beat_the_config_file_which_beats_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("serve.toml");
        std::fs::write(
            &config,
            "listen = \"127.0.0.1:9000\"\nmax_concurrency = 4\nmax_batch = 8\n\
             deadline_secs = 5.0\n[[models]]\npath = \"m.wasm\"\n",
        )
        .unwrap();
        let config = config.to_str().unwrap();

        let from_file = options_of(&["--config", config]);
        assert_eq!(from_file.listen, "127.0.0.1:9000");
        assert_eq!(from_file.max_concurrency, 4);
        assert_eq!(from_file.batching.max_batch, 8);
        assert_eq!(from_file.runtime.deadline, Some(Duration::from_secs(5)));
        assert_eq!(
            from_file.max_body_bytes,
            64 << 20,
            "a key the file lacks keeps its default"
        );

        let flags = options_of(&[
            "--config",
            config,
            "--max-concurrency",
            "16",
            "--max-batch",
            "1",
            "--deadline",
            "2",
            "--listen",
            "127.0.0.1:9001",
        ]);
        assert_eq!(flags.listen, "127.0.0.1:9001");
        assert_eq!(flags.max_concurrency, 16);
        assert_eq!(flags.batching.max_batch, 1);
        assert_eq!(flags.runtime.deadline, Some(Duration::from_secs(2)));
        assert_eq!(flags.models[0].path, dir.path().join("m.wasm"));
    }
}
