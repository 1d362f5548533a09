//! One partition's run: extract and normalize its share into a package, no load.

use super::PartitionId;
use crate::info::PackageSummary;
use crate::package::{self, Package};
use crate::paths::write_atomic;
use crate::pipeline::Pipeline;
use serde::{Deserialize, Serialize};
use sluice_core::{Error, Result, Source};
use std::path::PathBuf;

/// What a partition run did.
#[derive(Debug, Clone)]
pub enum PartitionOutcome {
    /// It extracted its share into a new package, waiting for the commit.
    Extracted {
        /// The package: load id and rows per table.
        package: PackageSummary,
        /// Warnings of the normalizer.
        warnings: Vec<String>,
    },
    /// Nothing: the partition already has a package waiting for the commit.
    AlreadyPending {
        /// Its load id.
        load_id: String,
    },
    /// Nothing: the partition already made its package for this run id, and it was committed.
    AlreadyCommitted {
        /// Its load id.
        load_id: String,
    },
}

/// The run id a partition last ran for (`partition_run.json` in its working dir), written
/// before it extracts: its packages from then on belong to that run.
#[derive(Debug, Serialize, Deserialize)]
struct RunMarker {
    run_id: String,
    /// A load id taken when the run started: the run's packages have later load ids.
    since: String,
    partition: String,
}

/// A load id as a number, for comparisons (`1692364844.925480`).
fn load_id_value(id: &str) -> f64 {
    id.parse().unwrap_or(0.0)
}

impl Pipeline {
    fn run_marker_file(&self) -> PathBuf {
        self.paths.root.join("partition_run.json")
    }

    fn read_run_marker(&self) -> Result<Option<RunMarker>> {
        let path = self.run_marker_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::storage(format!("{} is corrupt", path.display())).with_source(e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Extract and normalize partition `part` of `source` into a package, without loading it
    /// (see [`crate::partition`]). `run_id`: the orchestrator's run id; a partition that made
    /// its package for the same run id already does nothing.
    pub async fn extract_partition(
        &mut self,
        mut source: Box<dyn Source>,
        part: PartitionId,
        run_id: Option<&str>,
    ) -> Result<PartitionOutcome> {
        self.lock_for_writing()?;
        crate::drop::check_no_interrupted_drop(&self.paths, &self.options.name)?;
        let discarded = package::discard_incomplete(&self.paths)?;
        if discarded > 0 {
            tracing::warn!(
                "partition {part}: discarded {discarded} incomplete package(s) of an interrupted run; its share is extracted again"
            );
        }
        let pending = self.pending_packages()?;
        let marker = self.read_run_marker()?;
        if let (Some(id), Some(m)) = (run_id, &marker)
            && m.run_id == id
        {
            let since = load_id_value(&m.since);
            let of_run = |ps: Vec<Package>| {
                ps.into_iter()
                    .find(|p| load_id_value(p.load_id()) >= since)
                    .map(|p| p.load_id().to_string())
            };
            if let Some(load_id) = of_run(pending.clone()) {
                return Ok(PartitionOutcome::AlreadyPending { load_id });
            }
            if let Some(load_id) = of_run(self.loaded_packages()?) {
                return Ok(PartitionOutcome::AlreadyCommitted { load_id });
            }
        }
        if let Some(p) = pending.first() {
            match (run_id, &marker) {
                (None, _) => {
                    return Ok(PartitionOutcome::AlreadyPending {
                        load_id: p.load_id().to_string(),
                    });
                }
                (Some(id), m) => {
                    let earlier = m
                        .as_ref()
                        .map(|m| format!("run id {}", m.run_id))
                        .unwrap_or_else(|| "no run id".to_string());
                    return Err(Error::config(format!(
                        "partition {part} (pipeline {}) has package {} of an earlier run ({earlier}) \
                         that was not committed, so run {id} cannot start: run `sluice commit` \
                         first, or drop it with `sluice pipeline {} drop-pending-packages`",
                        self.name(),
                        p.load_id(),
                        self.name()
                    )));
                }
            }
        }
        if let Some(id) = run_id
            && marker.as_ref().is_none_or(|m| m.run_id != id)
        {
            let marker = RunMarker {
                run_id: id.to_string(),
                since: package::new_load_id(),
                partition: part.to_string(),
            };
            write_atomic(
                &self.run_marker_file(),
                &serde_json::to_vec_pretty(&marker)?,
            )?;
        }
        source.partition(part.k, part.n)?;
        let (package, warnings) = match self.extract(source).await {
            Ok(r) => r,
            Err(e) => {
                let _ = package::discard_incomplete(&self.paths);
                return Err(e.context(format!("partition {part}")));
            }
        };
        Ok(PartitionOutcome::Extracted {
            package: PackageSummary {
                load_id: package.load_id().to_string(),
                rows: package
                    .manifest
                    .tables
                    .iter()
                    .map(|(t, f)| (t.clone(), f.rows))
                    .collect(),
                already_loaded: false,
            },
            warnings,
        })
    }
}
