//! The commit of a partitioned run: every partition's pending packages into the destination.

use super::{PartitionId, partition_options, union_schemas};
use crate::info::PackageSummary;
use crate::package::Package;
use crate::paths::{self, write_atomic};
use crate::pipeline::{Pipeline, PipelineOptions, read_schema};
use serde::{Deserialize, Serialize};
use sluice_core::{Error, Registry, Result, Schema};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How to commit.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitOptions {
    /// Commit the partitions that have packages even when others have none (by default a
    /// partition without a package fails the commit, naming it).
    pub allow_missing: bool,
}

/// What the commit did for one partition.
#[derive(Debug, Clone)]
pub struct PartitionCommit {
    /// The partition.
    pub partition: PartitionId,
    /// Its pipeline name.
    pub pipeline_name: String,
    /// Its packages loaded by this commit (`already_loaded`: found loaded by an earlier,
    /// interrupted commit, not written again).
    pub packages: Vec<PackageSummary>,
    /// Packages of this commit round that an earlier, interrupted commit had finished.
    pub finished_earlier: Vec<String>,
    /// The partition had no package (allowed by [`CommitOptions::allow_missing`]).
    pub missing: bool,
}

/// The packages one commit round takes, written before it loads anything
/// (`<pipelines_dir>/<name>__commit_of<N>.json`): a rerun after a killed commit knows which
/// partitions it had packages of, and a rerun after a finished one that there is nothing left.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CommitRound {
    /// Load ids per partition index.
    packages: BTreeMap<u32, Vec<String>>,
    /// Whether every package of the round was loaded.
    done: bool,
}

fn round_file(base: &PipelineOptions, n: u32) -> Result<PathBuf> {
    let dir = paths::pipelines_dir(base.pipelines_dir.as_deref())?;
    Ok(dir.join(format!("{}__commit_of{n}.json", base.name)))
}

fn read_round(path: &std::path::Path) -> Result<Option<CommitRound>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::storage(format!("{} is corrupt", path.display())).with_source(e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Load the pending packages of the `n` partitions of pipeline `base.name` into its
/// destination and dataset (see [`crate::partition`]), partition by partition, one package per
/// destination transaction. Holds every partition's lock while it runs.
pub async fn commit_partitions(
    registry: &Registry,
    base: &PipelineOptions,
    n: u32,
    options: CommitOptions,
) -> Result<Vec<PartitionCommit>> {
    let parts = PartitionId::all(n)?;
    let mut pipelines = Vec::new();
    for part in &parts {
        let mut p = Pipeline::new(registry, partition_options(base, *part)?)?;
        p.lock_for_writing()
            .map_err(|e| e.context(format!("partition {part}")))?;
        pipelines.push(p);
    }
    let round_path = round_file(base, n)?;
    let earlier = read_round(&round_path)?;
    let committed_before = earlier.is_some();
    let earlier = earlier.filter(|r| !r.done);
    let mut round = CommitRound::default();
    let mut pending: Vec<Vec<Package>> = Vec::new();
    for (part, p) in parts.iter().zip(&pipelines) {
        let packages = p.pending_packages()?;
        let mut ids: Vec<String> = earlier
            .as_ref()
            .and_then(|r| r.packages.get(&part.k).cloned())
            .unwrap_or_default();
        for pkg in &packages {
            if !ids.iter().any(|id| id == pkg.load_id()) {
                ids.push(pkg.load_id().to_string());
            }
        }
        if !ids.is_empty() {
            round.packages.insert(part.k, ids);
        }
        pending.push(packages);
    }
    let missing: Vec<String> = parts
        .iter()
        .zip(&pipelines)
        .filter(|(part, _)| !round.packages.contains_key(&part.k))
        .map(|(part, p)| format!("{part} (pipeline {})", p.name()))
        .collect();
    let nothing_ever = round.packages.is_empty() && !committed_before;
    if !missing.is_empty() && (!round.packages.is_empty() || nothing_ever) && !options.allow_missing
    {
        return Err(Error::config(format!(
            "partition(s) {} of pipeline {} have no package to commit: they never ran or failed. \
             Run them (sluice run FILE --partition K/{n}) and commit again, or pass \
             --allow-missing to commit the others now",
            missing.join(", "),
            base.name
        )));
    }
    if round.packages.is_empty() {
        tracing::info!(
            "no partition of pipeline {} has a package to commit",
            base.name
        );
    } else {
        write_atomic(&round_path, &serde_json::to_vec_pretty(&round)?)?;
        unite_schemas(&pipelines, &pending, base).await?;
    }
    let mut out = Vec::new();
    for ((part, p), packages) in parts.iter().zip(pipelines.iter_mut()).zip(&pending) {
        let loaded = if packages.is_empty() {
            Vec::new()
        } else {
            p.load_pending().await.map_err(|e| {
                e.context(format!(
                    "partition {part} (pipeline {}): the commit stopped; run it again to load \
                     what is left",
                    p.name()
                ))
            })?
        };
        let finished_earlier = round
            .packages
            .get(&part.k)
            .into_iter()
            .flatten()
            .filter(|id| !packages.iter().any(|pkg| pkg.load_id() == id.as_str()))
            .cloned()
            .collect();
        out.push(PartitionCommit {
            partition: *part,
            pipeline_name: p.name().to_string(),
            packages: loaded,
            finished_earlier,
            missing: !round.packages.contains_key(&part.k),
        });
    }
    if !round.packages.is_empty() {
        round.done = true;
        write_atomic(&round_path, &serde_json::to_vec_pretty(&round)?)?;
    }
    Ok(out)
}

/// Give every pending package and every partition's stored schema the union of the schemas
/// of the destination, the unpartitioned pipeline (when it ran here), the partitions and their
/// packages.
async fn unite_schemas(
    pipelines: &[Pipeline],
    pending: &[Vec<Package>],
    base: &PipelineOptions,
) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for pkg in pending.iter().flatten() {
        if !names.contains(&pkg.manifest.schema_name) {
            names.push(pkg.manifest.schema_name.clone());
        }
    }
    let base_paths = paths::PipelinePaths::new(
        &paths::pipelines_dir(base.pipelines_dir.as_deref())?,
        &base.name,
    );
    let Some(first) = pipelines.first() else {
        return Ok(());
    };
    let mut dest = first.connect().await?;
    for name in names {
        let mut inputs: Vec<(String, Schema)> = Vec::new();
        if let Some(s) = dest
            .stored_schema(&name)
            .await
            .map_err(|e| first.named(e))?
        {
            inputs.push(("the destination".to_string(), s));
        }
        if let Some(s) = read_schema(&base_paths, &name)? {
            inputs.push((format!("pipeline {}", base.name), s));
        }
        for (p, packages) in pipelines.iter().zip(pending) {
            if let Some(s) = p.schema(&name)? {
                inputs.push((format!("pipeline {}", p.name()), s));
            }
            for pkg in packages.iter().filter(|k| k.manifest.schema_name == name) {
                inputs.push((
                    format!("package {} of pipeline {}", pkg.load_id(), p.name()),
                    pkg.schema()?,
                ));
            }
        }
        let union = union_schemas(&inputs)?;
        let json = union.to_json()?;
        for (p, packages) in pipelines.iter().zip(pending) {
            for pkg in packages.iter().filter(|k| k.manifest.schema_name == name) {
                if pkg.schema()?.version_hash != union.version_hash {
                    write_atomic(&pkg.dir.join("schema.json"), json.as_bytes())?;
                }
            }
            write_atomic(&p.paths.schema_file(&name), json.as_bytes())?;
        }
    }
    drop(dest);
    Ok(())
}
