//! `sluice run PIPELINE_FILE`: a pipeline described in TOML.
//!
//! ```toml
//! [pipeline]
//! name = "shop"               # pipeline name
//! destination = "duckdb"      # any registered destination
//! dataset = "shop_data"       # optional
//!
//! [source]
//! type = "rest_api"           # dlt's rest_api source (or "forter")
//! name = "shop_source"        # secrets come from [sources.shop_source] / SOURCES__SHOP_SOURCE__…
//! [source.client]
//! base_url = "https://api.example.com/"
//! …
//! ```

use crate::args::RunArgs;
use crate::pipeline_file::{build_source, parse};
use anyhow::Context;
use sluice_core::ConfigProvider;
use sluice_pipeline::{Pipeline, PipelineOptions};

/// Run the pipeline file (`quiet`: no progress line).
pub async fn run(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    if args.partition.is_some() {
        return crate::partition::run_partition(args, quiet).await;
    }
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
    options.lock_wait = args.wait.map(std::time::Duration::from_secs);
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
    let source = build_source(&file, &name, &config, &args.pipeline_file)?;
    let display = crate::progress::show(source.counters(), pipeline.progress(), quiet);
    let result = pipeline.run(source).await;
    crate::progress::finish(display);
    let info = result.with_context(|| format!("pipeline {name} failed"))?;
    print!("{info}");
    Ok(())
}
