//! A sluice destination written the way a third-party crate would write one: SQLite, through
//! `rusqlite`, in one file and depending on `sluice-core` only.
//!
//! It implements the required methods of [`DestinationFactory`] and [`Destination`], plus three
//! of the defaulted ones: `query`, so that loaded data can be read back (the conformance suites
//! and `sluice query` do), `abort_load`, to roll back its transaction, and `drop_tables`.
//! Everything else (the load checks, `Skip` tables, package files, retries, the trait's other
//! defaults) is the pipeline's business.
//!
//! - `[destination.sqlite] path = "folder"` (default: the working directory). Dataset `D` is the
//!   file `<path>/D.sqlite`, attached to the connection as the schema `"D"`, so the shared SQL of
//!   [`SqlDialect`] (`"D"."table"`) works unchanged.
//! - A package is one SQLite transaction: tables, `_dlt_loads`, `_dlt_version` and the state
//!   commit together. Merges are delete-insert through `TEMP` staging tables (SQLite has no
//!   `MERGE`, so `upsert` is not offered and the pipeline refuses it before loading).
//! - Types: integers, doubles and booleans are native; decimals and wei are `TEXT` (exact: SQLite
//!   would turn a 20-digit number into a float), timestamps RFC 3339 `TEXT` in UTC.
//!
//! ```no_run
//! # use std::sync::Arc;
//! let mut registry = sluice_core::Registry::new();
//! registry.register(Arc::new(sluice_example_sqlite::SqliteFactory));
//! // Pipeline::new(&registry, PipelineOptions::new("orders", "sqlite")) now loads into SQLite.
//! ```

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use async_trait::async_trait;
use rusqlite::types::Value;
use sluice_core::blocking::blocking;
use sluice_core::parquet_io::read_parquet;
use sluice_core::schema::system_tables;
use sluice_core::sql::SqlDialect;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Column, DataType, Destination, DestinationConfig,
    DestinationFactory, Error, LoadCommit, MergeStrategy, Result, Schema, SchemaChange,
    StateRecord, Table, TableJob, ValidatedConfig,
};
use std::path::PathBuf;
use std::sync::Arc;

/// The registry name.
pub const NAME: &str = "sqlite";

/// Creates SQLite destinations; registered under the name `sqlite`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqliteFactory;

/// The validated settings: where the dataset file goes.
#[derive(Debug, Clone)]
struct Settings {
    file: PathBuf,
    dataset: String,
}

/// SQLite's capabilities.
pub fn capabilities() -> Capabilities {
    Capabilities {
        supports_transactions: true,
        merge_strategies: vec![MergeStrategy::DeleteInsert],
        type_mapper: sqlite_type,
        ..Capabilities::default()
    }
}

/// The declared SQLite type of a column (see the crate docs).
pub fn sqlite_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Bigint => "BIGINT",
        DataType::Double => "DOUBLE",
        DataType::Bool => "BOOLEAN",
        DataType::Binary => "BLOB",
        _ => "TEXT",
    }
    .into()
}

#[async_trait]
impl DestinationFactory for SqliteFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        config.section.reject_unknown_keys(&["path"], &[])?;
        let folder = match config.section.get_str("path") {
            Some(p) if !p.trim().is_empty() => config.working_dir.join(p),
            Some(_) => return Err(Error::config("[destination.sqlite] path is empty")),
            None => config.working_dir.clone(),
        };
        let dataset = config.dataset_name.clone();
        if dataset.is_empty() || dataset.contains(['/', '\\']) {
            return Err(Error::config(format!(
                "the sqlite destination names its file after the dataset: '{dataset}' cannot be a file name"
            )));
        }
        let file = folder.join(format!("{dataset}.sqlite"));
        Ok(ValidatedConfig::new(
            config.clone(),
            Settings { file, dataset },
        ))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        let settings = config.settings::<Settings>()?.clone();
        Ok(Box::new(blocking(|| SqliteDestination::open(settings))?))
    }
}

/// A connected SQLite destination bound to one dataset.
pub struct SqliteDestination {
    conn: rusqlite::Connection,
    caps: Capabilities,
    settings: Settings,
}

