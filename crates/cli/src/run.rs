//! `sluice run PIPELINE_FILE`: a pipeline described in TOML.
//!
//! ```toml
//! [pipeline]
//! name = "shop"               # pipeline name
//! destination = "duckdb"      # any registered destination
//! dataset = "shop_data"       # optional
//!
//! [source]
//! type = "rest_api"           # dlt's rest_api source
//! name = "shop_source"        # secrets come from [sources.shop_source] / SOURCES__SHOP_SOURCE__…
//! [source.client]
//! base_url = "https://api.example.com/"
//! …
//! ```

use crate::cli::RunArgs;
use anyhow::{Context, bail};
use sluice_core::{ConfigProvider, Source};
use sluice_pipeline::{Pipeline, PipelineOptions};
use sluice_rest::Progress;
use std::path::Path;
use std::sync::Arc;

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
        _ => bail!("[source] in {} needs `type = \"rest_api\"`", path.display()),
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

/// A source and, when it has them, its progress counters.
pub(crate) type BuiltSource = (Box<dyn Source>, Option<Arc<Progress>>);

/// Build the source named in the file, with its progress counters when it has them.
pub(crate) fn build_source(
    file: &PipelineFile,
    pipeline_name: &str,
    config: &ConfigProvider,
    path: &Path,
) -> anyhow::Result<BuiltSource> {
    let name = file.source_name_or(pipeline_name);
    let secrets = config.section(&["sources", &name]);
    match file.source_type.as_str() {
        "rest_api" => {
            let source = sluice_rest::RestApiSource::from_toml(
                &name,
                toml::Value::Table(file.source.clone()),
                &secrets,
            )
            .with_context(|| format!("[source] of {}", path.display()))?;
            let progress = source.progress();
            Ok((Box::new(source), Some(progress)))
        }
        "forter" => {
            let source = sluice_forter::forter_source_from_toml(
                &name,
                toml::Value::Table(file.source.clone()),
                &secrets,
            )
            .with_context(|| format!("[source] of {}", path.display()))?;
            let progress = source.progress();
            Ok((Box::new(source), Some(progress)))
        }
        other => bail!(
            "unknown source type '{other}' in {}: supported: rest_api, forter",
            path.display()
        ),
    }
}

/// Run the pipeline file (`quiet`: no progress line).
pub async fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let file = parse(&args.pipeline_file)?;
    let name = args
        .pipeline_name
        .clone()
        .or_else(|| file.name.clone())
        .unwrap_or_else(|| "sluice_pipeline".to_string());
    let destination = args
        .destination
        .clone()
        .or_else(|| file.destination.clone())
        .unwrap_or_else(|| "duckdb".to_string());
    let mut dataset = args.dataset.clone().or_else(|| file.dataset.clone());
    let working_dir = std::env::current_dir()?;
    let config = ConfigProvider::load(&working_dir)?;
    let mut options = PipelineOptions::new(&name, &destination);
    options.pipelines_dir = args.pipelines_dir.clone();
    options.config = Some(config.clone());
    if args.full_refresh {
        let base = dataset.clone().unwrap_or_else(|| format!("{name}_data"));
        dataset = Some(format!(
            "{base}_{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S")
        ));
        options.reset_state = true;
    }
    options.dataset_name = dataset;
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;
    let (source, progress) = build_source(&file, &name, &config, &args.pipeline_file)?;
    let display = crate::progress::show(progress, pipeline.progress(), quiet);
    let result = pipeline.run(source).await;
    crate::progress::finish(display);
    let info = result.with_context(|| format!("pipeline {name} failed"))?;
    print!("{info}");
    Ok(())
}
