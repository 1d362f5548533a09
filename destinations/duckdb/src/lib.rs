//! The embedded DuckDB destination of sluice, the default destination.
//!
//! The dataset is a DuckDB schema in one database file (`<pipeline_name>.duckdb` in the working
//! directory unless `[destination.duckdb] credentials` says otherwise). Tables are loaded in bulk
//! from the package's Parquet files with `INSERT … BY NAME SELECT * FROM read_parquet([…])`,
//! never row at a time. A whole package (schema changes, data of all tables, the `_dlt_loads`,
//! `_dlt_version` and `_dlt_pipeline_state` rows) commits in one transaction: readers never see
//! half a load, an emptied table during a replace, or a load that is not recorded.
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_duckdb::DuckDbFactory));
//! assert_eq!(sluice_duckdb::DuckDbFactory.name(), "duckdb");
//! ```

mod config;

pub use config::{CREDENTIALS, SETTINGS};
pub use config::{
    DatabaseLocation, DuckDbSettings, LOAD_MEMORY_MIB_PER_COLUMN, MEMORY, MIN_LOAD_MEMORY_MIB,
    OPEN_DEFAULTS,
};

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use duckdb::Connection;
use sluice_core::blocking::blocking;
use sluice_core::naming::digest128;
use sluice_core::schema::system_tables;
use sluice_core::sql::{SqlDialect, literal, statement_kind};
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Column, DataType, Destination, DestinationConfig,
    DestinationFactory, Error, LoadCommit, MergeStrategy, Result, Schema, SchemaChange,
    StateRecord, TableJob, ValidatedConfig,
};
use std::collections::HashMap;
use std::path::PathBuf;

/// An example config of this destination (`sluice destinations describe duckdb`).
pub const EXAMPLE_CONFIG: &str = r#"# The database file (default: <pipeline_name>.duckdb in the working directory), or ":memory:".
[destination.duckdb]
credentials = "shop.duckdb"

# Or as a table, with DuckDB settings applied to every connection:
# [destination.duckdb.credentials]
# database = "shop.duckdb"
# [destination.duckdb.credentials.global_config]
# memory_limit = "2GB"
# threads = 4
"#;

/// The registry name of this destination.
pub const NAME: &str = "duckdb";

/// The DuckDB destination factory (registered as `duckdb`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDbFactory;

/// DuckDB's capabilities: long identifiers kept as they are but compared case-insensitively,
/// Parquet load files, transactional loads, delete-insert and upsert merges.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 65536,
        max_column_identifier_length: 65536,
        case_sensitive: false,
        supports_transactions: true,
        merge_strategies: vec![MergeStrategy::DeleteInsert, MergeStrategy::Upsert],
        type_mapper: duckdb_sql_type,
        ..Capabilities::default()
    }
}

/// The DuckDB SQL type of a column.
pub fn duckdb_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "VARCHAR".into(),
        DataType::Bigint => "BIGINT".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            if column.timezone == Some(false) {
                "TIMESTAMP".into()
            } else {
                "TIMESTAMP WITH TIME ZONE".into()
            }
        }
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        DataType::Decimal => {
            let (p, s) = sluice_core::arrow_types::decimal_precision(column);
            format!("DECIMAL({p},{s})")
        }
        DataType::Wei => "DECIMAL(38,0)".into(),
        DataType::Binary => "BLOB".into(),
        DataType::Json => "JSON".into(),
    }
}

#[async_trait]
impl DestinationFactory for DuckDbFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        Ok(ValidatedConfig::new(
            config.clone(),
            DuckDbSettings::resolve(config)?,
        ))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        let settings = config.settings::<DuckDbSettings>()?.clone();
        Ok(Box::new(blocking(|| DuckDbDestination::open(settings))?))
    }

    fn config_keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys {
            settings: config::SETTINGS.to_vec(),
            credentials: config::CREDENTIALS.to_vec(),
        }
    }

    fn example_config(&self) -> &'static str {
        EXAMPLE_CONFIG
    }
}

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
            "duckdb: cannot create the database {}: {e}",
            path.display()
        ))),
    }
}

