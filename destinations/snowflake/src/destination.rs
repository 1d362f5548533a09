//! The running Snowflake destination: schema changes, `PUT` + `COPY INTO`, and one transaction
//! per load package.
//!
//! Snowflake commits any open transaction when a DDL statement runs. So a load runs in two
//! phases: [`Destination::apply_schema_changes`] and [`Destination::write_chain`] run their DDL
//! (tables, columns, staging tables) and upload the Parquet files to the stage right away, and
//! queue the data statements (`COPY INTO`, replace deletes, merge statements). Then
//! [`Destination::commit_load`] runs all queued statements plus the `_dlt_version`,
//! `_dlt_pipeline_state` and `_dlt_loads` rows between `BEGIN` and `COMMIT`: readers never see
//! half a package, and a failed package leaves no rows behind.

use crate::client::{QueryResult, SnowflakeClient, snowflake_error};
use crate::credentials::SnowflakeCredentials;
use arrow::array::{Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType as ArrowType;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::naming::digest128;
use sluice_core::schema::system_tables;
use sluice_core::sql::statement_kind;
use sluice_core::sql::{SqlDialect, literal_backslash_escaped};
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Column, DataType, Destination, Error, LoadCommit,
    MergeStrategy, Result, Schema, SchemaChange, StateRecord, Table, TableJob,
};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The stage sluice creates in the dataset when no `stage_name` is configured.
pub const DEFAULT_STAGE: &str = "_sluice_stage";

/// Extra Parquet options of `COPY INTO` (as dlt sets them): binary columns stay binary,
/// logical types (timestamps, dates, decimals) are honoured.
const PARQUET_OPTIONS: &str = ", BINARY_AS_TEXT = FALSE, USE_LOGICAL_TYPE = TRUE";

/// Settings of a Snowflake destination.
#[derive(Debug, Clone)]
pub struct SnowflakeSettings {
    /// Connection credentials.
    pub credentials: SnowflakeCredentials,
    /// The dataset (Snowflake schema) to load into.
    pub dataset: String,
    /// A named stage to upload to (`DB.SCHEMA.STAGE`, used as written); default: a stage
    /// `_sluice_stage` created in the dataset.
    pub stage_name: Option<String>,
}

/// A statement queued for the load transaction.
#[derive(Debug, Clone)]
enum Queued {
    /// Plain SQL.
    Sql { sql: String, context: String },
    /// `COPY INTO target FROM location` of one Parquet file.
    Copy {
        target: String,
        location: String,
        context: String,
    },
}

/// A connected Snowflake destination bound to one dataset.
pub struct SnowflakeDestination {
    client: SnowflakeClient,
    caps: Capabilities,
    settings: SnowflakeSettings,
    queued: Vec<Queued>,
    cleanup: Vec<String>,
    in_transaction: bool,
    stage_ready: bool,
    staging_ready: bool,
    /// Whether the server accepts [`PARQUET_OPTIONS`] (probed once).
    parquet_options: bool,
    temp_dir: Option<tempfile_dir::TempDir>,
}

impl std::fmt::Debug for SnowflakeDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeDestination")
            .field("location", &self.location_text())
            .field("in_transaction", &self.in_transaction)
            .field("queued", &self.queued.len())
            .finish()
    }
}