fn sqlite_err(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let what = what.into();
    move |e| Error::destination(format!("sqlite: {what}")).with_source(e)
}

impl SqliteDestination {
    fn open(settings: Settings) -> Result<Self> {
        if let Some(dir) = settings.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = rusqlite::Connection::open_in_memory().map_err(sqlite_err("cannot open"))?;
        let caps = capabilities();
        let d = SqlDialect::new(&caps, settings.dataset.clone());
        let file = settings.file.to_string_lossy().into_owned();
        conn.execute(
            &format!("ATTACH DATABASE ?1 AS {}", d.dataset()),
            [file.as_str()],
        )
        .map_err(sqlite_err(format!("cannot open {file}")))?;
        Ok(Self {
            conn,
            caps,
            settings,
        })
    }

    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone())
    }

    fn exec(&self, sql: &str) -> Result<()> {
        self.conn
            .execute_batch(sql)
            .map_err(sqlite_err(sluice_core::sql::statement_kind(sql)))
    }

    fn columns_of(&self, table: &str) -> Result<Vec<String>> {
        let d = self.dialect();
        let sql = format!("PRAGMA {}.table_info({})", d.dataset(), d.quote(table));
        let mut stmt = self.conn.prepare(&sql).map_err(sqlite_err("table_info"))?;
        let names = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(sqlite_err("table_info"))?;
        names
            .collect::<std::result::Result<_, _>>()
            .map_err(sqlite_err("table_info"))
    }

    /// Create the table, then add the columns it lacks (SQLite has no `ADD COLUMN IF NOT EXISTS`).
    fn ensure_table(&self, table: &Table) -> Result<()> {
        let d = self.dialect();
        self.exec(&d.create_table(table))?;
        let existing = self.columns_of(&table.name)?;
        for c in table.complete_columns() {
            if !existing.iter().any(|e| e.eq_ignore_ascii_case(&c.name)) {
                let mut c = c.clone();
                c.nullable = true;
                self.exec(&format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    d.table(&table.name),
                    d.column_def(&c)
                ))?;
            }
        }
        Ok(())
    }

    /// Insert the rows of a table's files into `target` (a quoted, qualified name).
    fn insert_files(&self, job: &TableJob, target: &str) -> Result<u64> {
        let d = self.dialect();
        let mut rows = 0u64;
        for file in &job.files {
            for batch in read_parquet(file, 8192)? {
                let batch = batch?;
                let names: Vec<String> = batch
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| d.quote(f.name()))
                    .collect();
                let marks = vec!["?"; names.len()].join(", ");
                let sql = format!(
                    "INSERT INTO {target} ({}) VALUES ({marks})",
                    names.join(", ")
                );
                let mut stmt = self.conn.prepare_cached(&sql).map_err(sqlite_err(format!(
                    "cannot insert into table {}",
                    job.table.name
                )))?;
                for row in 0..batch.num_rows() {
                    let values = batch.columns().iter().map(|c| sql_value(c, row));
                    stmt.execute(rusqlite::params_from_iter(values))
                        .map_err(sqlite_err(format!(
                            "cannot insert into table {}",
                            job.table.name
                        )))?;
                    rows += 1;
                }
            }
        }
        Ok(rows)
    }

    fn staging(name: &str) -> String {
        format!("temp.\"_stg_{}\"", name.replace('"', "\"\""))
    }

    fn write_merge(&self, job: &ChainJob) -> Result<u64> {
        let d = self.dialect();
        let mut rows = 0;
        for t in job.tables().filter(|t| !t.files.is_empty()) {
            let stg = Self::staging(&t.table.name);
            self.exec(&format!("DROP TABLE IF EXISTS {stg}"))?;
            self.exec(&format!(
                "CREATE TEMP TABLE {} AS SELECT * FROM {} WHERE 0",
                Self::staging(&t.table.name),
                d.table(&t.table.name)
            ))?;
            rows += self.insert_files(t, &stg)?;
        }
        for sql in d.merge_delete_insert(job, &|name| Self::staging(name)) {
            self.exec(&sql)?;
        }
        for t in job.tables() {
            self.exec(&format!(
                "DROP TABLE IF EXISTS {}",
                Self::staging(&t.table.name)
            ))?;
        }
        Ok(rows)
    }

    fn table_exists(&self, table: &str) -> Result<bool> {
        Ok(!self.columns_of(table)?.is_empty())
    }

    fn first_row(&self, sql: &str) -> Result<Option<Vec<Value>>> {
        let mut stmt = self.conn.prepare(sql).map_err(sqlite_err("query"))?;
        let n = stmt.column_count();
        let mut rows = stmt.query([]).map_err(sqlite_err("query"))?;
        match rows.next().map_err(sqlite_err("query"))? {
            None => Ok(None),
            Some(r) => (0..n)
                .map(|i| r.get::<_, Value>(i).map_err(sqlite_err("query")))
                .collect::<Result<_>>()
                .map(Some),
        }
    }
}

