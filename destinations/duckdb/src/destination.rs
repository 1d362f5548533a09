//! The running DuckDB destination: opening the database, the load's transaction, schema
//! changes, the system tables and queries. Every call runs on a blocking thread
//! ([`sluice_core::blocking::blocking`]); the bulk loads themselves are in `load.rs`.

use crate::config::{self, DatabaseLocation, DuckDbSettings};
use crate::error::{db_err, setting_error, statement_error};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use duckdb::Connection;
use sluice_core::blocking::blocking;
use sluice_core::naming::digest128;
use sluice_core::sql::{SqlDialect, literal, statement_kind};
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Destination, Error, LoadCommit, Result, Schema,
    SchemaChange, StateRecord,
};
use std::path::PathBuf;

/// A connected DuckDB destination bound to one dataset.
pub struct DuckDbDestination {
    conn: Connection,
    caps: Capabilities,
    settings: DuckDbSettings,
    in_transaction: bool,
    search_path_set: bool,
    /// DuckDB's worker threads (for the load memory limit).
    threads: u64,
    /// The memory limit set for the load in progress, MiB.
    load_memory_mib: Option<u64>,
}

impl std::fmt::Debug for DuckDbDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuckDbDestination")
            .field("location", &self.settings.database.display())
            .field("dataset", &self.settings.dataset)
            .field("in_transaction", &self.in_transaction)
            .finish()
    }
}

/// Create an empty database file under a temporary name and link it into place, so that a run
/// killed while DuckDB writes a new file's header never leaves a file DuckDB cannot open (every
/// later run failed on it). The link does not replace a file another process created meanwhile.
fn create_database_file(path: &std::path::Path) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "database".into());
    let tmp = path.with_file_name(format!(".{name}.creating-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        let conn = Connection::open(&tmp).map_err(db_err(format!(
            "cannot create the database {}",
            path.display()
        )))?;
        conn.execute_batch("CHECKPOINT").map_err(db_err(format!(
            "cannot create the database {}",
            path.display()
        )))?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_file(tmp.with_extension("wal"));
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::destination(format!(
            "cannot create the database {}: {e}",
            path.display()
        ))),
    }
}

impl DuckDbDestination {
    /// Open (or create) the database of `settings`.
    pub fn open(settings: DuckDbSettings) -> Result<Self> {
        let conn = match &settings.database {
            DatabaseLocation::Memory => {
                Connection::open_in_memory().map_err(db_err("cannot open an in-memory database"))?
            }
            DatabaseLocation::File(path) => {
                if let Some(parent) = path.parent()
                    && !parent.as_os_str().is_empty()
                    && !parent.is_dir()
                {
                    return Err(Error::config(format!(
                        "cannot open the DuckDB database {}: the folder {} does not exist \
                         (set destination.duckdb.credentials to a path in an existing folder)",
                        path.display(),
                        parent.display()
                    )));
                }
                if !path.exists() {
                    create_database_file(path)?;
                }
                Connection::open(path).map_err(db_err(format!(
                    "cannot open the database {}",
                    path.display()
                )))?
            }
        };
        for (name, value) in &settings.settings {
            conn.execute_batch(&format!("SET {name} = {value}"))
                .map_err(|e| setting_error(name, value, e))?;
        }
        for pragma in &settings.pragmas {
            conn.execute_batch(&format!("PRAGMA {pragma}"))
                .map_err(db_err(format!(
                    "cannot run PRAGMA {pragma} (from destination.duckdb.credentials.pragmas)"
                )))?;
        }
        let threads = conn
            .query_row("SELECT current_setting('threads')::BIGINT", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(db_err("cannot read DuckDB's thread count"))?;
        Ok(Self {
            conn,
            caps: crate::capabilities(),
            settings,
            in_transaction: false,
            search_path_set: false,
            threads: threads.max(1) as u64,
            load_memory_mib: None,
        })
    }

    /// The database file, `None` for an in-memory database.
    pub fn database_path(&self) -> Option<PathBuf> {
        match &self.settings.database {
            DatabaseLocation::Memory => None,
            DatabaseLocation::File(p) => Some(p.clone()),
        }
    }

    /// The underlying connection (for embedding programs that want to run their own SQL).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone())
    }

    /// Execute one statement; returns the rows it changed.
    pub(crate) fn exec(&self, sql: &str, context: &str) -> Result<usize> {
        tracing::trace!(target: "sluice::duckdb", statement = %statement_kind(sql), "execute");
        self.conn
            .execute(sql, [])
            .map_err(|e| statement_error(context, sql, self.load_memory_mib, e))
    }