/// Map a DuckDB error to a destination error with context.
fn db_err(context: impl std::fmt::Display) -> impl FnOnce(duckdb::Error) -> Error {
    move |e| Error::destination(format!("duckdb: {context}")).with_source(e)
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
                .map_err(|e| {
                    // DuckDB quotes a value it cannot use ("Could not convert string '…'"), and
                    // a setting may hold a secret (s3_secret_access_key): leave the value out.
                    let raw = value
                        .strip_prefix('\'')
                        .and_then(|v| v.strip_suffix('\''))
                        .map_or_else(|| value.clone(), |v| v.replace("''", "'"));
                    let why = e.to_string().replace(&raw, "***");
                    Error::destination(format!(
                        "duckdb: cannot apply the DuckDB setting {name} (from \
                         destination.duckdb.credentials): {why}"
                    ))
                })?;
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
            caps: capabilities(),
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

    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone())
    }

    /// Execute one statement; returns the rows it changed.
    fn exec(&self, sql: &str, context: &str) -> Result<usize> {
        tracing::trace!(target: "sluice::duckdb", statement = %statement_kind(sql), "execute");
        self.conn.execute(sql, []).map_err(|e| {
            let mut context = format!("{context} ({})", statement_kind(sql));
            if e.to_string().contains("Out of Memory") {
                context.push_str(&match self.load_memory_mib {
                    Some(mib) => format!(
                        ": DuckDB needed more than the load's memory limit of {mib} MiB; set \
                         destination.duckdb.credentials.global_config.memory_limit (e.g. \"2GB\")"
                    ),
                    None => ": DuckDB ran out of memory; check \
                         destination.duckdb.credentials.global_config.memory_limit and threads"
                        .to_string(),
                });
            }
            db_err(context)(e)
        })
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

    fn table_exists(&self, table: &str) -> Result<bool> {
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

    /// The `read_parquet` table function over a table's files.
    fn read_parquet(&self, job: &TableJob) -> String {
        let files: Vec<String> = job
            .files
            .iter()
            .map(|f| literal(&f.to_string_lossy()))
            .collect();
        format!("read_parquet([{}], union_by_name = true)", files.join(", "))
    }

    /// Bulk insert a table's files into `target` (a qualified, quoted name).
    fn insert_files(&self, job: &TableJob, target: &str) -> Result<u64> {
        if job.files.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "INSERT INTO {target} BY NAME SELECT * FROM {}",
            self.read_parquet(job)
        );
        let n = self.exec(
            &sql,
            &format!(
                "cannot load {} file(s) into table {}",
                job.files.len(),
                job.table.name
            ),
        )?;
        Ok(n as u64)
    }

    fn write_append(&self, job: &ChainJob) -> Result<u64> {
        let d = self.dialect();
        let mut rows = 0;
        for t in job.tables() {
            rows += self.insert_files(t, &d.table(&t.table.name))?;
        }
        Ok(rows)
    }

    fn write_replace(&self, job: &ChainJob) -> Result<u64> {
        let d = self.dialect();
        let tables: Vec<&TableJob> = job.tables().collect();
        for sql in d.delete_chain(job) {
            // Skip tables that are not in the database (dropped by hand, never created).
            let name = tables
                .iter()
                .find(|t| sql.ends_with(&d.table(&t.table.name)))
                .map(|t| t.table.name.clone());
            if let Some(name) = &name
                && !self.table_exists(name)?
            {
                continue;
            }
            self.exec(
                &sql,
                &format!(
                    "cannot empty table {} for replace",
                    name.as_deref().unwrap_or("?")
                ),
            )?;
        }
        self.write_append(job)
    }

    fn write_merge(&self, job: &ChainJob) -> Result<u64> {
        let root_name = &job.root.table.name;
        // Nested tables that get no rows and are not in the database (never created, dropped
        // by hand) have nothing to delete from: leave them out of the merge statements.
        let mut job = job.clone();
        let mut nested = Vec::with_capacity(job.nested.len());
        for t in std::mem::take(&mut job.nested) {
            if !t.files.is_empty() || self.table_exists(&t.table.name)? {
                nested.push(t);
            }
        }
        job.nested = nested;
        let job = &job;
        let d = self.dialect();
        let mut staging: HashMap<String, String> = HashMap::new();
        for (i, t) in job.tables().enumerate() {
            if t.files.is_empty() {
                continue;
            }
            let stg = format!("temp.main.{}", d.quote(&format!("_sluice_staging_{i}")));
            self.exec(
                &format!(
                    "CREATE OR REPLACE TEMP TABLE {} AS SELECT * FROM {} LIMIT 0",
                    d.quote(&format!("_sluice_staging_{i}")),
                    d.table(&t.table.name)
                ),
                &format!("cannot create the staging table of {}", t.table.name),
            )?;
            self.insert_files(t, &stg)?;
            staging.insert(t.table.name.clone(), stg);
        }
        let lookup = |name: &str| -> String {
            staging
                .get(name)
                .cloned()
                // A table without files has no staging table; merge SQL does not touch it then.
                .unwrap_or_else(|| d.table(name))
        };
        let mut rows = 0u64;
        let context = format!("cannot merge into table {root_name}");
        let statements = match job.merge_strategy {
            MergeStrategy::Upsert => d.merge_upsert(job, &lookup),
            _ => d.merge_delete_insert(job, &lookup),
        };
        for sql in statements {
            let n = self.exec(&sql, &context)?;
            if sql.starts_with("INSERT") || sql.starts_with("MERGE") {
                rows += n as u64;
            }
        }
        for stg in staging.values() {
            self.exec(
                &format!("DROP TABLE IF EXISTS {stg}"),
                "cannot drop a staging table",
            )?;
        }
        Ok(rows)
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
            let d = self.dialect();
            let mut statements = vec![d.create_dataset()];
            statements.extend(system_tables().iter().map(|t| d.create_table(t)));
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
mod unit_tests {
    use super::*;

    #[test]
    fn destination_is_send() {
        fn is_send<T: Send>() {}
        is_send::<DuckDbDestination>();
    }
}
