//! `sluice pipeline NAME …`: look into a pipeline's working dir and destination.

use crate::args::{PipelineArgs, PipelineCommand, SchemaFormat};
use anyhow::Context;
use sluice_pipeline::Pipeline;
use sluice_pipeline::package::{Package, list_packages};
use sluice_pipeline::paths::{PipelinePaths, pipelines_dir};
use sluice_pipeline::state::PipelineState;
use std::path::Path;

/// Run a pipeline subcommand.
pub async fn run(args: PipelineArgs) -> anyhow::Result<()> {
    let dir = pipelines_dir(args.pipelines_dir.as_deref())?;
    match args.command {
        PipelineCommand::Sync(sync) => crate::sync::run(&args.name, &dir, sync).await,
        PipelineCommand::Drop(drop) => crate::drop::run(&args.name, &dir, drop).await,
        command => inspect(&args.name, &dir, command).await,
    }
}

/// The subcommands that look into (or complete) an existing pipeline's working dir.
async fn inspect(name: &str, dir: &Path, command: PipelineCommand) -> anyhow::Result<()> {
    let paths = PipelinePaths::new(dir, name);
    if !paths.state_file().exists() && !paths.root.exists() {
        anyhow::bail!(
            "pipeline {} not found in {}: run it first, or pass --pipelines-dir",
            name,
            dir.display()
        );
    }
    let state = PipelineState::load(&paths.state_file(), name)?;
    match command {
        PipelineCommand::Info => info(&paths, &state),
        PipelineCommand::Show {
            rows,
            port,
            no_browser,
            export,
            text,
        } => {
            if text {
                show_text(name, dir, &paths, &state, rows).await
            } else {
                let options = crate::dashboard::ShowOptions {
                    rows,
                    port,
                    no_browser,
                    export,
                };
                crate::dashboard::show(name, dir, &paths, &state, options).await
            }
        }
        PipelineCommand::Schema { format, schema } => {
            let name = schema
                .or_else(|| state.default_schema_name.clone())
                .context("the pipeline has no schema yet: run it first")?;
            let text = std::fs::read_to_string(paths.schema_file(&name)).with_context(|| {
                format!(
                    "schema {name} not found in {}",
                    paths.schemas_dir().display()
                )
            })?;
            let schema = sluice_core::Schema::from_json(&text)?;
            println!("Found schema with name {name}");
            match format {
                SchemaFormat::Yaml => print!("{}", schema.to_yaml()?),
                SchemaFormat::Json => println!("{}", schema.to_json()?),
            }
            Ok(())
        }
        PipelineCommand::Trace => {
            match std::fs::read_to_string(paths.trace_file()) {
                Ok(t) => {
                    let info: sluice_pipeline::RunInfo = serde_json::from_str(&t)?;
                    println!(
                        "Last run of pipeline {} took {:.2}s",
                        info.pipeline_name,
                        info.elapsed.as_secs_f64()
                    );
                    print!("{info}");
                }
                Err(_) => println!("Pipeline does not have last run trace."),
            }
            Ok(())
        }
        PipelineCommand::LoadPackage { load_id } => {
            let mut all = list_packages(&paths.loaded_packages())?;
            all.extend(list_packages(&paths.normalized_packages())?);
            all.sort_by(|a, b| a.manifest.load_id.cmp(&b.manifest.load_id));
            let p = match load_id {
                Some(id) => all
                    .into_iter()
                    .find(|p| p.manifest.load_id == id)
                    .with_context(|| format!("load package {id} not found"))?,
                None => all.pop().context("the pipeline has no load packages")?,
            };
            print_package(&paths, &p)
        }
        PipelineCommand::LoadPending => {
            let mut pipeline = Pipeline::open(&sluice::registry(), name, Some(dir))?;
            let done = pipeline.load_pending().await?;
            if done.is_empty() {
                println!("No pending packages found");
            }
            for p in done {
                println!(
                    "Load package {} is LOADED and contains no failed jobs",
                    p.load_id
                );
            }
            Ok(())
        }
        // Dispatched by `run`; they work without a local working dir.
        PipelineCommand::Sync(_) | PipelineCommand::Drop(_) => Ok(()),
        PipelineCommand::DropPendingPackages => {
            let pending = list_packages(&paths.normalized_packages())?;
            if pending.is_empty() {
                println!("No pending packages found");
            }
            for p in pending {
                std::fs::remove_dir_all(&p.dir)?;
            }
            println!("Pending packages deleted");
            Ok(())
        }
    }
}