    fn query_count(&self, sql: &str, context: &str) -> Result<i64> {
        self.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(db_err(context.to_string()))
    }

    fn schema_exists(&self) -> Result<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.schemata WHERE lower(schema_name) = lower({})",
            literal(&self.settings.dataset)
        );
        Ok(self.query_count(&sql, "cannot look up the dataset")? > 0)
    }

    pub(crate) fn table_exists(&self, table: &str) -> Result<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE lower(table_schema) = lower({}) AND lower(table_name) = lower({})",
            literal(&self.settings.dataset),
            literal(table)
        );
        Ok(self.query_count(&sql, &format!("cannot look up table {table}"))? > 0)
    }

    fn begin(&mut self) -> Result<()> {
        if !self.in_transaction {
            self.conn
                .execute_batch("BEGIN TRANSACTION")
                .map_err(db_err("cannot begin a transaction"))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Raise the load's memory limit to what the widest table of `job` needs (see
    /// [`config::MIN_LOAD_MEMORY_MIB`]); the first call of a load sets the minimum.
    fn bound_load_memory(&mut self, job: Option<&ChainJob>) -> Result<()> {
        if !self.settings.bounded_load_memory {
            return Ok(());
        }
        let columns = job.map_or(0, |job| {
            std::iter::once(&job.root)
                .chain(&job.nested)
                .map(|t| t.table.complete_columns().count() as u64)
                .max()
                .unwrap_or(0)
        });
        let mib = (columns * self.threads * config::LOAD_MEMORY_MIB_PER_COLUMN)
            .max(config::MIN_LOAD_MEMORY_MIB);
        if self.load_memory_mib.is_some_and(|set| set >= mib) {
            return Ok(());
        }
        self.conn
            .execute_batch(&format!("SET memory_limit = '{mib}MiB'"))
            .map_err(db_err("cannot set the memory limit of the load"))?;
        self.load_memory_mib = Some(mib);
        Ok(())
    }

    /// Give queries DuckDB's own memory limit back after a load.
    fn unbound_load_memory(&mut self) {
        if self.load_memory_mib.take().is_some()
            && let Err(e) = self.conn.execute_batch("RESET memory_limit")
        {
            tracing::warn!(target: "sluice::duckdb", "cannot reset the memory limit: {e}");
        }
    }

    fn new_dlt_id() -> String {
        let bytes: u128 = rand::random();
        digest128(&format!("{bytes:032x}"), 10)
    }
}

#[async_trait]
impl Destination for DuckDbDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        self.settings.database.display()
    }

    async fn check(&mut self) -> Result<()> {
        blocking(|| {
            self.query_count("SELECT 1", "the database does not answer")
                .map(|_| ())
        })
    }

    async fn initialize(&mut self) -> Result<()> {
        blocking(|| {
            let statements = self.dialect().initialize_statements();
            let autocommit = !self.in_transaction;
            if autocommit {
                self.begin()?;
            }
            let result = statements.iter().try_for_each(|s| {
                self.exec(s, "cannot create the dataset and system tables")
                    .map(|_| ())
            });
            if autocommit {
                self.in_transaction = false;
                let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
                let ended = self
                    .conn
                    .execute_batch(end)
                    .map_err(db_err("cannot commit the dataset creation"));
                result?;
                ended?;
            } else {
                result?;
            }
            self.set_search_path();
            Ok(())
        })
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        blocking(|| {
            if !self.table_exists(sluice_core::LOADS_TABLE)? {
                return Ok(false);
            }
            let n = self.query_count(
                &self.dialect().select_load(load_id),
                "cannot read the loads table",
            )?;
            Ok(n > 0)
        })
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        blocking(|| {
            tracing::debug!(target: "sluice::duckdb", load_id, "begin load");
            self.bound_load_memory(None)?;
            self.begin()
        })
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        blocking(|| {
            let d = self.dialect();
            for change in changes {
                let context = match change {
                    SchemaChange::CreateTable { table } => {
                        format!("cannot create table {}", table.name)
                    }
                    SchemaChange::AddColumns { table, .. } => {
                        format!("cannot add columns to table {table}")
                    }
                };
                for sql in d.schema_change(change) {
                    self.exec(&sql, &context)?;
                }
            }
            Ok(())
        })
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        blocking(|| {
            self.bound_load_memory(Some(job))?;
            match job.disposition {
                ChainDisposition::Append => self.write_append(job),
                ChainDisposition::Replace => self.write_replace(job),
                ChainDisposition::Merge => self.write_merge(job),
            }
        })
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        blocking(|| {
            self.begin()?;
            let d = self.dialect();
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let schema_json = commit.schema.to_json()?;
            let mut statements = vec![(
                d.insert_version(&commit.schema, &schema_json, &now),
                "cannot store the schema version",
            )];
            if let Some(state) = &commit.state {
                statements.push((
                    d.insert_state(state, &commit.load_id, &Self::new_dlt_id()),
                    "cannot store the pipeline state",
                ));
            }
            statements.push((
                d.insert_load(&commit.load_id, &commit.schema, &now),
                "cannot record the load",
            ));
            for (sql, context) in &statements {
                self.exec(sql, &format!("load {}: {context}", commit.load_id))?;
            }
            self.conn
                .execute_batch("COMMIT")
                .map_err(db_err(format!("load {}: cannot commit", commit.load_id)))?;
            self.in_transaction = false;
            self.unbound_load_memory();
            tracing::debug!(target: "sluice::duckdb", load_id = %commit.load_id, "load committed");
            Ok(())
        })
    }

    async fn abort_load(&mut self) -> Result<()> {
        blocking(|| {
            if self.in_transaction || !self.conn.is_autocommit() {
                self.in_transaction = false;
                self.conn
                    .execute_batch("ROLLBACK")
                    .map_err(db_err("cannot roll back the load"))?;
            }
            self.unbound_load_memory();
            Ok(())
        })
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        blocking(|| {
            if !self.table_exists(sluice_core::VERSION_TABLE)? {
                return Ok(None);
            }
            let sql = self.dialect().select_schema(schema_name);
            let mut stmt = self
                .conn
                .prepare(&sql)
                .map_err(db_err("cannot read the stored schema"))?;
            let mut rows = stmt
                .query([])
                .map_err(db_err("cannot read the stored schema"))?;
            let Some(row) = rows
                .next()
                .map_err(db_err("cannot read the stored schema"))?
            else {
                return Ok(None);
            };
            let text: String = row
                .get(0)
                .map_err(db_err("cannot read the stored schema"))?;
            Ok(Some(Schema::from_stored(&text).map_err(|e| {
                e.context(format!("stored schema '{schema_name}'"))
            })?))
        })
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        blocking(|| {
            if !self.table_exists(sluice_core::STATE_TABLE)?
                || !self.table_exists(sluice_core::LOADS_TABLE)?
            {
                return Ok(None);
            }
            let sql = self.dialect().select_state(pipeline_name);
            let ctx = "cannot read the stored pipeline state";
            let mut stmt = self.conn.prepare(&sql).map_err(db_err(ctx))?;
            let mut rows = stmt.query([]).map_err(db_err(ctx))?;
            let Some(row) = rows.next().map_err(db_err(ctx))? else {
                return Ok(None);
            };
            let version: i64 = row.get(0).map_err(db_err(ctx))?;
            let version_hash: Option<String> = row.get(1).map_err(db_err(ctx))?;
            let state: String = row.get(2).map_err(db_err(ctx))?;
            let created_at: String = row.get(3).map_err(db_err(ctx))?;
            Ok(Some(StateRecord {
                pipeline_name: pipeline_name.to_string(),
                version: version.max(0) as u64,
                version_hash: version_hash.unwrap_or_default(),
                state: sluice_core::state::decompress_state(&state)
                    .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
                created_at: sluice_core::sql::timestamp_to_rfc3339(&created_at),
            }))
        })
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        blocking(|| {
            let d = self.dialect();
            for t in tables {
                self.exec(
                    &format!("DROP TABLE IF EXISTS {}", d.table(t)),
                    &format!("cannot drop table {t}"),
                )?;
            }
            Ok(())
        })
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        blocking(|| {
            if !self.search_path_set {
                self.set_search_path();
            }
            let mut stmt = self.conn.prepare(sql).map_err(db_err("query failed"))?;
            let arrow = stmt.query_arrow([]).map_err(db_err("query failed"))?;
            let schema = arrow.get_schema();
            let batches: Vec<RecordBatch> = arrow.collect();
            if batches.is_empty() {
                return Ok(vec![RecordBatch::new_empty(schema)]);
            }
            Ok(batches)
        })
    }
}

impl DuckDbDestination {
    /// Let unqualified names in [`Destination::query`] resolve in the dataset first (as dlt's
    /// SQL client does). Best effort: nothing happens while the dataset does not exist.
    fn set_search_path(&mut self) {
        if matches!(self.schema_exists(), Ok(true)) {
            let sql = format!(
                "SET search_path = {}",
                literal(&format!("{},main", self.dialect().dataset()))
            );
            self.search_path_set = self.conn.execute_batch(&sql).is_ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_is_send() {
        fn is_send<T: Send>() {}
        is_send::<DuckDbDestination>();
    }
}