/// A minimal self-deleting temporary directory (for stage-safe copies of load files).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// Deleted with its content when dropped.
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<Self> {
            let n: u64 = rand::random();
            let p = std::env::temp_dir().join(format!("sluice-snowflake-{n:016x}"));
            std::fs::create_dir_all(&p)?;
            Ok(Self(p))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A name safe to use unquoted in a stage path.
fn is_stage_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The folder of a table in the stage: its name made ASCII plus a short digest.
fn stage_dir(table: &str) -> String {
    let ascii: String = table
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    format!("{ascii}_{}", digest128(table, 6))
}

impl SnowflakeDestination {
    /// Log in and bind to the dataset of `settings`.
    pub async fn connect(settings: SnowflakeSettings) -> Result<Self> {
        let client = SnowflakeClient::connect(settings.credentials.clone(), None).await?;
        Ok(Self {
            client,
            caps: crate::capabilities(),
            settings,
            queued: Vec::new(),
            cleanup: Vec::new(),
            in_transaction: false,
            stage_ready: false,
            staging_ready: false,
            parquet_options: true,
            temp_dir: None,
        })
    }

    /// The protocol client (for embedding programs that run their own statements).
    pub fn client(&mut self) -> &mut SnowflakeClient {
        &mut self.client
    }

    fn location_text(&self) -> String {
        format!(
            "{}/{}",
            self.settings.credentials.display(),
            self.settings.dataset
        )
    }

    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone()).with_backslash_escapes()
    }

    fn staging_dataset(&self) -> String {
        format!("{}_staging", self.settings.dataset)
    }

    fn staging_dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.staging_dataset()).with_backslash_escapes()
    }

    /// The folded name of an identifier, as Snowflake stores it.
    fn folded(&self, ident: &str) -> String {
        self.caps.casefold.apply(ident)
    }

    async fn exec(&mut self, sql: &str, context: &str) -> Result<QueryResult> {
        self.client
            .query(sql)
            .await
            .map_err(|e| e.context(format!("{context} ({})", statement_kind(sql))))
    }

    /// Tables of the dataset, folded names.
    async fn existing_tables(&mut self) -> Result<HashSet<String>> {
        let sql = format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {}",
            literal_backslash_escaped(&self.folded(&self.settings.dataset))
        );
        let r = self
            .exec(&sql, "cannot list the tables of the dataset")
            .await?;
        Ok(strings(&r.batches, 0)?.into_iter().flatten().collect())
    }

    async fn table_exists(&mut self, table: &str) -> Result<bool> {
        let sql = format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
            literal_backslash_escaped(&self.folded(&self.settings.dataset)),
            literal_backslash_escaped(&self.folded(table))
        );
        let r = self
            .exec(&sql, &format!("cannot look up table {table}"))
            .await?;
        Ok(first_i64(&r.batches)? > 0)
    }

    /// Columns of a table, folded names (empty when the table does not exist).
    async fn existing_columns(&mut self, table: &str) -> Result<HashSet<String>> {
        let sql = format!(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = {} AND table_name = {}",
            literal_backslash_escaped(&self.folded(&self.settings.dataset)),
            literal_backslash_escaped(&self.folded(table))
        );
        let r = self
            .exec(&sql, &format!("cannot list the columns of table {table}"))
            .await?;
        Ok(strings(&r.batches, 0)?.into_iter().flatten().collect())
    }

    /// The stage location files go to (`@"DS"."_SLUICE_STAGE"`).
    fn stage(&self) -> String {
        match &self.settings.stage_name {
            Some(s) => format!("@{s}"),
            None => format!("@{}", self.dialect().table(DEFAULT_STAGE)),
        }
    }

    /// Create the stage when sluice owns it, and find out whether `COPY INTO` accepts the
    /// Parquet options dlt uses (a copy from an empty folder has no effect).
    async fn ensure_stage(&mut self) -> Result<()> {
        if self.stage_ready {
            return Ok(());
        }
        if self.settings.stage_name.is_none() {
            let sql = format!(
                "CREATE STAGE IF NOT EXISTS {}",
                self.dialect().table(DEFAULT_STAGE)
            );
            self.exec(&sql, "cannot create the stage").await?;
        }
        let probe = format!(
            "COPY INTO {} FROM {}/_sluice_probe/ FILE_FORMAT = (TYPE = 'PARQUET'{PARQUET_OPTIONS}) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE",
            self.dialect().table(sluice_core::LOADS_TABLE),
            self.stage()
        );
        match self.client.query(&probe).await {
            Ok(_) => self.parquet_options = true,
            Err(e) => {
                tracing::warn!(
                    target: "sluice::snowflake",
                    error = %e,
                    "COPY INTO does not accept BINARY_AS_TEXT / USE_LOGICAL_TYPE here; loading Parquet without them"
                );
                self.parquet_options = false;
            }
        }
        self.stage_ready = true;
        Ok(())
    }

    async fn ensure_staging_schema(&mut self) -> Result<()> {
        if !self.staging_ready {
            let sql = self.staging_dialect().create_dataset();
            self.exec(&sql, "cannot create the staging dataset").await?;
            self.staging_ready = true;
        }
        Ok(())
    }

    /// A path of `file` that is safe in a stage location (a copy under a plain name when the
    /// file name has other characters).
    fn stage_safe_file(&mut self, file: &Path, n: usize) -> Result<PathBuf> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_stage_safe(&name) {
            return Ok(file.to_path_buf());
        }
        if self.temp_dir.is_none() {
            self.temp_dir = Some(tempfile_dir::TempDir::new()?);
        }
        let dir = self.temp_dir.as_ref().expect("just made").path();
        let safe = dir.join(format!("file_{n}_{}.parquet", digest128(&name, 8)));
        if std::fs::hard_link(file, &safe).is_err() {
            std::fs::copy(file, &safe)?;
        }
        Ok(safe)
    }

    /// Upload a table's files to the stage and queue their load into `target` (a qualified,
    /// quoted name). JSON columns go through a raw table (JSON as text) and `PARSE_JSON`:
    /// a Parquet string lands in a `VARIANT` column as a string, not as the document.
    async fn stage_table(&mut self, load_id: &str, t: &TableJob, target: &str) -> Result<()> {
        if t.files.is_empty() {
            return Ok(());
        }
        self.ensure_stage().await?;
        let dir = format!("{}/{}/{}", self.stage(), load_id, stage_dir(&t.table.name));
        let mut locations = Vec::new();
        for (n, file) in t.files.iter().enumerate() {
            let local = self.stage_safe_file(file, n)?;
            self.client.put_file(&local, &dir).await.map_err(|e| {
                e.context(format!(
                    "cannot upload a load file of table {}",
                    t.table.name
                ))
            })?;
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            locations.push(format!("{dir}/{name}"));
        }
        let has_json = t
            .table
            .complete_columns()
            .any(|c| c.data_type == Some(DataType::Json));
        let context = format!("cannot load table {}", t.table.name);
        if !has_json {
            for location in locations {
                self.queued.push(Queued::Copy {
                    target: target.to_string(),
                    location,
                    context: context.clone(),
                });
            }
            return Ok(());
        }
        self.ensure_staging_schema().await?;
        let mut raw_table = Table::new(format!("_sluice_raw_{}", t.table.name));
        for c in t.table.complete_columns() {
            let mut c = c.clone();
            if c.data_type == Some(DataType::Json) {
                c.data_type = Some(DataType::Text);
            }
            c.nullable = true;
            raw_table = raw_table.with_column(c);
        }
        let (raw, drop_raw, create_raw) = {
            let sd = self.staging_dialect();
            let raw = sd.table(&raw_table.name);
            (
                raw.clone(),
                format!("DROP TABLE IF EXISTS {raw}"),
                sd.create_table(&raw_table),
            )
        };
        self.exec(&drop_raw, &context).await?;
        self.exec(&create_raw, &context).await?;
        for location in locations {
            self.queued.push(Queued::Copy {
                target: raw.clone(),
                location,
                context: context.clone(),
            });
        }
        let d = self.dialect();
        let cols: Vec<&Column> = t.table.complete_columns().collect();
        let names = cols.iter().map(|c| d.quote(&c.name)).collect::<Vec<_>>();
        let values = cols
            .iter()
            .map(|c| {
                if c.data_type == Some(DataType::Json) {
                    format!("PARSE_JSON({})", d.quote(&c.name))
                } else {
                    d.quote(&c.name)
                }
            })
            .collect::<Vec<_>>();
        let insert = format!(
            "INSERT INTO {target} ({}) SELECT {} FROM {raw}",
            names.join(", "),
            values.join(", ")
        );
        self.queued.push(Queued::Sql {
            sql: insert,
            context,
        });
        self.cleanup.push(drop_raw);
        Ok(())
    }

    async fn write_append(&mut self, job: &ChainJob) -> Result<()> {
        for t in job.tables() {
            let target = self.dialect().table(&t.table.name);
            self.stage_table(&job.load_id, t, &target).await?;
        }
        Ok(())
    }

    async fn write_replace(&mut self, job: &ChainJob) -> Result<()> {
        let existing = self.existing_tables().await?;
        let tables: Vec<(String, String)> = {
            let d = self.dialect();
            job.tables()
                .map(|t| (d.table(&t.table.name), t.table.name.clone()))
                .collect()
        };
        let deletes = self.dialect().delete_chain(job);
        for sql in deletes {
            // Skip tables that are not in the database (dropped by hand, never created).
            let name = tables
                .iter()
                .find(|(q, _)| sql.ends_with(q.as_str()))
                .map(|(_, n)| n.clone());
            if let Some(name) = &name
                && !existing.contains(&self.folded(name))
            {
                continue;
            }
            self.queued.push(Queued::Sql {
                sql,
                context: format!(
                    "cannot empty table {} for replace",
                    name.as_deref().unwrap_or("?")
                ),
            });
        }
        self.write_append(job).await
    }

    async fn write_merge(&mut self, job: &ChainJob) -> Result<()> {
        let root_name = job.root.table.name.clone();
        // Nested tables without rows that are not in the database have nothing to merge.
        let existing = self.existing_tables().await?;
        let mut job = job.clone();
        job.nested.retain(|t| {
            !t.files.is_empty() || existing.contains(&self.caps.casefold.apply(&t.table.name))
        });
        self.ensure_staging_schema().await?;
        let mut staged = HashSet::new();
        for t in job.tables() {
            if t.files.is_empty() {
                continue;
            }
            let (stg, drop, create) = {
                let sd = self.staging_dialect();
                let stg = sd.table(&t.table.name);
                let mut table = t.table.clone();
                for c in table.columns.values_mut() {
                    c.nullable = true;
                }
                (
                    stg.clone(),
                    format!("DROP TABLE IF EXISTS {stg}"),
                    sd.create_table(&table),
                )
            };
            let context = format!("cannot create the staging table of {}", t.table.name);
            self.exec(&drop, &context).await?;
            self.exec(&create, &context).await?;
            self.stage_table(&job.load_id, t, &stg).await?;
            self.cleanup.push(drop);
            staged.insert(t.table.name.clone());
        }
        let statements = {
            let d = self.dialect();
            let sd = self.staging_dialect();
            let lookup = |name: &str| -> String {
                if staged.contains(name) {
                    sd.table(name)
                } else {
                    d.table(name)
                }
            };
            match job.merge_strategy {
                MergeStrategy::Upsert => d.merge_upsert(&job, &lookup),
                _ => d.merge_delete_insert(&job, &lookup),
            }
        };
        let context = format!("cannot merge into table {root_name}");
        for sql in statements {
            self.queued.push(Queued::Sql {
                sql,
                context: context.clone(),
            });
        }
        Ok(())
    }

    async fn run_queued(&mut self, q: Queued) -> Result<()> {
        match q {
            Queued::Sql { sql, context } => {
                self.exec(&sql, &context).await?;
            }
            Queued::Copy {
                target,
                location,
                context,
            } => {
                let options = if self.parquet_options {
                    PARQUET_OPTIONS
                } else {
                    ""
                };
                // FORCE: whether a package was loaded is decided by `_dlt_loads`, not by
                // Snowflake's load history (a rolled back attempt must load again).
                let sql = format!(
                    "COPY INTO {target} FROM {location} FILE_FORMAT = (TYPE = 'PARQUET'{options}) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE FORCE = TRUE"
                );
                let r = self.exec(&sql, &context).await?;
                check_copy_result(&r).map_err(|e| e.context(&context))?;
            }
        }
        Ok(())
    }

    async fn rollback(&mut self) -> Result<()> {
        self.queued.clear();
        if self.in_transaction {
            self.in_transaction = false;
            self.exec("ROLLBACK", "cannot roll back the load").await?;
        }
        Ok(())
    }

    async fn run_cleanup(&mut self) {
        for sql in std::mem::take(&mut self.cleanup) {
            if let Err(e) = self.client.query(&sql).await {
                tracing::debug!(target: "sluice::snowflake", error = %e, "cannot drop a staging table");
            }
        }
    }

    async fn commit_inner(&mut self, commit: &LoadCommit) -> Result<()> {
        self.exec("BEGIN", "cannot begin a transaction").await?;
        self.in_transaction = true;
        for q in std::mem::take(&mut self.queued) {
            self.run_queued(q)
                .await
                .map_err(|e| e.context(format!("load {}", commit.load_id)))?;
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let schema_json = commit.schema.to_json()?;
        let mut statements = Vec::new();
        {
            let d = self.dialect();
            statements.push((
                d.insert_version(&commit.schema, &schema_json, &now),
                "cannot store the schema version",
            ));
            if let Some(state) = &commit.state {
                statements.push((
                    d.insert_state(state, &commit.load_id, &new_dlt_id()),
                    "cannot store the pipeline state",
                ));
            }
            statements.push((
                d.insert_load(&commit.load_id, &commit.schema, &now),
                "cannot record the load",
            ));
        }
        for (sql, context) in statements {
            self.exec(&sql, &format!("load {}: {context}", commit.load_id))
                .await?;
        }
        self.exec("COMMIT", &format!("load {}: cannot commit", commit.load_id))
            .await?;
        self.in_transaction = false;
        Ok(())
    }
}

