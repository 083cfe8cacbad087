//! Subcommands of the `edgeinfer` CLI.

mod batch;
mod bench;
mod fit;
mod infer;
mod info;
mod pack;
mod precompile;
mod serve;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use edgeinfer::{Runtime, RuntimeConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Run ONNX models as sandboxed WebAssembly components: pack once, run anywhere.
#[derive(Parser)]
#[command(name = "edgeinfer", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pack an ONNX model into a pre-initialized model component (.wasm)
    Pack(pack::PackArgs),
    /// Show a model component's name, version, inputs and outputs
    Info(info::InfoArgs),
    /// Run one inference on .npy inputs
    Infer(infer::InferArgs),
    /// Compile a component ahead of time to a .cwasm that later runs load without compiling
    Precompile(precompile::PrecompileArgs),
    /// Time instantiation, cold and warm inference, and native tract on the same input
    Bench(bench::BenchArgs),
    /// Check a packed model against serverless limits (Fastly Compute, Spin clouds,
    /// Cloudflare Workers): package size, memory and CPU time of one fresh-instance request
    Fit(fit::FitArgs),
    /// Serve models over the Open Inference Protocol v2 (KServe v2 REST) with versions,
    /// traffic split, hot reload and Prometheus metrics
    Serve(serve::ServeArgs),
    /// Run a model over many records (.npy, JSONL of OIP requests, CSV) in parallel,
    /// resumably, with a progress bar, a JSON report and scheduler-friendly exit codes
    Batch(batch::BatchArgs),
}

impl Cli {
    /// Log level when `EDGEINFER_LOG` is unset: a server logs its requests, a tool only warns.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) => "info,wasmtime=warn,cranelift=warn",
            _ => "warn",
        }
    }

    /// Exit code of a failed command: 2 for `batch` (usage or model error, as opposed to 1
    /// for failed records), 1 for the others.
    pub fn error_exit_code(&self) -> u8 {
        match self.command {
            Command::Batch(_) => 2,
            _ => 1,
        }
    }
}

/// The exit code of `err`: 3 for a `batch` whose output cannot be written, else the
/// command's own (see [`Cli::error_exit_code`]).
pub fn exit_code_of(err: &anyhow::Error, command_code: u8) -> u8 {
    if err
        .downcast_ref::<edgeinfer::batch::OutputUnwritable>()
        .is_some()
    {
        edgeinfer::batch::EXIT_OUTPUT_UNWRITABLE
    } else {
        command_code
    }
}

/// Runs the command; `Ok` carries the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let done = |r: Result<()>| r.map(|()| 0);
    match cli.command {
        Command::Pack(args) => done(pack::run(args)),
        Command::Info(args) => done(info::run(args)),
        Command::Infer(args) => done(infer::run(args)),
        Command::Precompile(args) => done(precompile::run(args)),
        Command::Bench(args) => done(bench::run(args)),
        Command::Fit(args) => done(fit::run(args)),
        Command::Serve(args) => done(serve::run(args)),
        Command::Batch(args) => batch::run(args),
    }
}

const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;
/// wasm32's 4 GiB.
const MAX_MEMORY_LIMIT: usize = 4 << 30;

/// Sandbox limits shared by the commands that run a model.
#[derive(Args, Clone)]
struct LimitArgs {
    /// Memory limit of a model instance, in MiB [default: 1024, or what the model starts
    /// with plus 256 when that is more]
    #[arg(long, value_name = "MIB")]
    memory_limit: Option<usize>,
    /// Deadline of one inference, in seconds; past it the model is stopped [default: 30].
    /// 0 runs without one, for trusted batch runs and benchmarks: the code is compiled
    /// without the checks that enforce it (0.60-0.87x the time on CNNs) and a model that loops
    /// is never stopped; `serve` refuses 0
    #[arg(long, value_name = "SECS")]
    deadline: Option<f64>,
}

const DEFAULT_DEADLINE_SECS: f64 = 30.0;

impl LimitArgs {
    /// The limits for running `models`: without `--memory-limit`, 1 GiB, raised for a model
    /// that starts bigger (a packed model starts with its weights and plan in memory).
    fn runtime_config(&self, models: &[&std::path::Path]) -> Result<RuntimeConfig> {
        let memory_limit = match self.memory_limit {
            Some(mib) => mib << 20,
            None => models
                .iter()
                .filter_map(|path| edgeinfer::runtime::read_model_file(path).ok())
                .filter_map(|wasm| edgeinfer::runtime::initial_memory_bytes(&wasm))
                .map(|initial| initial as usize + (256 << 20))
                .fold(DEFAULT_MEMORY_LIMIT, usize::max)
                .min(MAX_MEMORY_LIMIT),
        };
        let deadline = match self.deadline.unwrap_or(DEFAULT_DEADLINE_SECS) {
            0.0 => None,
            secs if secs.is_finite() && secs > 0.0 && secs < 1e9 => {
                Some(Duration::from_secs_f64(secs))
            }
            secs => anyhow::bail!(
                "--deadline must be a positive number of seconds (or 0 for none), got {secs}"
            ),
        };
        Ok(RuntimeConfig {
            memory_limit,
            deadline,
            ..RuntimeConfig::default()
        })
    }

    fn runtime(&self, models: &[&std::path::Path]) -> Result<Runtime> {
        Runtime::new(self.runtime_config(models)?)
    }
}

/// `name=path` (or a bare path when the model has one input).
#[derive(Clone, Debug)]
struct NamedPath {
    name: Option<String>,
    path: PathBuf,
}

impl std::str::FromStr for NamedPath {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.split_once('=') {
            Some((name, path)) if !name.is_empty() => NamedPath {
                name: Some(name.to_string()),
                path: path.into(),
            },
            _ => NamedPath {
                name: None,
                path: s.into(),
            },
        })
    }
}

/// Reads `-i name=file.npy` inputs, naming a bare path after the model's only input.
fn read_inputs(
    metadata: &edgeinfer::Metadata,
    given: &[NamedPath],
) -> Result<Vec<edgeinfer::Tensor>> {
    given
        .iter()
        .map(|input| {
            let name = match &input.name {
                Some(name) => name.clone(),
                None if metadata.inputs.len() == 1 => metadata.inputs[0].name.clone(),
                None => anyhow::bail!(
                    "the model has {} inputs; name each one: -i NAME=file.npy (inputs: {})",
                    metadata.inputs.len(),
                    metadata
                        .inputs
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            edgeinfer::npy::read_npy_file(&input.path, &name)
        })
        .collect()
}

/// `--dim N=4`: values of free dimensions.
fn parse_dim(s: &str) -> Result<(String, u64), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected SYMBOL=SIZE"))?;
    let v = v
        .parse()
        .map_err(|_| format!("`{s}`: size must be a number"))?;
    Ok((k.to_string(), v))
}

fn dims_map(dims: &[(String, u64)]) -> BTreeMap<String, u64> {
    dims.iter().cloned().collect()
}

/// Where compiled code of the generic guest is cached: `$EDGEINFER_CACHE_DIR`, else the
/// user cache dir.
pub(crate) fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("EDGEINFER_CACHE_DIR") {
        return Some(dir.into());
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("edgeinfer"))
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn load_model(runtime: &Runtime, path: &std::path::Path) -> Result<edgeinfer::Model> {
    runtime
        .load_cached(path, cache_dir().as_deref())
        .with_context(|| format!("cannot load {}", path.display()))
}
