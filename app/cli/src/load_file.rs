//! `sluice load-file`.

use crate::args::{Contract, Disposition, LoadFileArgs};
use anyhow::Context;
use sluice_core::{ContractMode, ResourceHints, SchemaContract, WriteDisposition};
use sluice_pipeline::{FileSource, Pipeline, PipelineOptions};

/// Load the files and print dlt's load info (`quiet`: no progress line).
pub async fn run(args: LoadFileArgs, quiet: bool) -> anyhow::Result<()> {
    for p in &args.paths {
        if !p.is_file() {
            anyhow::bail!("input file {} does not exist or is not a file", p.display());
        }
    }
    let mut options = PipelineOptions::new(&args.target.pipeline_name, &args.target.destination);
    options.dataset_name = args.target.dataset.clone();
    options.pipelines_dir = args.target.pipelines_dir.clone();
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;

    let mut hints = ResourceHints::new(&args.table);
    hints.write_disposition = match args.write_disposition {
        Disposition::Append => WriteDisposition::Append,
        Disposition::Replace => WriteDisposition::Replace,
        Disposition::Merge => WriteDisposition::Merge,
    };
    if matches!(args.write_disposition, Disposition::Merge) && args.primary_key.is_empty() {
        tracing::warn!(
            "--write-disposition merge without --primary-key appends rows (there is no key to merge on)"
        );
    }
    hints.primary_key = args.primary_key.clone();
    hints.max_table_nesting = args.max_table_nesting;
    hints.schema_contract = args.schema_contract.map(|c| {
        SchemaContract::all(match c {
            Contract::Evolve => ContractMode::Evolve,
            Contract::Freeze => ContractMode::Freeze,
            Contract::DiscardRow => ContractMode::DiscardRow,
            Contract::DiscardValue => ContractMode::DiscardValue,
        })
    });
    let source = FileSource::new(&args.table, args.paths.clone())
        .with_source_name(&args.target.pipeline_name)
        .with_hints(hints);
    let display = crate::progress::show(None, pipeline.progress(), quiet);
    let result = pipeline.run(Box::new(source)).await;
    crate::progress::finish(display);
    let info = result.with_context(|| format!("pipeline {} failed", args.target.pipeline_name))?;
    print!("{info}");
    Ok(())
}