fn info(paths: &PipelinePaths, state: &PipelineState) -> anyhow::Result<()> {
    println!(
        "Found pipeline {} in {}",
        state.pipeline_name,
        paths
            .root
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    );
    println!("Synchronized state:");
    println!("_state_version: {}", state.version);
    println!("_version_hash: {}", state.version_hash);
    println!("pipeline_name: {}", state.pipeline_name);
    println!(
        "dataset_name: {}",
        state.dataset_name.as_deref().unwrap_or("-")
    );
    println!(
        "destination_name: {}",
        state.destination_name.as_deref().unwrap_or("-")
    );
    println!(
        "default_schema_name: {}",
        state.default_schema_name.as_deref().unwrap_or("-")
    );
    println!("schema_names: {}", state.schema_names.join(", "));
    println!(
        "sources: {}",
        state.sources.keys().cloned().collect::<Vec<_>>().join(", ")
    );
    println!("Local state:");
    println!(
        "last_load_id: {}",
        state.local.last_load_id.as_deref().unwrap_or("-")
    );
    for name in &state.schema_names {
        let Ok(text) = std::fs::read_to_string(paths.schema_file(name)) else {
            continue;
        };
        let schema = sluice_core::Schema::from_json(&text)?;
        println!("Resources in schema: {name}");
        for root in schema.data_tables().filter(|t| t.parent.is_none()) {
            let nested = schema.nested_tables(&root.name);
            println!(
                "{} with {} table(s) and {} column(s), write disposition {}",
                root.resource.as_deref().unwrap_or(&root.name),
                nested.len() + 1,
                std::iter::once(root)
                    .chain(nested.iter().copied())
                    .map(|t| t.columns.len())
                    .sum::<usize>(),
                schema.write_disposition(&root.name).as_str()
            );
        }
    }
    println!("Working dir content:");
    let pending = list_packages(&paths.normalized_packages())?;
    println!(
        "Has {} normalized packages ready to be loaded with following load ids:",
        pending.len()
    );
    for p in &pending {
        println!("{}", p.manifest.load_id);
    }
    if !pending.is_empty() {
        println!(
            "Pending packages are loaded by the next run, or now with `sluice pipeline {} load-pending`.",
            state.pipeline_name
        );
    }
    let loaded = list_packages(&paths.loaded_packages())?;
    println!(
        "Has {} completed load packages with following load ids:",
        loaded.len()
    );
    for p in &loaded {
        println!("{}", p.manifest.load_id);
    }
    Ok(())
}

fn print_package(paths: &PipelinePaths, p: &Package) -> anyhow::Result<()> {
    let status = if p.dir.starts_with(paths.loaded_packages()) {
        "LOADED"
    } else {
        "NORMALIZED (pending)"
    };
    println!(
        "Package {} found in {}",
        p.manifest.load_id,
        p.dir.display()
    );
    println!(
        "The package with load id {} for schema {} is in {} state",
        p.manifest.load_id, p.manifest.schema_name, status
    );
    println!("Created at {}", p.manifest.created_at);
    for (table, files) in &p.manifest.tables {
        for f in &files.files {
            let size = std::fs::metadata(p.dir.join(f))
                .map(|m| m.len())
                .unwrap_or(0);
            println!("Job: {f}, table: {table}, size: {size} bytes");
        }
        println!("Table {table}: {} row(s)", files.rows);
    }
    let changes = p.changes()?;
    println!("Schema changes: {}", changes.len());
    for c in changes {
        println!(
            "- {} {}",
            match c {
                sluice_core::SchemaChange::CreateTable { .. } => "create table",
                sluice_core::SchemaChange::AddColumns { .. } => "add columns to",
            },
            c.table_name()
        );
    }
    Ok(())
}

async fn show_text(
    name: &str,
    dir: &std::path::Path,
    paths: &PipelinePaths,
    state: &PipelineState,
    rows: usize,
) -> anyhow::Result<()> {
    let pipeline = Pipeline::open(&sluice::registry(), name, Some(dir))?;
    let mut dataset = pipeline.dataset().await?;
    println!(
        "Dataset {} at destination {}",
        dataset.name(),
        pipeline.destination_name()
    );
    for schema_name in &state.schema_names {
        let Ok(text) = std::fs::read_to_string(paths.schema_file(schema_name)) else {
            continue;
        };
        let schema = sluice_core::Schema::from_json(&text)?;
        for table in schema
            .data_tables()
            .filter(|t| t.complete_columns().next().is_some())
        {
            let count = dataset.row_count(&table.name).await?;
            println!("\n{}: {count} row(s)", table.name);
            if rows > 0 && count > 0 {
                let sql = format!(
                    "SELECT * FROM {} LIMIT {rows}",
                    dataset.qualified_table(&table.name)
                );
                let batches = dataset.query(&sql).await?;
                crate::output::print_batches(&batches, crate::output::Format::Table)?;
            }
        }
    }
    Ok(())
}
