//! Merging through a staging dataset, for warehouses that load files into tables (Snowflake,
//! Databricks): each table of the chain that has rows is loaded into a fresh, all-nullable copy
//! in the staging dataset (`<dataset>_staging`), then the dialect's merge statements read the
//! staged rows from there. The copies are dropped after the load by the destination's cleanup.

use crate::destination::{ChainJob, TableJob};
use crate::error::Result;
use crate::sql::SqlDialect;
use async_trait::async_trait;
use std::collections::HashSet;

/// What a merge through a staging dataset needs of a destination.
#[async_trait]
pub trait StagingDataset: Send {
    /// The dialect of the destination's dataset.
    fn target_dialect(&self) -> SqlDialect<'_>;
    /// The dialect of its staging dataset.
    fn staging_dialect(&self) -> SqlDialect<'_>;
    /// Create the staging dataset when missing (once per session).
    async fn ensure_staging_dataset(&mut self) -> Result<()>;
    /// Run one statement; an error says what failed with `context`.
    async fn run_statement(&mut self, sql: &str, context: &str) -> Result<()>;
    /// Load the rows of `table`'s files of load `load_id` into `target` (a qualified name).
    async fn fill_staging(&mut self, load_id: &str, table: &TableJob, target: &str) -> Result<()>;
    /// Remember a statement to run after the load (dropping a staging copy).
    fn clean_up_later(&mut self, sql: String);
}

/// Stage the rows of `job` and return the statements that merge them (by the chain's strategy).
pub async fn stage_for_merge<S: StagingDataset + ?Sized>(
    s: &mut S,
    job: &ChainJob,
) -> Result<Vec<String>> {
    s.ensure_staging_dataset().await?;
    let mut staged = HashSet::new();
    for t in job.tables() {
        if t.files.is_empty() {
            continue;
        }
        let (stg, drop, create) = s.staging_dialect().staging_table(&t.table);
        let context = format!("cannot create the staging table of {}", t.table.name);
        s.run_statement(&drop, &context).await?;
        s.run_statement(&create, &context).await?;
        s.fill_staging(&job.load_id, t, &stg).await?;
        s.clean_up_later(drop);
        staged.insert(t.table.name.clone());
    }
    let d = s.target_dialect();
    let sd = s.staging_dialect();
    let lookup = |name: &str| {
        if staged.contains(name) {
            sd.table(name)
        } else {
            d.table(name)
        }
    };
    d.merge(job, &lookup)
}
