//! Pipeline files: `[pipeline]` (name, destination, dataset) and `[source]` (its `type`, its
//! `name`, and the rest for the source type's factory, see `sluice::sources()`).

use anyhow::{Context, bail};
use sluice_core::{ConfigProvider, Source};
use std::path::Path;

const PIPELINE_KEYS: &[&str] = &[
    "name",
    "destination",
    "dataset",
    "dataset_name",
    "pipelines_dir",
];

/// The parts of a pipeline file.
pub(crate) struct PipelineFile {
    /// `[pipeline] name`.
    pub(crate) name: Option<String>,
    /// `[pipeline] destination`.
    pub(crate) destination: Option<String>,
    /// `[pipeline] dataset` (or `dataset_name`).
    pub(crate) dataset: Option<String>,
    /// `[source] type`.
    pub(crate) source_type: String,
    /// `[source] name`.
    pub(crate) source_name: Option<String>,
    /// The rest of `[source]`.
    pub(crate) source: toml::Table,
}

impl PipelineFile {
    /// The source name: `[source] name`, else the pipeline name (its secrets section).
    pub(crate) fn source_name_or(&self, pipeline_name: &str) -> String {
        self.source_name
            .clone()
            .unwrap_or_else(|| pipeline_name.to_string())
    }
}

/// Read and validate a pipeline file.
pub(crate) fn parse(path: &Path) -> anyhow::Result<PipelineFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read pipeline file {}", path.display()))?;
    let mut doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        anyhow::anyhow!(
            "pipeline file {} is not valid TOML: {}",
            path.display(),
            e.message()
        )
    })?;
    for key in doc.keys() {
        if key != "pipeline" && key != "source" {
            bail!(
                "unknown section [{key}] in {}: expected [pipeline] and [source]",
                path.display()
            );
        }
    }
    let pipeline = match doc.remove("pipeline") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => bail!("[pipeline] in {} must be a table", path.display()),
        None => toml::Table::new(),
    };
    for key in pipeline.keys() {
        if !PIPELINE_KEYS.contains(&key.as_str()) {
            bail!(
                "unknown key '{key}' in [pipeline] of {}: expected one of {}",
                path.display(),
                PIPELINE_KEYS.join(", ")
            );
        }
    }
    let get = |k: &str| pipeline.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let mut source = match doc.remove("source") {
        Some(toml::Value::Table(t)) => t,
        _ => bail!("{} has no [source] section", path.display()),
    };
    let source_type = match source.remove("type") {
        Some(toml::Value::String(s)) => s,
        _ => bail!(
            "[source] in {} needs a `type`: one of {}",
            path.display(),
            sluice::sources().types().collect::<Vec<_>>().join(", ")
        ),
    };
    let source_name = match source.remove("name") {
        Some(toml::Value::String(s)) => Some(s),
        None => None,
        Some(_) => bail!("[source] name in {} must be a string", path.display()),
    };
    Ok(PipelineFile {
        name: get("name"),
        destination: get("destination"),
        dataset: get("dataset").or_else(|| get("dataset_name")),
        source_type,
        source_name,
        source,
    })
}

/// Build the source of the file through the source registry (`type` picks the factory).
pub(crate) fn build_source(
    file: &PipelineFile,
    pipeline_name: &str,
    config: &ConfigProvider,
    path: &Path,
) -> anyhow::Result<Box<dyn Source>> {
    let name = file.source_name_or(pipeline_name);
    let secrets = config.section(&["sources", &name]);
    let factory = sluice::sources()
        .get(&file.source_type)
        .with_context(|| format!("[source] type of {}", path.display()))?;
    factory
        .build(&name, toml::Value::Table(file.source.clone()), &secrets)
        .with_context(|| format!("[source] of {}", path.display()))
}
