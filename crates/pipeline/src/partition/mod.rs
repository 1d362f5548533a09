//! Partitioned runs: `N` processes (Kubernetes Indexed Job pods, Airflow mapped tasks) each
//! extract and normalize one deterministic share of a pipeline's work into a load package,
//! and one commit step loads all their packages into the destination.
//!
//! - **Working dirs.** Partition `K` of `N` of pipeline `shop` is the ordinary pipeline
//!   `shop__p<K>of<N>` (see [`PartitionId::pipeline_name`]) in the same pipelines dir, with its
//!   own state (incremental cursors of its share), schemas and packages, and its own lock. All
//!   partitions load into the dataset of `shop` (its `dataset`, else `shop_data`), and DuckDB's
//!   default database file stays `shop.duckdb`. At the destination each package's state is
//!   recorded under its partition's pipeline name, as dlt records several pipelines that share
//!   a dataset, so `sluice pipeline shop__p0of4 sync` restores a partition elsewhere.
//! - **A partition run** ([`Pipeline::extract_partition`](crate::Pipeline::extract_partition)) asks the source for its share
//!   ([`sluice_core::Source::partition`]) and writes one package, without connecting to the
//!   destination. A partition killed mid-run is rerun: its incomplete package is discarded. A
//!   partition that still has a pending package does nothing (the commit has not taken it
//!   yet); with a run id (an orchestrator's, `--run-id`), one that already made its package
//!   for that run id, pending or committed, does nothing either.
//! - **The commit** ([`commit_partitions`]) takes every partition's lock, records which
//!   packages it commits, makes their schemas one (the union of the partitions' tables and
//!   columns, written into each package and each partition's stored schema), and loads the
//!   packages one per destination transaction, each with its partition's state. A rerun after
//!   a killed commit loads only what is left: a package the destination already has (its load
//!   id in `_dlt_loads`) is not written again.

mod commit;
mod run;
mod union;

pub use commit::{CommitOptions, PartitionCommit, commit_partitions};
pub use run::PartitionOutcome;
pub use union::union_schemas;

use crate::pipeline::PipelineOptions;
use sluice_core::{ConfigProvider, Error, Result};
use std::fmt;

/// The environment variable that gives `--partition` (`K/N`).
pub const PARTITION_ENV: &str = "SLUICE_PARTITION";

/// One partition: the `k`-th (0-based) of `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionId {
    /// Which share, `0..n` (Kubernetes' `JOB_COMPLETION_INDEX`).
    pub k: u32,
    /// How many shares.
    pub n: u32,
}

impl PartitionId {
    /// A partition; `k` must be below `n`.
    pub fn new(k: u32, n: u32) -> Result<Self> {
        if n == 0 || k >= n {
            return Err(Error::config(format!(
                "partition {k}/{n}: K must be between 0 and N-1 (0-based, as Kubernetes' \
                 JOB_COMPLETION_INDEX) and N at least 1"
            )));
        }
        Ok(Self { k, n })
    }

    /// Parse `K/N` (`2/4`: the third of four shares).
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::config(format!(
                "partition '{text}' is not K/N: give the 0-based index K and the number of \
                 partitions N, e.g. 0/4"
            ))
        };
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(k, n)
    }

    /// The pipeline name of this partition of pipeline `base`: `<base>__p<K>of<N>`.
    pub fn pipeline_name(&self, base: &str) -> String {
        format!("{base}__p{}of{}", self.k, self.n)
    }

    /// All partitions of `n`.
    pub fn all(n: u32) -> Result<Vec<Self>> {
        (0..n.max(1)).map(|k| Self::new(k, n)).collect()
    }
}

impl fmt::Display for PartitionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The options of a partition's pipeline, from the options of the pipeline `base.name`: the
/// partition's name, the base pipeline's dataset (its `dataset_name`, else `<name>_data`) and,
/// for DuckDB without a configured database, the base pipeline's database file. The config is
/// `base.config`, else the one of the working dir; the DuckDB default is given to it as
/// `DESTINATION__DUCKDB__CREDENTIALS` over the process environment.
pub fn partition_options(base: &PipelineOptions, part: PartitionId) -> Result<PipelineOptions> {
    let mut options = base.clone();
    options.name = part.pipeline_name(&base.name);
    options.dataset_name = Some(
        base.dataset_name
            .clone()
            .unwrap_or_else(|| format!("{}_data", base.name)),
    );
    let working_dir = match &base.working_dir {
        Some(d) => d.clone(),
        None => std::env::current_dir()?,
    };
    let mut config = match &base.config {
        Some(c) => c.clone(),
        None => ConfigProvider::load(&working_dir)?,
    };
    if base.destination == "duckdb"
        && config
            .section(&["destination", "duckdb"])
            .get("credentials")
            .is_none()
    {
        let file = working_dir.join(format!("{}.duckdb", base.name));
        config = config.with_env(std::env::vars().chain([(
            "DESTINATION__DUCKDB__CREDENTIALS".to_string(),
            file.display().to_string(),
        )]));
    }
    options.config = Some(config);
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_and_name() {
        let p = PartitionId::parse(" 2/4 ").unwrap();
        assert_eq!((p.k, p.n), (2, 4));
        assert_eq!(p.to_string(), "2/4");
        assert_eq!(p.pipeline_name("shop"), "shop__p2of4");
        for bad in ["4/4", "1", "a/2", "0/0", "-1/3", "1/2/3"] {
            let err = PartitionId::parse(bad).unwrap_err().to_string();
            assert!(err.contains("K"), "{bad}: {err}");
        }
        assert_eq!(PartitionId::all(3).unwrap().len(), 3);
    }
}
