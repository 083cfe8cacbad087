use super::{LimitArgs, human_bytes, load_model};
use anyhow::Result;
use clap::Args;
use edgeinfer::Metadata;
use std::path::PathBuf;

#[derive(Args)]
pub(super) struct InfoArgs {
    /// The model component (.wasm or .cwasm)
    model: PathBuf,
    /// Print as JSON
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: LimitArgs,
}

pub(super) fn run(args: InfoArgs) -> Result<()> {
    let runtime = args.limits.runtime(&[&args.model])?;
    let bytes = edgeinfer::runtime::read_model_file(&args.model)?;
    let metadata = load_model(&runtime, &args.model)?.metadata()?;
    let sha256 = edgeinfer::pack::sha256_hex(&bytes);
    if args.json {
        let mut value = serde_json::to_value(&metadata)?;
        value["bytes"] = bytes.len().into();
        value["sha256"] = sha256.into();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("name      {}", metadata.name);
    println!("version   {}", metadata.version);
    println!("engine    {}", metadata.engine);
    println!(
        "preinit   {}",
        if metadata.preinitialized {
            "yes"
        } else {
            "no (the model loads on the first call)"
        }
    );
    println!("size      {}", human_bytes(bytes.len() as u64));
    println!("sha256    {sha256}");
    print_io(&metadata);
    print_properties(&metadata);
    Ok(())
}

/// The model's properties, long values (a dictionary of 6000 characters) cut to one line;
/// `info --json` has them whole.
pub(super) fn print_properties(m: &Metadata) {
    if m.properties.is_empty() {
        return;
    }
    println!("properties");
    let width = m.properties.keys().map(|k| k.len()).max().unwrap_or(0);
    for (key, value) in &m.properties {
        println!("  {key:width$}  {}", one_line(value, 72));
    }
}

fn one_line(value: &str, max_chars: usize) -> String {
    let lines = value.lines().count();
    let flat: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let chars = flat.chars().count();
    if chars <= max_chars && lines <= 1 {
        return flat;
    }
    let head: String = flat.chars().take(max_chars).collect();
    format!("{head}... ({chars} characters, {lines} lines)")
}

/// The inputs and outputs as an aligned table.
pub(super) fn print_io(m: &Metadata) {
    let width = m
        .inputs
        .iter()
        .chain(&m.outputs)
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for (title, list) in [("inputs", &m.inputs), ("outputs", &m.outputs)] {
        println!("{title}");
        for t in list {
            println!(
                "  {:width$}  {:5}  {}",
                t.name,
                t.dtype.wit_name(),
                t.shape_string()
            );
        }
    }
}