/// A `COPY INTO` answer lists one row per file with a `status`; any status other than
/// `LOADED` (or a copy of nothing) is an error.
fn check_copy_result(r: &QueryResult) -> Result<()> {
    let Some(status_col) = r
        .rowtype
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("status"))
    else {
        return Ok(());
    };
    let error_col = r
        .rowtype
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("first_error"));
    let statuses = strings(&r.batches, status_col)?;
    let errors = match error_col {
        Some(i) => strings(&r.batches, i)?,
        None => vec![None; statuses.len()],
    };
    for (status, err) in statuses.iter().zip(errors) {
        let s = status.as_deref().unwrap_or("").to_ascii_uppercase();
        if s == "LOADED" || s.starts_with("COPY EXECUTED") {
            continue;
        }
        return Err(Error::destination(format!(
            "COPY INTO reported status {s}: {}",
            err.unwrap_or_else(|| "no error message".into())
        )));
    }
    Ok(())
}

fn new_dlt_id() -> String {
    let bytes: u128 = rand::random();
    digest128(&format!("{bytes:032x}"), 10)
}

/// Column `i` of `batches` as text.
fn strings(batches: &[RecordBatch], i: usize) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        if i >= b.num_columns() {
            return Err(Error::destination(format!(
                "snowflake: the result has no column {i}"
            )));
        }
        let c = cast(b.column(i), &ArrowType::Utf8)?;
        let c = c.as_any().downcast_ref::<StringArray>().expect("utf8");
        out.extend(c.iter().map(|v| v.map(str::to_string)));
    }
    Ok(out)
}

