//! The load steps every destination on the Postgres protocol takes the same way (Postgres,
//! Redshift): a transaction per package that refuses a load id already recorded, a commit
//! that writes the load record last, and dropping tables in one transaction.
//!
//! A destination implements [`Session`] (run statements, count a load id in `_dlt_loads`,
//! roll back, and where the open load id is kept); what differs, such as the statement that
//! serializes two loaders of one dataset, is an argument.

use async_trait::async_trait;
use sluice_core::sql::SqlDialect;
use sluice_core::{ChainJob, Error, LoadCommit, Result, TableJob};
use std::collections::HashMap;

/// What the shared load steps need of a connected destination.
#[async_trait]
pub trait Session: Send {
    /// Run statements (the simple query protocol).
    async fn run(&mut self, sql: &str) -> Result<()>;
    /// How many `_dlt_loads` rows have this load id (0 when the table does not exist).
    async fn loads_recorded(&mut self, load_id: &str) -> Result<u64>;
    /// Roll back the open transaction and forget the open load (`Destination::abort_load`).
    async fn roll_back(&mut self) -> Result<()>;
    /// Where the id of the open load is kept.
    fn open_load(&mut self) -> &mut Option<String>;
    /// The dataset, for messages.
    fn dataset(&self) -> String;
}

/// Start a load: `BEGIN`, run `lock` (a statement that makes a second loader of the dataset
/// wait for the first), then refuse `load_id` when it is recorded already — a package whose
/// commit succeeded is never written twice.
pub async fn begin_load<S: Session + ?Sized>(s: &mut S, load_id: &str, lock: &str) -> Result<()> {
    if let Some(open) = s.open_load() {
        return Err(Error::internal(format!(
            "load {open} is still open: commit or abort it before starting {load_id}"
        )));
    }
    s.run("BEGIN").await?;
    *s.open_load() = Some(load_id.to_string());
    let checked = async {
        s.run(lock).await?;
        s.loads_recorded(load_id).await
    }
    .await;
    let recorded = match checked {
        Ok(n) => n,
        Err(e) => {
            let _ = s.roll_back().await;
            return Err(e);
        }
    };
    if recorded > 0 {
        let _ = s.roll_back().await;
        return Err(Error::destination(format!(
            "load {load_id} is already recorded in {}.{}: it was committed before and is not \
             loaded again",
            s.dataset(),
            sluice_core::LOADS_TABLE
        )));
    }
    Ok(())
}

/// Commit the open load: `statements` (from `SqlDialect::commit_statements`: schema, state,
/// the `_dlt_loads` row last), then `COMMIT`. On failure everything is rolled back.
pub async fn commit_load<S: Session + ?Sized>(
    s: &mut S,
    commit: &LoadCommit,
    statements: &[String],
) -> Result<()> {
    let load_id = s
        .open_load()
        .clone()
        .ok_or_else(|| Error::internal("no load is in progress: call begin_load first"))?;
    if load_id != commit.load_id {
        return Err(Error::internal(format!(
            "commit of load {} while load {load_id} is open",
            commit.load_id
        )));
    }
    let result = async {
        for sql in statements {
            s.run(sql).await?;
        }
        s.run("COMMIT").await
    }
    .await;
    match result {
        Ok(()) => {
            *s.open_load() = None;
            Ok(())
        }
        Err(e) => {
            let _ = s.roll_back().await;
            Err(e.context(format!("cannot commit load {load_id}")))
        }
    }
}

/// Run `statements` in one transaction, rolled back on failure (dropping tables, say).
pub async fn in_transaction<S: Session + ?Sized>(s: &mut S, statements: &[String]) -> Result<()> {
    let result = async {
        s.run("BEGIN").await?;
        for sql in statements {
            s.run(sql).await?;
        }
        s.run("COMMIT").await
    }
    .await;
    if result.is_err() {
        let _ = s.run("ROLLBACK").await;
    }
    result
}

/// Roll back on `client`. A lost connection counts as rolled back (the server rolls back
/// when the connection goes) and is forgotten, so that the next statement reconnects.
pub async fn roll_back_on(client: &mut Option<tokio_postgres::Client>) -> Result<()> {
    let Some(c) = client.as_ref().filter(|c| !c.is_closed()) else {
        *client = None;
        return Ok(());
    };
    match c.batch_execute("ROLLBACK").await {
        Ok(()) => Ok(()),
        Err(e) if e.is_closed() => {
            *client = None;
            Ok(())
        }
        Err(e) => Err(crate::error::pg_error("ROLLBACK failed", e)),
    }
}

/// What a merge through staging tables needs of a destination, beyond [`Session`].
#[async_trait]
pub trait Staging: Session {
    /// The destination's SQL dialect for its dataset.
    fn dialect(&self) -> SqlDialect<'_>;
    /// Create a temporary table shaped like `table`; its quoted name.
    async fn create_staging(&mut self, table: &str) -> Result<String>;
    /// Write the rows of `job`'s files into `target` (a quoted name); the rows written.
    async fn write_rows(&mut self, job: &TableJob, target: &str) -> Result<u64>;
    /// The name standing for the staging table of a chain table without rows (never read).
    fn no_staging(&self) -> String;
}

/// Merge a chain: its files go into staging tables first, then the dialect's merge
/// statements (delete-insert, or upsert or scd2 where `strategy` says so) run, all inside the
/// load's transaction. Returns the rows staged and the staging tables' names (for a
/// destination whose temporary tables outlive the transaction to drop them).
pub async fn merge_through_staging<S: Staging + ?Sized>(
    s: &mut S,
    job: &ChainJob,
) -> Result<(u64, Vec<String>)> {
    let mut staging = HashMap::new();
    let mut rows = 0;
    let with_files: Vec<TableJob> = job
        .tables()
        .filter(|t| !t.files.is_empty() && t.table.complete_columns().next().is_some())
        .cloned()
        .collect();
    for t in &with_files {
        let stg = s.create_staging(&t.table.name).await?;
        rows += s.write_rows(t, &stg).await?;
        staging.insert(t.table.name.clone(), stg);
    }
    let mut filtered = job.clone();
    for t in std::iter::once(&mut filtered.root).chain(filtered.nested.iter_mut()) {
        if !staging.contains_key(&t.table.name) {
            t.files.clear();
        }
    }
    let statements = {
        let missing = s.no_staging();
        let lookup = |name: &str| staging.get(name).cloned().unwrap_or(missing.clone());
        let dialect = s.dialect();
        dialect.merge(&filtered, &lookup)?
    };
    for sql in statements {
        s.run(&sql).await?;
    }
    Ok((rows, staging.into_values().collect()))
}