/// One cell of an Arrow column as an SQLite value.
fn sql_value(col: &ArrayRef, row: usize) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    let any = col.as_any();
    if let Some(a) = any.downcast_ref::<Int64Array>() {
        Value::Integer(a.value(row))
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        Value::Real(a.value(row))
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        Value::Integer(a.value(row) as i64)
    } else if let Some(a) = any.downcast_ref::<StringArray>() {
        Value::Text(a.value(row).to_string())
    } else if let Some(a) = any.downcast_ref::<arrow::array::BinaryArray>() {
        Value::Blob(a.value(row).to_vec())
    } else {
        // Timestamps (RFC 3339, UTC), dates, decimals: their exact text.
        Value::Text(array_value_to_string(col, row).unwrap_or_default())
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Integer(i) => Some(i.to_string()),
        Value::Real(f) => Some(f.to_string()),
        Value::Text(s) => Some(s.clone()),
        Value::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

/// Query results as one Arrow batch: columns declared `BOOLEAN` become booleans, columns
/// holding only integers (or only numbers) become Int64 (Float64), the rest text.
fn to_batch(
    names: Vec<String>,
    decl: Vec<Option<String>>,
    rows: Vec<Vec<Value>>,
) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let cells = rows.iter().map(|r| &r[i]);
        let is =
            |f: fn(&Value) -> bool| rows.iter().all(|r| matches!(r[i], Value::Null) || f(&r[i]));
        let array: ArrayRef = if decl[i]
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("BOOLEAN"))
        {
            Arc::new(BooleanArray::from_iter(cells.map(|v| match v {
                Value::Integer(i) => Some(*i != 0),
                _ => None,
            })))
        } else if is(|v| matches!(v, Value::Integer(_))) {
            Arc::new(Int64Array::from_iter(cells.map(|v| match v {
                Value::Integer(i) => Some(*i),
                _ => None,
            })))
        } else if is(|v| matches!(v, Value::Integer(_) | Value::Real(_))) {
            Arc::new(Float64Array::from_iter(cells.map(|v| match v {
                Value::Integer(i) => Some(*i as f64),
                Value::Real(f) => Some(*f),
                _ => None,
            })))
        } else {
            Arc::new(StringArray::from_iter(cells.map(text)))
        };
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    if arrays.is_empty() {
        return Ok(RecordBatch::new_empty(Arc::new(ArrowSchema::empty())));
    }
    debug_assert!(fields.iter().all(|f| f.data_type() != &ArrowType::Null));
    Ok(RecordBatch::try_new(
        Arc::new(ArrowSchema::new(fields)),
        arrays,
    )?)
}