/// The first cell as an integer (counts).
fn first_i64(batches: &[RecordBatch]) -> Result<i64> {
    let v = strings(batches, 0)?;
    let text = v.into_iter().next().flatten().unwrap_or_else(|| "0".into());
    text.split('.')
        .next()
        .unwrap_or("0")
        .parse()
        .map_err(|_| Error::destination(format!("snowflake: expected a count, got '{text}'")))
}

#[async_trait]
impl Destination for SnowflakeDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        self.location_text()
    }

    async fn check(&mut self) -> Result<()> {
        self.exec("SELECT 1", "snowflake does not answer")
            .await
            .map(|_| ())
    }

    async fn initialize(&mut self) -> Result<()> {
        let mut statements = vec![self.dialect().create_dataset()];
        statements.extend(
            system_tables()
                .iter()
                .map(|t| self.dialect().create_table(t)),
        );
        for sql in statements {
            self.exec(&sql, "cannot create the dataset and system tables")
                .await?;
        }
        Ok(())
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        if !self.table_exists(sluice_core::LOADS_TABLE).await? {
            return Ok(false);
        }
        let sql = self.dialect().select_load(load_id);
        let r = self.exec(&sql, "cannot read the loads table").await?;
        Ok(first_i64(&r.batches)? > 0)
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        tracing::debug!(target: "sluice::snowflake", load_id, "begin load");
        self.queued.clear();
        self.cleanup.clear();
        Ok(())
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        for change in changes {
            match change {
                SchemaChange::CreateTable { table } => {
                    let context = format!("cannot create table {}", table.name);
                    let existing = self.existing_columns(&table.name).await?;
                    if existing.is_empty() {
                        let sql = self.dialect().create_table(table);
                        self.exec(&sql, &context).await?;
                    } else {
                        // Re-applied change: add what is missing.
                        let missing: Vec<String> = table
                            .complete_columns()
                            .filter(|c| !existing.contains(&self.folded(&c.name)))
                            .map(|c| self.dialect().add_column(&table.name, c))
                            .collect();
                        for sql in missing {
                            self.exec(&sql, &context).await?;
                        }
                    }
                }
                SchemaChange::AddColumns { table, columns } => {
                    let context = format!("cannot add columns to table {table}");
                    for c in columns {
                        let sql = self.dialect().add_column(table, c);
                        self.exec(&sql, &context).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        match job.disposition {
            ChainDisposition::Append => self.write_append(job).await?,
            ChainDisposition::Replace => self.write_replace(job).await?,
            ChainDisposition::Merge => self.write_merge(job).await?,
        }
        Ok(job.rows())
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        let result = self.commit_inner(commit).await;
        if let Err(e) = result {
            if let Err(rb) = self.rollback().await {
                tracing::warn!(target: "sluice::snowflake", error = %rb, "rollback failed");
            }
            self.run_cleanup().await;
            return Err(e);
        }
        self.run_cleanup().await;
        tracing::debug!(target: "sluice::snowflake", load_id = %commit.load_id, "load committed");
        Ok(())
    }

    async fn abort_load(&mut self) -> Result<()> {
        let r = self.rollback().await;
        self.run_cleanup().await;
        r
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if !self.table_exists(sluice_core::VERSION_TABLE).await? {
            return Ok(None);
        }
        let sql = self.dialect().select_schema(schema_name);
        let r = self.exec(&sql, "cannot read the stored schema").await?;
        let Some(text) = strings(&r.batches, 0)?.into_iter().next().flatten() else {
            return Ok(None);
        };
        Ok(Some(Schema::from_stored(&text).map_err(|e| {
            e.context(format!("stored schema '{schema_name}'"))
        })?))
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        if !self.table_exists(sluice_core::STATE_TABLE).await?
            || !self.table_exists(sluice_core::LOADS_TABLE).await?
        {
            return Ok(None);
        }
        let sql = self.dialect().select_state(pipeline_name);
        let ctx = "cannot read the stored pipeline state";
        let r = self.exec(&sql, ctx).await?;
        if r.num_rows() == 0 {
            return Ok(None);
        }
        let cell = |i: usize| -> Result<Option<String>> {
            Ok(strings(&r.batches, i)?.into_iter().next().flatten())
        };
        let version = cell(0)?
            .and_then(|v| v.split('.').next().and_then(|v| v.parse::<i64>().ok()))
            .unwrap_or(0);
        let state = cell(2)?.unwrap_or_default();
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: version.max(0) as u64,
            version_hash: cell(1)?.unwrap_or_default(),
            state: sluice_core::state::decompress_state(&state)
                .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
            created_at: sluice_core::sql::timestamp_to_rfc3339(&cell(3)?.unwrap_or_default()),
        }))
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        for t in tables {
            let sql = format!("DROP TABLE IF EXISTS {}", self.dialect().table(t));
            self.exec(&sql, &format!("cannot drop table {t}")).await?;
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let r = self
            .client
            .query(sql)
            .await
            .map_err(|e| match snowflake_error(&e) {
                Some(se) => Error::destination(format!("query failed: {se}")),
                None => e.context("query failed"),
            })?;
        if r.batches.is_empty() {
            return Ok(vec![RecordBatch::new_empty(r.schema())]);
        }
        Ok(r.batches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_paths_are_plain() {
        assert!(is_stage_safe("orders.0.parquet"));
        assert!(!is_stage_safe("ünï.0.parquet"));
        assert!(!is_stage_safe("a b.parquet"));
        let d = stage_dir("order__ünï");
        assert!(d.starts_with("order___") && d.is_ascii(), "{d}");
        assert_ne!(stage_dir("a"), stage_dir("b"));
    }
}
