//! One pipeline run from several machines (or several pipelines dirs) into one dataset.
//!
//! Each machine keeps its own copy of the pipeline state (incremental cursors); the copy at the
//! destination, stored with every load that changed it, is the one that counts:
//!
//! - **Before extracting**, a run compares its local state with the destination's. When the
//!   destination holds a newer version (another machine ran the pipeline since), the run
//!   continues from that one, as dlt does on `run`, instead of extracting again from an old
//!   cursor.
//! - **Inside the load's transaction**, before anything is written, a package that changes the
//!   state is checked against the destination's state once more. When another run committed the
//!   same or a later state version in the meantime (two machines ran at once from the same
//!   cursor), loading the package would load its rows a second time and set the cursor back: it
//!   is not loaded. The package is set aside (moved to `superseded/` in the pipeline's folder,
//!   kept for inspection) and the run fails with a message saying so; the next run extracts
//!   again from the newer state.
//!
//! The check is exact where the destination serializes loaders of a dataset inside `begin_load`
//! (Postgres: an advisory lock per dataset; Redshift: `LOCK _dlt_loads`; DuckDB: one writer per
//! database file). On destinations without transactions (BigQuery, the filesystem) a small
//! window remains between the check and the commit.

use crate::Pipeline;
use crate::package::Package;
use crate::paths::PipelinePaths;
use sluice_core::{Destination, Error, Result, StateRecord};

impl Pipeline {
    /// When the destination holds a newer state of this pipeline than this machine, continue
    /// from it (state and schemas). Returns whether it did.
    pub(crate) async fn adopt_newer_state(
        &mut self,
        dest: &mut dyn Destination,
        schema_name: &str,
    ) -> Result<bool> {
        let Some(stored) = dest.stored_state(&self.options.name).await? else {
            return Ok(false);
        };
        if stored.version <= self.state.version {
            return Ok(false);
        }
        tracing::warn!(
            "the destination holds state version {} of pipeline {} (stored {}), newer than this \
             machine's version {}: another run loaded it since; continuing from the destination's",
            stored.version,
            self.options.name,
            stored.created_at,
            self.state.version
        );
        self.restore_from_destination(dest, schema_name).await
    }
}

/// Inside an open load: `None` when `record` (the state a package brings) may be committed, or
/// the reason it may not — another run committed the same or a later version of this
/// pipeline's state since the package was extracted.
pub(crate) async fn superseded_by(
    dest: &mut dyn Destination,
    record: &StateRecord,
    dataset: &str,
) -> Result<Option<String>> {
    let Some(stored) = dest.stored_state(&record.pipeline_name).await? else {
        return Ok(None);
    };
    // The same version with the same content is no exception: another package brought it
    // (this one, loaded before, is caught by `is_loaded`), so this package's rows are loaded.
    if stored.version < record.version {
        return Ok(None);
    }
    Ok(Some(format!(
        "another run of pipeline {} committed state version {} to dataset {dataset} at {} while \
         this package was extracted from the older version {}: loading it would load its rows \
         again and set the incremental cursors back",
        record.pipeline_name,
        stored.version,
        stored.created_at,
        record.version.saturating_sub(1)
    )))
}

/// Move a package that must not be loaded to `superseded/` in the pipeline's folder (kept for
/// inspection, never loaded) and return the error of the run.
pub(crate) fn set_aside(paths: &PipelinePaths, package: Package, reason: &str) -> Result<Error> {
    let load_id = package.load_id().to_string();
    let dir = paths.root.join("superseded");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::storage(format!("cannot create {}", dir.display())).with_source(e))?;
    let target = dir.join(&load_id);
    std::fs::rename(&package.dir, &target).map_err(|e| {
        Error::storage(format!(
            "cannot move package {load_id} to {}",
            dir.display()
        ))
        .with_source(e)
    })?;
    Ok(Error::destination(format!(
        "package {load_id} was not loaded: {reason}. It was moved to {}; run the pipeline \
         again to extract from the newer state",
        target.display()
    )))
}
