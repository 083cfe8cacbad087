use super::{LimitArgs, NamedPath, load_model, read_inputs};
use anyhow::{Context, Result};
use clap::Args;
use edgeinfer::Tensor;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args)]
pub(super) struct InferArgs {
    /// The model component (.wasm or .cwasm)
    model: PathBuf,
    /// An input: NAME=file.npy, or file.npy when the model has one input (repeatable)
    #[arg(short, long = "input", value_name = "NAME=FILE", required = true)]
    inputs: Vec<NamedPath>,
    /// Write each output to DIR/<output name>.npy
    #[arg(short, long, value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Class labels for outputs shaped [batch, classes]: a file with one label a line, or a
    /// comma-separated list; prints the top label of each row
    #[arg(long)]
    labels: Option<String>,
    /// Print the summary as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: InferArgs) -> Result<()> {
    let runtime = args.limits.runtime(&[&args.model])?;
    let model = load_model(&runtime, &args.model)?;
    let mut instance = model.instantiate()?;
    let metadata = instance.metadata()?;
    let inputs = read_inputs(&metadata, &args.inputs)?;
    let start = Instant::now();
    let outputs = instance.infer(&inputs)?;
    let infer_ms = start.elapsed().as_secs_f64() * 1e3;
    let labels = args.labels.as_deref().map(read_labels).transpose()?;

    let mut summaries = Vec::new();
    for output in &outputs {
        let mut summary = summarize(output);
        if let Some(dir) = &args.output_dir {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!(
                "{}.npy",
                edgeinfer::npy::file_stem_for(&output.name)
            ));
            edgeinfer::npy::write_npy_file(output, &path)?;
            summary["file"] = path.display().to_string().into();
        }
        if let Some(top) = labels
            .as_ref()
            .and_then(|labels| top_labels(output, labels))
        {
            summary["top"] = top;
        }
        summaries.push(summary);
    }
    let report = json!({
        "model": {"name": metadata.name, "version": metadata.version},
        "infer_ms": infer_ms,
        "outputs": summaries,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(())
}

fn read_labels(spec: &str) -> Result<Vec<String>> {
    let text = if std::path::Path::new(spec).is_file() {
        std::fs::read_to_string(spec).with_context(|| format!("reading labels {spec}"))?
    } else {
        spec.replace(',', "\n")
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

fn summarize(t: &Tensor) -> serde_json::Value {
    let values = t.to_f64_lossy();
    let (min, max) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
    json!({
        "name": t.name,
        "dtype": t.dtype.wit_name(),
        "shape": t.shape,
        "min": min, "max": max, "mean": mean,
        "head": values.iter().take(8).collect::<Vec<_>>(),
    })
}

/// Top label and score of each row of a [batch, classes] (or [classes]) output.
fn top_labels(t: &Tensor, labels: &[String]) -> Option<serde_json::Value> {
    let classes = *t.shape.last()?;
    if classes != labels.len() || t.shape.len() > 2 {
        return None;
    }
    let values = t.to_f64_lossy();
    let rows = values
        .chunks(classes)
        .map(|row| {
            let (ix, score) =
                row.iter()
                    .enumerate()
                    .fold((0, f64::NEG_INFINITY), |best, (i, &v)| {
                        if v > best.1 { (i, v) } else { best }
                    });
            json!({"label": labels[ix], "score": score})
        })
        .collect();
    Some(serde_json::Value::Array(rows))
}

fn print_human(report: &serde_json::Value) {
    println!(
        "{} v{}: inference {:.2} ms",
        report["model"]["name"].as_str().unwrap_or(""),
        report["model"]["version"].as_str().unwrap_or(""),
        report["infer_ms"].as_f64().unwrap_or(0.0)
    );
    for o in report["outputs"].as_array().into_iter().flatten() {
        println!(
            "  {}  {}  {}  min {:.4}  max {:.4}  mean {:.4}",
            o["name"].as_str().unwrap_or(""),
            o["dtype"].as_str().unwrap_or(""),
            o["shape"],
            o["min"].as_f64().unwrap_or(f64::NAN),
            o["max"].as_f64().unwrap_or(f64::NAN),
            o["mean"].as_f64().unwrap_or(f64::NAN)
        );
        for (row, top) in o["top"].as_array().into_iter().flatten().enumerate() {
            println!(
                "    [{row}] {} ({:.4})",
                top["label"].as_str().unwrap_or(""),
                top["score"].as_f64().unwrap_or(f64::NAN)
            );
        }
        if let Some(file) = o["file"].as_str() {
            println!("    -> {file}");
        }
    }
}
