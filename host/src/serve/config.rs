//! What `edgeinfer serve` serves: model specs from the command line (`[NAME[@VERSION]=]PATH`,
//! a directory of `.wasm` files) or a TOML file, and traffic weights.

use super::batcher::BatchPolicy;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One model file to serve. `name`/`version` override the packed ones for routing.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub path: PathBuf,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// Share of the traffic to the model's unversioned routes (relative to its other versions).
    #[serde(default)]
    pub weight: Option<u32>,
    /// This model's `--max-batch` (serve.toml only).
    #[serde(default)]
    pub max_batch: Option<u64>,
    /// This model's `--batch-window-ms` (serve.toml only).
    #[serde(default)]
    pub batch_window_ms: Option<f64>,
}

impl ModelSpec {
    /// Parses `PATH`, `NAME=PATH` or `NAME@VERSION=PATH`.
    pub fn parse(spec: &str) -> Result<ModelSpec> {
        let (label, path) = match spec.split_once('=') {
            Some((label, path)) => (Some(label), path),
            None => (None, spec),
        };
        if path.is_empty() {
            bail!("model spec `{spec}` has no path (expected [NAME[@VERSION]=]PATH)");
        }
        let (name, version) = match label {
            None => (None, None),
            Some(label) => match label.split_once('@') {
                Some((n, v)) => (Some(n), Some(v)),
                None => (Some(label), None),
            },
        };
        let non_empty = |s: Option<&str>, what: &str| -> Result<Option<String>> {
            match s {
                Some("") => bail!("model spec `{spec}` has an empty {what}"),
                other => Ok(other.map(str::to_string)),
            }
        };
        Ok(ModelSpec {
            path: PathBuf::from(path),
            name: non_empty(name, "name")?,
            version: non_empty(version, "version")?,
            ..ModelSpec::default()
        })
    }

    /// The server's batching, with what this model sets itself.
    pub(crate) fn batching(&self, server: BatchPolicy) -> BatchPolicy {
        BatchPolicy {
            max_batch: self.max_batch.unwrap_or(server.max_batch),
            window: self
                .batch_window_ms
                .map_or(server.window, |ms| Duration::from_secs_f64(ms / 1e3)),
        }
    }
}

/// A traffic weight: `NAME@VERSION=WEIGHT`.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightSpec {
    pub name: String,
    pub version: String,
    pub weight: u32,
}

impl WeightSpec {
    pub fn parse(spec: &str) -> Result<WeightSpec> {
        let usage = || format!("weight `{spec}` must look like NAME@VERSION=WEIGHT, e.g. cls@2=10");
        let (label, weight) = spec.split_once('=').with_context(usage)?;
        let (name, version) = label.split_once('@').with_context(usage)?;
        let weight = weight.parse().with_context(usage)?;
        if name.is_empty() || version.is_empty() {
            bail!(usage());
        }
        Ok(WeightSpec {
            name: name.into(),
            version: version.into(),
            weight,
        })
    }
}

/// The `serve.toml` file: the same settings as the flags.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub max_concurrency: Option<usize>,
    pub max_body_mib: Option<usize>,
    pub deadline_secs: Option<f64>,
    pub memory_limit_mib: Option<usize>,
    pub reload_interval_secs: Option<f64>,
    /// `--reuse-instances`.
    pub reuse_instances: Option<bool>,
    /// `--max-batch`, for every model that does not set its own.
    pub max_batch: Option<u64>,
    /// `--batch-window-ms`, likewise.
    pub batch_window_ms: Option<f64>,
    #[serde(default)]
    pub models: Vec<ModelSpec>,
}

impl FileConfig {
    pub fn read(path: &Path) -> Result<FileConfig> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: FileConfig =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        // Model paths are relative to the config file.
        let base = path.parent().unwrap_or(Path::new("."));
        for model in &mut config.models {
            if model.path.is_relative() {
                model.path = base.join(&model.path);
            }
        }
        Ok(config)
    }
}

/// Expands specs whose path is a directory into one spec per `.wasm` file in it (sorted).
pub fn expand_directories(specs: Vec<ModelSpec>) -> Result<Vec<ModelSpec>> {
    let mut out = Vec::new();
    for spec in specs {
        if !spec.path.is_dir() {
            out.push(spec);
            continue;
        }
        if spec.name.is_some() {
            bail!(
                "{} is a directory: a name or version applies to one file",
                spec.path.display()
            );
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(&spec.path)
            .with_context(|| format!("reading {}", spec.path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
            .collect();
        files.sort();
        if files.is_empty() {
            bail!("no .wasm files in {}", spec.path.display());
        }
        // Each file keeps the directory's batching; names and versions are its own.
        out.extend(files.into_iter().map(|path| ModelSpec {
            path,
            name: None,
            version: None,
            weight: None,
            ..spec.clone()
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_specs() {
        let s = ModelSpec::parse("cls@2=v2/cls.wasm").unwrap();
        assert_eq!(
            (s.name.as_deref(), s.version.as_deref()),
            (Some("cls"), Some("2"))
        );
        assert_eq!(s.path, PathBuf::from("v2/cls.wasm"));
        assert_eq!(ModelSpec::parse("a.wasm").unwrap().name, None);
        assert_eq!(
            ModelSpec::parse("cls=a.wasm").unwrap().name.as_deref(),
            Some("cls")
        );
        assert!(ModelSpec::parse("cls=").is_err());
        assert!(ModelSpec::parse("@1=a.wasm").is_err());
    }

    #[test]
    fn weight_specs() {
        let w = WeightSpec::parse("cls@2=10").unwrap();
        assert_eq!(
            (w.name.as_str(), w.version.as_str(), w.weight),
            ("cls", "2", 10)
        );
        assert!(WeightSpec::parse("cls=10").is_err());
        assert!(WeightSpec::parse("cls@2=ten").is_err());
    }

    #[test]
    fn toml_config() {
        let config: FileConfig = toml::from_str(
            "listen = '127.0.0.1:9000'\n[[models]]\npath = 'a.wasm'\nname = 'cls'\nversion = '1'\nweight = 90\n",
        )
        .unwrap();
        assert_eq!(config.models[0].weight, Some(90));
        assert!(toml::from_str::<FileConfig>("[[models]]\npth = 'a'\n").is_err());
    }

    #[test]
    fn a_model_may_set_its_own_batching() {
        let config: FileConfig = toml::from_str(
            "max_batch = 8\n[[models]]\npath = 'a.wasm'\n[[models]]\npath = 'b.wasm'\nmax_batch = 1\nbatch_window_ms = 5\n",
        )
        .unwrap();
        let server = BatchPolicy {
            max_batch: config.max_batch.unwrap(),
            window: Duration::from_millis(2),
        };
        assert_eq!(config.models[0].batching(server), server);
        let own = config.models[1].batching(server);
        assert_eq!((own.max_batch, own.window), (1, Duration::from_millis(5)));
    }
}
