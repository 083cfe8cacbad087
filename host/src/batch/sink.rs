//! Where batch results go, and how a re-run knows what is done. Every record's output appears
//! whole or not at all:
//!
//! - `.npy` output: a folder per record, written under a temporary name and renamed into
//!   place, so a folder that exists is complete;
//! - `.jsonl` / `.csv` output: one line per record, appended by one writer in a single write;
//!   a re-run drops a torn last line (a kill mid-write) and skips the ids it finds.

use super::source::InputKind;
use crate::Tensor;
use crate::npy::{file_stem_for, write_npy_file};
use anyhow::{Context, Result, bail};
use edgeinfer_protocol::oip::{self, InferRequest, RequestedOutput};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    NpyDir,
    Jsonl,
    Csv,
}

pub(crate) struct Sink {
    format: Format,
    path: PathBuf,
    file: Option<File>,
    done: HashSet<String>,
    model_name: String,
    model_version: String,
    csv_header_written: bool,
}

impl Sink {
    /// Opens the output matching the input kind and reads which records it already holds.
    pub(crate) fn open(
        path: &Path,
        input: InputKind,
        model_name: &str,
        model_version: &str,
    ) -> Result<Sink> {
        let format = match input {
            InputKind::NpyFiles | InputKind::NpyFolders => Format::NpyDir,
            InputKind::Jsonl => Format::Jsonl,
            InputKind::Csv => Format::Csv,
        };
        let mut sink = Sink {
            format,
            path: path.to_path_buf(),
            file: None,
            done: HashSet::new(),
            model_name: model_name.into(),
            model_version: model_version.into(),
            csv_header_written: false,
        };
        match format {
            Format::NpyDir => sink.open_dir()?,
            Format::Jsonl | Format::Csv => sink.open_lines()?,
        }
        Ok(sink)
    }

    pub(crate) fn is_done(&self, id: &str) -> bool {
        self.done.contains(&self.key(id))
    }

    /// Record folders are named after a file-safe form of the id.
    fn key(&self, id: &str) -> String {
        match self.format {
            Format::NpyDir => file_stem_for(id),
            Format::Jsonl | Format::Csv => id.to_string(),
        }
    }

