//! Where batch records come from. The kind is told by the input path:
//!
//! - a directory of `.npy` files: one record per file (id = file stem), for a one-input model;
//! - a directory of folders: one record per folder (id = folder name) holding `<input>.npy`
//!   for each model input (input names made file-safe as `infer -o` does);
//! - a `.jsonl` file: one Open Inference Protocol v2 infer request body per line (id = the
//!   body's `id`, else the line number);
//! - a `.csv` file with a header row: one record per row; the numeric columns (`--columns`, or
//!   all but `id`) fill the model's one input (id = the `id` column, else the row number).
//!
//! Records are listed up front (cheap: ids and where their data is) and read by the workers.

use crate::npy::{file_stem_for, read_npy_file};
use crate::runtime::{Dim, Metadata};
use crate::{DType, Tensor};
use anyhow::{Context, Result, bail};
use edgeinfer_protocol::oip::{self, RequestedOutput};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    NpyFiles,
    NpyFolders,
    Jsonl,
    Csv,
}

impl InputKind {
    pub fn detect(path: &Path) -> Result<InputKind> {
        if path.is_dir() {
            let mut entries = std::fs::read_dir(path)
                .with_context(|| format!("reading {}", path.display()))?
                .filter_map(|e| e.ok())
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'));
            let folders = entries.any(|e| e.path().is_dir());
            return Ok(if folders {
                InputKind::NpyFolders
            } else {
                InputKind::NpyFiles
            });
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson") => Ok(InputKind::Jsonl),
            Some("csv") => Ok(InputKind::Csv),
            _ if !path.exists() => bail!("{} does not exist", path.display()),
            _ => bail!(
                "{}: batch input must be a directory of .npy files or record folders, a .jsonl \
                 file of OIP v2 requests, or a .csv file",
                path.display()
            ),
        }
    }
}

/// How to read one record's inputs.
#[derive(Clone, Debug)]
pub(crate) enum Locator {
    NpyFile(PathBuf),
    NpyFolder(PathBuf),
    /// A request body: a JSONL line, by position (bodies of large tensors stay on disk until
    /// a worker needs them).
    Request {
        offset: u64,
        len: usize,
    },
    /// CSV cells of the selected columns.
    Row(Vec<String>),
}

#[derive(Clone, Debug)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) locator: Locator,
}

/// A record's decoded inputs, and for OIP requests the outputs it asked for.
pub(crate) struct RecordInputs {
    pub(crate) tensors: Vec<Tensor>,
    pub(crate) outputs: Vec<RequestedOutput>,
}

pub(crate) struct Source {
    pub(crate) kind: InputKind,
    pub(crate) records: Vec<Record>,
    /// Input a `.npy` file or a CSV row fills.
    input: Option<(String, DType, Vec<usize>)>,
    /// CSV: the columns that make the input, in order.
    pub(crate) columns: Vec<String>,
    /// JSONL: the file the request lines are read from.
    jsonl: Option<std::fs::File>,
}

impl Source {
    pub(crate) fn open(
        path: &Path,
        metadata: &Metadata,
        input_name: Option<&str>,
        columns: Option<&[String]>,
    ) -> Result<Source> {
        let kind = InputKind::detect(path)?;
        let single_input = || -> Result<(String, DType, Vec<usize>)> {
            let spec = match input_name {
                Some(name) => metadata
                    .inputs
                    .iter()
                    .find(|i| i.name == name)
                    .with_context(|| format!("--input-name {name}: the model has no such input"))?,
                None if metadata.inputs.len() == 1 => &metadata.inputs[0],
                None => bail!(
                    "the model has {} inputs; a {} gives one per record, so name it with \
                     --input-name, or use a directory of record folders",
                    metadata.inputs.len(),
                    if kind == InputKind::Csv {
                        "CSV row"
                    } else {
                        ".npy file"
                    },
                ),
            };
            // Free dimensions of a one-record CSV input are 1.
            let shape = spec
                .shape
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n as usize,
                    Dim::Free(_) => 1,
                })
                .collect();
            Ok((spec.name.clone(), spec.dtype, shape))
        };
        let mut source = Source {
            kind,
            records: Vec::new(),
            input: None,
            columns: Vec::new(),
            jsonl: None,
        };
        match kind {
            InputKind::NpyFiles => {
                source.input = Some(single_input()?);
                source.records = list_dir(path, |p| {
                    p.is_file() && p.extension().is_some_and(|e| e == "npy")
                })?
                .into_iter()
                .map(|(id, p)| Record {
                    id,
                    locator: Locator::NpyFile(p),
                })
                .collect();
            }
            InputKind::NpyFolders => {
                source.records = list_dir(path, |p| p.is_dir())?
                    .into_iter()
                    .map(|(id, p)| Record {
                        id,
                        locator: Locator::NpyFolder(p),
                    })
                    .collect();
            }
            InputKind::Jsonl => {
                source.records = list_jsonl(path)?;
                source.jsonl = Some(std::fs::File::open(path)?);
            }
            InputKind::Csv => {
                let input = single_input()?;
                let (columns, records) = list_csv(path, columns, &input)?;
                source.input = Some(input);
                source.columns = columns;
                source.records = records;
            }
        }
        Ok(source)
    }

    /// Reads and decodes one record's inputs.
    pub(crate) fn read(&self, record: &Record, metadata: &Metadata) -> Result<RecordInputs> {
        let plain = |tensors| RecordInputs {
            tensors,
            outputs: Vec::new(),
        };
        match &record.locator {
            Locator::NpyFile(path) => {
                let (name, ..) = self.input.as_ref().expect("npy input");
                Ok(plain(vec![read_npy_file(path, name)?]))
            }
            Locator::NpyFolder(dir) => {
                let tensors = metadata
                    .inputs
                    .iter()
                    .map(|spec| {
                        let file = dir.join(format!("{}.npy", file_stem_for(&spec.name)));
                        if !file.exists() {
                            bail!("no {} for input `{}`", file.display(), spec.name);
                        }
                        read_npy_file(&file, &spec.name)
                    })
                    .collect::<Result<_>>()?;
                Ok(plain(tensors))
            }
            Locator::Request { offset, len } => {
                use std::os::unix::fs::FileExt;
                let mut line = vec![0; *len];
                let file = self.jsonl.as_ref().expect("jsonl input");
                file.read_exact_at(&mut line, *offset)?;
                let request = oip::decode_request(&line, None)?;
                Ok(RecordInputs {
                    tensors: request.inputs.into_iter().map(Tensor::from).collect(),
                    outputs: request.outputs,
                })
            }
            Locator::Row(cells) => {
                let (name, dtype, shape) = self.input.as_ref().expect("csv input");
                Ok(plain(vec![row_tensor(
                    cells,
                    &self.columns,
                    name,
                    *dtype,
                    shape,
                )?]))
            }
        }
    }
}

