use super::LimitArgs;
use anyhow::Result;
use clap::Args;
use edgeinfer::batch::{self, BatchOptions};
use std::path::PathBuf;

/// Exit codes: 0 every record done, 1 some records failed (see the error log) or
/// --max-failures stopped the run, 2 usage or model error (nothing ran), 3 the output could
/// not be written (disk full, read-only folder): what is there is complete, re-run to resume.
#[derive(Args)]
pub(super) struct BatchArgs {
    /// The model component (.wasm or .cwasm)
    model: PathBuf,
    /// Records: a directory of .npy files (one-input model), a directory of record folders
    /// holding <input>.npy each, a .jsonl file of OIP v2 infer requests, or a .csv file
    input: PathBuf,
    /// Where results go, matching the input: a directory (one folder of <output>.npy per
    /// record), a .jsonl file of OIP v2 responses, or a .csv file. Re-running skips records
    /// already there
    #[arg(short, long)]
    output: PathBuf,
    /// Worker instances running in parallel [default: the number of CPUs]
    #[arg(short, long)]
    jobs: Option<usize>,
    /// Records per inference call along the model's free batch dimension
    #[arg(long, default_value_t = 1)]
    batch_size: usize,
    /// The input a .npy file or CSV row fills, if the model has several
    #[arg(long, value_name = "NAME")]
    input_name: Option<String>,
    /// CSV columns forming the input, in order [default: all but `id`]
    #[arg(long, value_delimiter = ',', value_name = "A,B,...")]
    columns: Option<Vec<String>>,
    /// The JSON run report [default: OUTPUT.report.json]
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// JSONL log of failed records and why [default: OUTPUT.errors.jsonl]
    #[arg(long, value_name = "FILE")]
    errors: Option<PathBuf>,
    /// Stop taking new records once more than N have failed (exit code 1)
    #[arg(long, value_name = "N")]
    max_failures: Option<u64>,
    /// No progress output, only errors
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: BatchArgs) -> Result<u8> {
    let jobs = args.jobs.unwrap_or_else(edgeinfer::runtime::cores);
    let mut config = args.limits.runtime_config(&[&args.model])?;
    config.max_instances = config.max_instances.max(jobs as u32 + 2);
    let runtime = edgeinfer::Runtime::new(config)?;
    let options = BatchOptions {
        model: args.model,
        input: args.input,
        output: args.output,
        jobs,
        batch_size: args.batch_size,
        input_name: args.input_name,
        columns: args.columns,
        report: args.report,
        errors: args.errors,
        max_failures: args.max_failures,
        quiet: args.quiet,
        cache_dir: super::cache_dir(),
    };
    let report = batch::run(&runtime, &options)?;
    if !args.quiet {
        let r = &report.records;
        eprintln!(
            "batch: {} ok, {} failed, {} skipped of {} in {:.1}s ({:.1} records/s){}",
            r.ok,
            r.failed,
            r.skipped,
            r.total,
            report.seconds,
            report.records_per_second,
            if report.aborted {
                ", stopped by --max-failures"
            } else {
                ""
            }
        );
        eprintln!("batch: report {}", report.report_path.display());
        if r.failed > 0 {
            eprintln!("batch: failed records in {}", report.errors_path.display());
        }
    }
    if let Some(error) = &report.output_error {
        // Printed even with --quiet: it is the error of the run.
        let r = &report.records;
        eprintln!(
            "error: cannot write the output: {error}. The {} records in {} are complete; fix \
             the cause and re-run to resume",
            r.ok + r.skipped,
            report.output.display()
        );
    }
    Ok(report.exit_code)
}