#[async_trait]
impl Destination for SqliteDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        self.settings.file.display().to_string()
    }

    async fn initialize(&mut self) -> Result<()> {
        blocking(|| {
            system_tables()
                .iter()
                .try_for_each(|t| self.ensure_table(t))
        })
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        blocking(|| {
            // Before `initialize` the dataset may not exist yet: then nothing is loaded.
            if !self.table_exists(sluice_core::LOADS_TABLE)? {
                return Ok(false);
            }
            let row = self.first_row(&self.dialect().select_load(load_id))?;
            Ok(matches!(row.as_deref(), Some([Value::Integer(n)]) if *n > 0))
        })
    }

    async fn begin_load(&mut self, _load_id: &str) -> Result<()> {
        blocking(|| self.exec("BEGIN IMMEDIATE"))
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        blocking(|| {
            for change in changes {
                match change {
                    SchemaChange::CreateTable { table } => self.ensure_table(table)?,
                    SchemaChange::AddColumns { table, columns } => {
                        let mut t = Table::new(table.as_str());
                        for c in columns {
                            t.columns.insert(c.name.clone(), c.clone());
                        }
                        self.ensure_table(&t)?
                    }
                }
            }
            Ok(())
        })
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        blocking(|| {
            let d = self.dialect();
            match job.disposition {
                ChainDisposition::Merge => self.write_merge(job),
                disposition => {
                    if disposition == ChainDisposition::Replace {
                        for sql in d.delete_chain(job) {
                            self.exec(&sql)?;
                        }
                    }
                    job.tables()
                        .map(|t| self.insert_files(t, &d.table(&t.table.name)))
                        .sum()
                }
            }
        })
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        blocking(|| {
            let d = self.dialect();
            let now = rfc3339_now();
            self.exec(&d.insert_version(&commit.schema, &commit.schema.to_json()?, &now))?;
            if let Some(state) = &commit.state {
                let id = sluice_core::naming::digest128(
                    &format!("{}{}", commit.load_id, state.version_hash),
                    10,
                );
                self.exec(&d.insert_state(state, &commit.load_id, &id))?;
            }
            self.exec(&d.insert_load(&commit.load_id, &commit.schema, &now))?;
            self.exec("COMMIT")
        })
    }

    async fn abort_load(&mut self) -> Result<()> {
        blocking(|| {
            if !self.conn.is_autocommit() {
                self.exec("ROLLBACK")?;
            }
            Ok(())
        })
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        blocking(|| {
            let d = self.dialect();
            let drops: Vec<String> = tables
                .iter()
                .map(|t| format!("DROP TABLE IF EXISTS {};", d.table(t)))
                .collect();
            self.exec(&format!("BEGIN; {} COMMIT;", drops.join(" ")))
        })
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        blocking(|| {
            if !self.table_exists(sluice_core::VERSION_TABLE)? {
                return Ok(None);
            }
            match self.first_row(&self.dialect().select_schema(schema_name))? {
                Some(row) => match row.first().and_then(text) {
                    Some(json) => Schema::from_stored(&json).map(Some),
                    None => Ok(None),
                },
                None => Ok(None),
            }
        })
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        blocking(|| {
            if !self.table_exists(sluice_core::STATE_TABLE)? {
                return Ok(None);
            }
            let Some(row) = self.first_row(&self.dialect().select_state(pipeline_name))? else {
                return Ok(None);
            };
            let get = |i: usize| row.get(i).and_then(text).unwrap_or_default();
            Ok(Some(StateRecord {
                pipeline_name: pipeline_name.to_string(),
                version: get(0).parse().unwrap_or(0),
                version_hash: get(1),
                state: sluice_core::state::decompress_state(&get(2))?,
                created_at: get(3),
            }))
        })
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        blocking(|| {
            let mut stmt = self.conn.prepare(sql).map_err(sqlite_err("query"))?;
            let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
            let decl: Vec<Option<String>> = stmt
                .columns()
                .iter()
                .map(|c| c.decl_type().map(str::to_string))
                .collect();
            let n = names.len();
            let mut rows = Vec::new();
            let mut cursor = stmt.query([]).map_err(sqlite_err("query"))?;
            while let Some(r) = cursor.next().map_err(sqlite_err("query"))? {
                rows.push(
                    (0..n)
                        .map(|i| r.get::<_, Value>(i).map_err(sqlite_err("query")))
                        .collect::<Result<Vec<_>>>()?,
                );
            }
            Ok(vec![to_batch(names, decl, rows)?])
        })
    }
}

/// Now as RFC 3339 (UTC, seconds), without a date crate.
fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
