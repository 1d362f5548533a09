//! The running Snowflake destination: schema changes, the system tables, queries, and one
//! transaction per load package (the uploads and queued load statements are in `load.rs`).
//!
//! Snowflake commits any open transaction when a DDL statement runs. So a load runs in two
//! phases: [`Destination::apply_schema_changes`] and [`Destination::write_chain`] run their DDL
//! (tables, columns, staging tables) and upload the Parquet files to the stage right away, and
//! queue the data statements (`COPY INTO`, replace deletes, merge statements). Then
//! [`Destination::commit_load`] runs all queued statements plus the `_dlt_version`,
//! `_dlt_pipeline_state` and `_dlt_loads` rows between `BEGIN` and `COMMIT`: readers never see
//! half a package, and a failed package leaves no rows behind.

use crate::client::{QueryResult, SnowflakeClient};
use crate::config::SnowflakeSettings;
use crate::error::query_error;
use crate::load::{Queued, tempfile_dir};
use arrow::array::{Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType as ArrowType;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::naming::digest128;
use sluice_core::sql::statement_kind;
use sluice_core::sql::{SqlDialect, literal_backslash_escaped};
use sluice_core::system_tables::SqlRunner;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Destination, Error, LoadCommit, Result, SchemaChange,
};
use std::collections::HashSet;

/// The stage sluice creates in the dataset when no `stage_name` is configured.
pub const DEFAULT_STAGE: &str = "_sluice_stage";

/// A connected Snowflake destination bound to one dataset.
pub struct SnowflakeDestination {
    pub(crate) client: SnowflakeClient,
    pub(crate) caps: Capabilities,
    pub(crate) settings: SnowflakeSettings,
    pub(crate) queued: Vec<Queued>,
    pub(crate) cleanup: Vec<String>,
    pub(crate) in_transaction: bool,
    pub(crate) stage_ready: bool,
    pub(crate) staging_ready: bool,
    /// Whether the server accepts [`PARQUET_OPTIONS`](crate::load::PARQUET_OPTIONS) (probed once).
    pub(crate) parquet_options: bool,
    pub(crate) temp_dir: Option<tempfile_dir::TempDir>,
}

impl std::fmt::Debug for SnowflakeDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnowflakeDestination")
            .field("location", &Destination::location(self))
            .field("in_transaction", &self.in_transaction)
            .field("queued", &self.queued.len())
            .finish()
    }
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

    pub(crate) fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone()).with_backslash_escapes()
    }

    pub(crate) fn staging_dataset(&self) -> String {
        format!("{}_staging", self.settings.dataset)
    }

    pub(crate) fn staging_dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.staging_dataset()).with_backslash_escapes()
    }

    /// The folded name of an identifier, as Snowflake stores it.
    pub(crate) fn folded(&self, ident: &str) -> String {
        self.caps.casefold.apply(ident)
    }

    pub(crate) async fn exec(&mut self, sql: &str, context: &str) -> Result<QueryResult> {
        self.client
            .query(sql)
            .await
            .map_err(|e| e.context(format!("{context} ({})", statement_kind(sql))))
    }

    /// Tables of the dataset, folded names.
    pub(crate) async fn existing_tables(&mut self) -> Result<HashSet<String>> {
        let sql = format!(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = {}",
            literal_backslash_escaped(&self.folded(&self.settings.dataset))
        );
        let r = self
            .exec(&sql, "cannot list the tables of the dataset")
            .await?;
        Ok(strings(&r.batches, 0)?.into_iter().flatten().collect())
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

fn new_dlt_id() -> String {
    let bytes: u128 = rand::random();
    digest128(&format!("{bytes:032x}"), 10)
}

/// Column `i` of `batches` as text.
pub(crate) fn strings(batches: &[RecordBatch], i: usize) -> Result<Vec<Option<String>>> {
    let mut out = Vec::new();
    for b in batches {
        if i >= b.num_columns() {
            return Err(Error::destination(format!("the result has no column {i}")));
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
        .map_err(|_| Error::destination(format!("expected a count, got '{text}'")))
}

/// Text rows of every column of `batches`.
fn text_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>> {
    let Some(first) = batches.first() else {
        return Ok(Vec::new());
    };
    let columns = (0..first.num_columns())
        .map(|i| strings(batches, i))
        .collect::<Result<Vec<_>>>()?;
    let rows = columns.first().map_or(0, Vec::len);
    Ok((0..rows)
        .map(|r| columns.iter().map(|c| c[r].clone()).collect())
        .collect())
}

#[async_trait]
impl SqlRunner for SnowflakeDestination {
    fn dialect(&self) -> SqlDialect<'_> {
        SnowflakeDestination::dialect(self)
    }

    async fn text_rows(&mut self, sql: &str, context: &str) -> Result<Vec<Vec<Option<String>>>> {
        text_rows(&self.exec(sql, context).await?.batches)
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
}

#[async_trait]
impl Destination for SnowflakeDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn sql_runner(&mut self) -> Option<&mut dyn SqlRunner> {
        Some(self)
    }

    fn location(&self) -> String {
        format!(
            "{}/{}",
            self.settings.credentials.display(),
            self.settings.dataset
        )
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

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        for t in tables {
            let sql = format!("DROP TABLE IF EXISTS {}", self.dialect().table(t));
            self.exec(&sql, &format!("cannot drop table {t}")).await?;
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let r = self.client.query(sql).await.map_err(query_error)?;
        if r.batches.is_empty() {
            return Ok(vec![RecordBatch::new_empty(r.schema())]);
        }
        Ok(r.batches)
    }
}
