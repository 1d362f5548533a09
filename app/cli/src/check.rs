//! `sluice check PIPELINE_FILE`: validate a pipeline file before a run.
//!
//! It parses the file and builds its source (config errors name the key), validates the
//! destination config, connects and runs the destination's own check (no data is written), and
//! runs the source's own check (the Forter preset calls `GET /credentials/test`).

use crate::args::CheckArgs;
use crate::pipeline_file::{build_source, parse};
use anyhow::Context;
use sluice_core::{ConfigProvider, DestinationConfig};

/// Run the checks; the first failure is the error (the caller exits non-zero).
pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let path = &args.pipeline_file;
    let file = parse(path)?;
    let name = args
        .pipeline_name
        .clone()
        .or_else(|| file.name.clone())
        .unwrap_or_else(|| "sluice_pipeline".to_string());
    let working_dir = std::env::current_dir()?;
    let config = ConfigProvider::load(&working_dir)?;

    // The source: config and credentials are resolved, nothing is requested yet.
    let source_name = file.source_name_or(&name);
    let source = build_source(&file, &name, &config, path)?;
    println!("Pipeline file {} OK", path.display());

    // The destination: config validation, then connect + check.
    let destination = args
        .destination
        .clone()
        .or_else(|| file.destination.clone())
        .unwrap_or_else(|| "duckdb".to_string());
    let factory = sluice::registry().get(&destination)?;
    let dataset = args
        .dataset
        .clone()
        .or_else(|| file.dataset.clone())
        .unwrap_or_else(|| format!("{name}_data"));
    let dest_config = DestinationConfig {
        destination_name: factory.name().to_string(),
        pipeline_name: name.clone(),
        dataset_name: factory
            .capabilities()
            .table_naming()
            .normalize_identifier(&dataset),
        working_dir,
        section: config.section(&["destination", factory.name()]),
    };
    let validated = factory.validate(&dest_config)?;
    let mut dest = factory
        .connect(&validated)
        .await
        .with_context(|| format!("cannot connect to destination {destination}"))?;
    dest.check()
        .await
        .with_context(|| format!("destination {destination} check failed"))?;
    println!("Destination {destination} OK ({})", dest.location());

    // The source's own check (Forter: `GET /credentials/test`), where it has one.
    if let Some(what) = source
        .check()
        .await
        .with_context(|| format!("check of source {source_name} failed"))?
    {
        println!("Credentials OK for source {source_name}: {what}");
    }
    Ok(())
}