/// Entries of a directory that `keep` accepts, as (id, path), sorted by name.
fn list_dir(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<(String, PathBuf)>> {
    let mut entries: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| keep(p))
        .filter_map(|p| {
            let id = p.file_stem()?.to_string_lossy().to_string();
            (!id.starts_with('.')).then_some((id, p))
        })
        .collect();
    entries.sort();
    Ok(entries)
}

fn list_jsonl(path: &Path) -> Result<Vec<Record>> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::new();
    let (mut offset, mut line_no) = (0u64, 0usize);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        line_no += 1;
        let start = offset;
        offset += read as u64;
        let body = line.trim_ascii_end();
        if body.trim_ascii().is_empty() {
            continue;
        }
        // Only the id is read here; a line that is not JSON still becomes a record, which
        // fails with its reason in the error log instead of stopping the run.
        let id = serde_json::from_slice::<IdOnly>(body)
            .ok()
            .and_then(|v| match v.id {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
            .unwrap_or_else(|| line_no.to_string());
        if let Some(first) = seen.insert(id.clone(), line_no) {
            bail!(
                "{}: id `{id}` is on lines {first} and {line_no}; ids must be unique so a \
                 re-run knows which records are done",
                path.display()
            );
        }
        records.push(Record {
            id,
            locator: Locator::Request {
                offset: start,
                len: body.len(),
            },
        });
    }
    Ok(records)
}

/// The `id` of a request body, skipping its tensors without building them.
#[derive(serde::Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<serde_json::Value>,
}

type CsvListing = (Vec<String>, Vec<Record>);

fn list_csv(
    path: &Path,
    wanted: Option<&[String]>,
    input: &(String, DType, Vec<usize>),
) -> Result<CsvListing> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let header: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
    let id_column = header.iter().position(|h| h == "id");
    let columns: Vec<String> = match wanted {
        Some(cols) => cols.to_vec(),
        None => header.iter().filter(|h| *h != "id").cloned().collect(),
    };
    let indices = columns
        .iter()
        .map(|c| {
            header.iter().position(|h| h == c).with_context(|| {
                format!(
                    "{}: no column `{c}` (columns: {})",
                    path.display(),
                    header.join(", ")
                )
            })
        })
        .collect::<Result<Vec<usize>>>()?;
    let needed: usize = input.2.iter().product();
    if indices.len() != needed {
        bail!(
            "{}: {} columns selected but input `{}` of shape {:?} takes {needed} values; pick \
             them with --columns",
            path.display(),
            indices.len(),
            input.0,
            input.2
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row_no = i + 1;
        let row = row.with_context(|| format!("{}: row {row_no}", path.display()))?;
        let id = id_column
            .and_then(|c| row.get(c))
            .map(str::to_string)
            .unwrap_or_else(|| row_no.to_string());
        if let Some(first) = seen.insert(id.clone(), row_no) {
            bail!(
                "{}: id `{id}` is on rows {first} and {row_no}; ids must be unique",
                path.display()
            );
        }
        let cells = indices
            .iter()
            .map(|&c| row.get(c).unwrap_or_default().to_string())
            .collect();
        records.push(Record {
            id,
            locator: Locator::Row(cells),
        });
    }
    Ok((columns, records))
}

fn row_tensor(
    cells: &[String],
    columns: &[String],
    name: &str,
    dtype: DType,
    shape: &[usize],
) -> Result<Tensor> {
    let values = cells
        .iter()
        .zip(columns)
        .map(|(cell, column)| {
            cell.trim()
                .parse::<f64>()
                .with_context(|| format!("column `{column}`: `{cell}` is not a number"))
        })
        .collect::<Result<Vec<f64>>>()?;
    // The OIP codec converts numbers to any dtype with range checks.
    let body = serde_json::json!({
        "inputs": [{ "name": name, "shape": shape, "datatype": dtype.oip_name(), "data": values }]
    });
    let request = oip::decode_request(body.to_string().as_bytes(), None)?;
    Ok(request.inputs.into_iter().next().expect("one input").into())
}