    fn open_dir(&mut self) -> Result<()> {
        if self.path.exists() && !self.path.is_dir() {
            bail!("{} exists and is not a directory", self.path.display());
        }
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        for entry in std::fs::read_dir(&self.path)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(".tmp-") {
                // Left by a killed run: the record was not finished.
                let _ = std::fs::remove_dir_all(entry.path());
            } else if entry.path().is_dir() {
                match torn_npy(&entry.path()) {
                    None => {
                        self.done.insert(name);
                    }
                    Some(file) => {
                        // Not ours to delete: set aside, and the record runs again.
                        let aside = self
                            .path
                            .join(format!(".torn-{name}-{}", std::process::id()));
                        tracing::warn!(
                            "{}: {} is torn (shorter than its header says); moved the folder to {} \
                             and the record runs again",
                            self.path.display(),
                            file.display(),
                            aside.display()
                        );
                        std::fs::rename(entry.path(), &aside)
                            .with_context(|| format!("moving aside {}", entry.path().display()))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn open_lines(&mut self) -> Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("opening {}", self.path.display()))?;
        let mut complete_len = 0u64;
        let mut first = true;
        for line in BufReader::new(&file).split(b'\n') {
            let line = line?;
            // `split` cannot tell whether the last piece had its newline; the length can.
            let end = complete_len + line.len() as u64 + 1;
            if end > file.metadata()?.len() {
                break;
            }
            complete_len = end;
            let text = String::from_utf8_lossy(&line);
            match self.format {
                Format::Jsonl => {
                    match serde_json::from_str::<serde_json::Value>(&text)
                        .ok()
                        .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_string)))
                    {
                        Some(id) => {
                            self.done.insert(id);
                        }
                        None => tracing::warn!(
                            "{}: a line at byte {} is not a result with an id; kept as it is",
                            self.path.display(),
                            complete_len - line.len() as u64 - 1
                        ),
                    }
                }
                Format::Csv => {
                    if first {
                        self.csv_header_written = true;
                    } else if let Some(id) = csv_first_field(&text) {
                        self.done.insert(id);
                    }
                }
                Format::NpyDir => unreachable!(),
            }
            first = false;
        }
        if complete_len < file.metadata()?.len() {
            tracing::warn!(
                "{}: dropping a torn last line left by an interrupted run",
                self.path.display()
            );
            file.set_len(complete_len)?;
        }
        file.seek(SeekFrom::End(0))?;
        self.file = Some(file);
        Ok(())
    }

    /// Writes one record's outputs (all of them, or those its request asked for).
    pub(crate) fn write(
        &mut self,
        id: &str,
        outputs: Vec<Tensor>,
        requested: &[RequestedOutput],
    ) -> Result<()> {
        match self.format {
            Format::NpyDir => self.write_npy_dir(id, &outputs)?,
            Format::Jsonl => {
                let request = InferRequest {
                    id: Some(id.to_string()),
                    inputs: Vec::new(),
                    outputs: requested
                        .iter()
                        .map(|o| RequestedOutput {
                            name: o.name.clone(),
                            binary: Some(false),
                        })
                        .collect(),
                    binary_output: false,
                };
                let outputs: Vec<oip::Tensor> = outputs.into_iter().map(Into::into).collect();
                let mut line = oip::encode_response(
                    &self.model_name,
                    &self.model_version,
                    &request,
                    &outputs,
                )?
                .body;
                line.push(b'\n');
                self.append(&line)?;
            }
            Format::Csv => {
                let mut text = String::new();
                if !self.csv_header_written {
                    text.push_str(&csv_line(
                        std::iter::once("id".to_string()).chain(csv_columns(&outputs)),
                    ));
                    self.csv_header_written = true;
                }
                let values = outputs
                    .iter()
                    .flat_map(|t| t.to_f64_lossy())
                    .map(|v| v.to_string());
                text.push_str(&csv_line(std::iter::once(id.to_string()).chain(values)));
                self.append(text.as_bytes())?;
            }
        }
        self.done.insert(self.key(id));
        Ok(())
    }

    fn write_npy_dir(&self, id: &str, outputs: &[Tensor]) -> Result<()> {
        let folder = self.path.join(file_stem_for(id));
        let tmp = self
            .path
            .join(format!(".tmp-{}-{}", file_stem_for(id), std::process::id()));
        let written = (|| {
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            for t in outputs {
                write_npy_file(t, &tmp.join(format!("{}.npy", file_stem_for(&t.name))))?;
            }
            std::fs::rename(&tmp, &folder)
                .with_context(|| format!("moving outputs into {}", folder.display()))
        })();
        if written.is_err() {
            // Half a record's files; a re-run would remove them too.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        written
    }

    fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let file = self.file.as_mut().expect("line output is open");
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(bytes).and_then(|()| file.flush()) {
            // A full disk can take part of a line: cut it off, so the file stays whole lines
            // and the next run appends after the last complete record.
            let _ = file.set_len(before);
            return Err(e).with_context(|| format!("appending to {}", self.path.display()));
        }
        Ok(())
    }

    /// Makes the appended lines durable (end of run).
    pub(crate) fn sync(&mut self) -> Result<()> {
        if let Some(file) = &self.file {
            file.sync_data()?;
        }
        Ok(())
    }
}

/// The first `.npy` of a record folder that is not whole (its length is not what its header
/// says: a disk that filled up under an older writer, a copy cut short).
fn torn_npy(folder: &Path) -> Option<PathBuf> {
    let whole = |path: &Path| -> Option<bool> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut head = Vec::with_capacity(4096);
        file.take(4096).read_to_end(&mut head).ok()?;
        let want = edgeinfer_protocol::npy::expected_file_len(&head).ok()?;
        Some(len == want)
    };
    std::fs::read_dir(folder)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npy"))
        .find(|p| whole(p) != Some(true))
}

/// `probs_0, probs_1...` for each element of each output (`probs` for a one-element output).
fn csv_columns(outputs: &[Tensor]) -> Vec<String> {
    outputs
        .iter()
        .flat_map(|t| {
            let n = t.len();
            (0..n).map(move |i| {
                if n == 1 {
                    t.name.clone()
                } else {
                    format!("{}_{i}", t.name)
                }
            })
        })
        .collect()
}

fn csv_line(fields: impl Iterator<Item = String>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(fields.collect::<Vec<_>>())
        .expect("writing CSV to memory");
    String::from_utf8(writer.into_inner().expect("flushing CSV to memory")).expect("CSV is UTF-8")
}

fn csv_first_field(line: &str) -> Option<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = reader.records().next()?.ok()?;
    record.get(0).map(str::to_string)
}
