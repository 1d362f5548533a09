//! `sluice pipeline NAME sync`: restore a pipeline's state and schemas from its destination,
//! also onto a machine (or pipelines dir) where it never ran (dlt's restore).

use crate::args::SyncArgs;
use anyhow::Context;
use sluice_pipeline::paths::PipelinePaths;
use sluice_pipeline::{Pipeline, PipelineLock, PipelineOptions, PipelineState};
use std::path::Path;

/// Restore pipeline `name` under `dir` from the destination of its last run, or from the one
/// given in `args`.
pub async fn run(name: &str, dir: &Path, args: SyncArgs) -> anyhow::Result<()> {
    let paths = PipelinePaths::new(dir, name);
    // A working dir without a state file may still hold a package of an unloaded first run.
    let existed = paths.root.exists();
    let local = PipelineState::load(&paths.state_file(), name)?;
    let destination = args
        .destination
        .or_else(|| local.destination_name.clone())
        .with_context(|| {
            format!(
                "pipeline {name} not found in {}: pass --destination (and --dataset) to restore \
                 it from its destination",
                dir.display()
            )
        })?;
    let mut options = PipelineOptions::new(name, &destination);
    options.pipelines_dir = Some(dir.to_path_buf());
    options.dataset_name = args.dataset.or_else(|| local.dataset_name.clone());
    let schema = local
        .default_schema_name
        .clone()
        .unwrap_or_else(|| name.to_string());
    let dataset = options.dataset_name.clone();
    let restored = restore(options, &schema).await;
    if !matches!(restored, Ok(Some(_))) && !existed {
        // Leave no working dir behind for a pipeline that was not restored.
        let _ = std::fs::remove_dir_all(&paths.root);
        let _ = std::fs::remove_file(PipelineLock::path(&paths));
    }
    if let Some(state) = restored? {
        println!(
            "Restored state version {} and schema(s) {} of pipeline {name}",
            state.version,
            state.schema_names.join(", ")
        );
    } else if existed {
        println!("The destination holds no state for pipeline {name}");
    } else {
        anyhow::bail!(
            "the destination holds no state or schema of pipeline {name} in dataset {}",
            dataset.unwrap_or_else(|| format!("{name}_data"))
        );
    }
    Ok(())
}

/// Open the pipeline with `options` and restore it; the restored state, `None` when the
/// destination held nothing.
async fn restore(options: PipelineOptions, schema: &str) -> anyhow::Result<Option<PipelineState>> {
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;
    println!(
        "Restoring from destination {} and dataset {}",
        pipeline.destination_name(),
        pipeline.dataset_name()
    );
    Ok(pipeline
        .sync(schema)
        .await?
        .then(|| pipeline.state().clone()))
}
