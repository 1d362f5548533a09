//! Partitioned runs on the command line: `sluice run FILE --partition K/N` extracts one share
//! into a package, `sluice commit FILE --partitions N` loads every partition's packages (see
//! `sluice_pipeline::partition` for the working dirs, the split and the commit).

use crate::args::RunArgs;
use crate::pipeline_file::{PipelineFile, build_source, parse};
use anyhow::{Context, bail};
use clap::Args;
use sluice_core::ConfigProvider;
use sluice_pipeline::partition::{
    CommitOptions, PartitionId, PartitionOutcome, commit_partitions, partition_options,
};
use sluice_pipeline::{Pipeline, PipelineOptions};
use std::path::{Path, PathBuf};

pub use sluice_pipeline::partition::PARTITION_ENV;

/// `sluice commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The pipeline file (TOML) the partitions ran.
    pub pipeline_file: PathBuf,
    /// How many partitions the run had (the N of --partition K/N).
    #[arg(long, value_name = "N")]
    pub partitions: u32,
    /// Commit the partitions that have packages even when others have none.
    #[arg(long)]
    pub allow_missing: bool,
    /// Destination name; wins over `[pipeline] destination`.
    #[arg(long)]
    pub destination: Option<String>,
    /// Dataset name; wins over `[pipeline] dataset`.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Pipeline name; wins over `[pipeline] name`.
    #[arg(long)]
    pub pipeline_name: Option<String>,
    /// Folder of pipeline working dirs (shared by all partitions).
    #[arg(long, env = "SLUICE_PIPELINES_DIR")]
    pub pipelines_dir: Option<PathBuf>,
    /// When a partition's lock is held (it still runs), wait up to SECONDS for it.
    #[arg(long, value_name = "SECONDS")]
    pub wait: Option<u64>,
}

/// The options of the unpartitioned pipeline of a file, and the file.
struct Base {
    file: PipelineFile,
    options: PipelineOptions,
    config: ConfigProvider,
}

fn base_options(
    path: &Path,
    pipeline_name: Option<&String>,
    destination: Option<&String>,
    dataset: Option<&String>,
    pipelines_dir: Option<&PathBuf>,
    wait: Option<u64>,
) -> anyhow::Result<Base> {
    let file = parse(path)?;
    let name = pipeline_name
        .cloned()
        .or_else(|| file.name.clone())
        .unwrap_or_else(|| "sluice_pipeline".to_string());
    let destination = destination
        .cloned()
        .or_else(|| file.destination.clone())
        .unwrap_or_else(|| "duckdb".to_string());
    let config = ConfigProvider::load(&std::env::current_dir()?)?;
    let mut options = PipelineOptions::new(&name, &destination);
    options.dataset_name = dataset.cloned().or_else(|| file.dataset.clone());
    options.pipelines_dir = pipelines_dir.cloned();
    options.lock_wait = wait.map(std::time::Duration::from_secs);
    options.config = Some(config.clone());
    Ok(Base {
        file,
        options,
        config,
    })
}

/// `sluice run FILE --partition K/N [--run-id ID]`.
pub async fn run_partition(args: RunArgs, quiet: bool) -> anyhow::Result<()> {
    let text = args.partition.as_deref().unwrap_or_default();
    let part = PartitionId::parse(text)?;
    if args.full_refresh {
        bail!(
            "--full-refresh cannot be combined with --partition: every partition would load \
             into a dataset of its own"
        );
    }
    let base = base_options(
        &args.pipeline_file,
        args.pipeline_name.as_ref(),
        args.destination.as_ref(),
        args.dataset.as_ref(),
        args.pipelines_dir.as_ref(),
        args.wait,
    )?;
    let options = partition_options(&base.options, part)?;
    let name = options.name.clone();
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;
    // The source keeps the unpartitioned pipeline's name: its schema and secrets are shared.
    let source = build_source(
        &base.file,
        &base.options.name,
        &base.config,
        &args.pipeline_file,
    )?;
    let display = crate::progress::show(source.counters(), pipeline.progress(), quiet);
    let result = pipeline
        .extract_partition(source, part, args.run_id.as_deref())
        .await;
    crate::progress::finish(display);
    let outcome = result.with_context(|| format!("partition {part} (pipeline {name}) failed"))?;
    let run = args
        .run_id
        .as_deref()
        .map(|id| format!(" of run {id}"))
        .unwrap_or_default();
    match outcome {
        PartitionOutcome::Extracted { package, warnings } => {
            let rows: u64 = package.rows.values().sum();
            println!(
                "Partition {part} (pipeline {name}) extracted {rows} row(s) into package {}{run}: \
                 load it with `sluice commit {} --partitions {}`",
                package.load_id,
                args.pipeline_file.display(),
                part.n
            );
            for (table, n) in &package.rows {
                println!("  {table}: {n} row(s)");
            }
            for w in warnings {
                println!("warning: {w}");
            }
        }
        PartitionOutcome::AlreadyPending { load_id } => println!(
            "Partition {part} (pipeline {name}) already has package {load_id}{run} waiting for \
             the commit: nothing to do"
        ),
        PartitionOutcome::AlreadyCommitted { load_id } => println!(
            "Partition {part} (pipeline {name}) already made package {load_id}{run} and it was \
             committed: nothing to do"
        ),
    }
    Ok(())
}

/// `sluice commit FILE --partitions N`.
pub async fn commit(args: CommitArgs) -> anyhow::Result<()> {
    let base = base_options(
        &args.pipeline_file,
        args.pipeline_name.as_ref(),
        args.destination.as_ref(),
        args.dataset.as_ref(),
        args.pipelines_dir.as_ref(),
        args.wait,
    )?;
    let name = base.options.name.clone();
    let options = CommitOptions {
        allow_missing: args.allow_missing,
    };
    let report = commit_partitions(&sluice::registry(), &base.options, args.partitions, options)
        .await
        .with_context(|| format!("commit of pipeline {name} failed"))?;
    let mut total = 0;
    for p in &report {
        let head = format!("partition {} (pipeline {})", p.partition, p.pipeline_name);
        for id in &p.finished_earlier {
            println!("{head}: package {id} was loaded by an earlier commit");
        }
        for pkg in &p.packages {
            total += 1;
            let rows: u64 = pkg.rows.values().sum();
            let how = if pkg.already_loaded {
                "was already at the destination (not written again)"
            } else {
                "loaded"
            };
            println!("{head}: package {} {how}, {rows} row(s)", pkg.load_id);
        }
        if p.missing && p.finished_earlier.is_empty() {
            println!("{head}: no package");
        }
    }
    if total == 0 && report.iter().all(|p| p.finished_earlier.is_empty()) {
        println!("Nothing to commit: no partition of pipeline {name} has a pending package");
    } else {
        println!(
            "Committed {total} package(s) of {} partition(s) of pipeline {name}",
            args.partitions
        );
    }
    Ok(())
}
