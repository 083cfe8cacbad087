//! Runs the model coverage corpus and writes its table.
//!
//!     coverage [--subset ci|full] [--only a,b] [--md COVERAGE.md] [--json report.json]
//!
//! Each fetched model of `models/corpus/` is packed with the flags of
//! `tests/coverage/flags.txt` (none for most), run in a fresh component on its stored inputs
//! and compared with onnxruntime's outputs. `scripts/coverage.sh` fetches the corpus first.

use anyhow::{Context, Result, bail};
use edgeinfer_tests::coverage::{Case, Expectations, Outcome, Runner, Status, index, root};
use std::fmt::Write as _;
use std::path::PathBuf;

struct Args {
    subset: String,
    only: Option<Vec<String>>,
    md: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        subset: "full".into(),
        only: None,
        md: None,
        json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--subset" => args.subset = value()?,
            "--only" => args.only = Some(value()?.split(',').map(str::to_string).collect()),
            "--md" => args.md = Some(value()?.into()),
            "--json" => args.json = Some(value()?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: coverage [--subset ci|full] [--only a,b] [--md COVERAGE.md] [--json report.json]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if !matches!(args.subset.as_str(), "ci" | "full") {
        bail!("--subset is ci or full");
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let expectations = Expectations::load()?;
    let runner = Runner::new(root().join("target").join("coverage"))?;
    let mut outcomes = vec![];
    let mut missing = vec![];
    for entry in index()? {
        if args.subset == "ci" && entry.subset != "ci" {
            continue;
        }
        if let Some(only) = &args.only
            && !only.contains(&entry.name)
        {
            continue;
        }
        let Some(case) = Case::load(&entry)? else {
            missing.push(entry.name);
            continue;
        };
        let flags = expectations
            .flags
            .get(&case.name)
            .cloned()
            .unwrap_or_default();
        eprint!("coverage: {:<28} ", case.name);
        let outcome = runner.run(&case, &flags)?;
        eprintln!("{}", summary(&outcome));
        outcomes.push(outcome);
    }
    if !missing.is_empty() {
        eprintln!(
            "coverage: not fetched (models/corpus/fetch --subset {}): {}",
            args.subset,
            missing.join(", ")
        );
    }
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    eprintln!(
        "coverage: {passed} of {} models pack and match onnxruntime",
        outcomes.len()
    );
    let regressions: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed() && expectations.must_pass.contains(&o.name))
        .map(|o| o.name.as_str())
        .collect();

    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&outcomes)?)?;
    }
    if let Some(path) = &args.md {
        std::fs::write(path, markdown(&outcomes))?;
        eprintln!("coverage: wrote {}", path.display());
    }
    if !regressions.is_empty() {
        bail!(
            "models listed in tests/coverage/expected.txt failed: {}",
            regressions.join(", ")
        );
    }
    Ok(())
}

fn summary(o: &Outcome) -> String {
    match &o.status {
        Status::Pass => format!(
            "pass  {:>7.1} MB -> {:>7.1} MB  err {:.1e}  {:.2} ms (onnxruntime {:.2} ms)",
            o.onnx_bytes as f64 / 1e6,
            o.packed_bytes.unwrap_or(0) as f64 / 1e6,
            o.max_abs_err.unwrap_or(0.0),
            o.warm_ms.unwrap_or(0.0),
            o.ort_ms.unwrap_or(f64::NAN),
        ),
        Status::Mismatch(why) => format!("MISMATCH {why}"),
        Status::PackFailed(why) => format!("pack failed: {why}"),
        Status::InferFailed(why) => format!("infer failed: {why}"),
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / 1e6)
}

/// The COVERAGE.md table: one row per model, failures with their one-line reason.
fn markdown(outcomes: &[Outcome]) -> String {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| model | category | source | ONNX MB | packed MB | size vs goal | flags | specialized plan | max abs err | component ms | onnxruntime ms | result |"
    );
    let _ = writeln!(
        md,
        "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---|"
    );
    for o in outcomes {
        let packed = o.packed_bytes.map(mb).unwrap_or_default();
        let ratio = o.size_ratio.map(|r| format!("{r:.2}")).unwrap_or_default();
        let flags = if o.flags.is_empty() {
            String::new()
        } else {
            format!("`{}`", o.flags)
        };
        let err = o
            .max_abs_err
            .map(|e| format!("{e:.1e}"))
            .unwrap_or_default();
        let warm = o.warm_ms.map(|t| format!("{t:.2}")).unwrap_or_default();
        let specialized = o
            .specialized
            .as_deref()
            .map(|s| format!("`{s}`"))
            .unwrap_or_default();
        let ort = o.ort_ms.map(|t| format!("{t:.2}")).unwrap_or_default();
        let result = match &o.status {
            Status::Pass => "pass".to_string(),
            Status::Mismatch(why) => format!("mismatch: {}", cell(why)),
            Status::PackFailed(why) => format!("pack fails: {}", cell(why)),
            Status::InferFailed(why) => format!("inference fails: {}", cell(why)),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {packed} | {ratio} | {flags} | {specialized} | {err} | {warm} | {ort} | {result} |",
            o.name,
            o.category,
            cell(&o.source),
            mb(o.onnx_bytes)
        );
    }
    let _ = writeln!(
        md,
        "\n{passed} of {} models pack and match onnxruntime ({:.0}%).",
        outcomes.len(),
        100.0 * passed as f64 / outcomes.len().max(1) as f64
    );
    md
}

/// Text that stays inside one table cell.
fn cell(s: &str) -> String {
    let s = s.replace('|', "\\|").replace('\n', " ");
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}
