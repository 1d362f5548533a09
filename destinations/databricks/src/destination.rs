//! The running Databricks destination: the dataset and system tables, schema changes, the load
//! steps (the ways files reach tables are in `load.rs`), stored schema and state, and queries.
//!
//! Every statement runs in the configured catalog (the statement's `catalog`), so the dataset is
//! the Unity Catalog schema `catalog.dataset` and tables are named `` `dataset`.`table` ``.
//! Databricks runs each statement on its own (no multi-statement transactions): every step is
//! safe to repeat for the same load id, and the `_dlt_loads` row is written last, so a load
//! counts only once all of it is in. Staged files are deleted after the commit or the abort
//! (unless `keep_staged_files`).

use crate::client::DatabricksClient;
use crate::config::DatabricksSettings;
use crate::error::query_error;
use crate::types::literal;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::sql::{SqlDialect, statement_kind};
use sluice_core::system_tables::SqlRunner;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Column, Destination, Error, LoadCommit, Result,
    Schema, SchemaChange, StateRecord, Table,
};
use std::collections::HashSet;

/// A connected Databricks destination bound to one dataset.
pub struct DatabricksDestination {
    pub(crate) client: DatabricksClient,
    pub(crate) caps: Capabilities,
    pub(crate) settings: DatabricksSettings,
    pub(crate) volume_ready: bool,
    pub(crate) staging_ready: bool,
    /// Loads whose files were staged in the volume (their folders go after commit or abort).
    pub(crate) staged_loads: HashSet<String>,
    /// Statements that drop staging tables after the load.
    pub(crate) cleanup: Vec<String>,
    recorded: Option<Vec<String>>,
}

impl std::fmt::Debug for DatabricksDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabricksDestination")
            .field("location", &Destination::location(self))
            .field("loader_file_format", &self.settings.loader_file_format)
            .finish()
    }
}

impl DatabricksDestination {
    /// Bind to the workspace and dataset of `settings` (no request is sent yet).
    pub fn connect(settings: DatabricksSettings) -> Result<Self> {
        let client = DatabricksClient::new(&settings.credentials, settings.statement_timeout)?;
        Ok(Self {
            client,
            caps: crate::capabilities(),
            settings,
            volume_ready: false,
            staging_ready: false,
            staged_loads: HashSet::new(),
            cleanup: Vec::new(),
            recorded: None,
        })
    }

    /// The Statement Execution API client (for embedding programs and tests).
    pub fn client(&self) -> &DatabricksClient {
        &self.client
    }

    /// Keep the text of every statement sent from now on (for tests that check the SQL).
    pub fn record_statements(&mut self) {
        self.recorded = Some(Vec::new());
    }

    /// The statements sent since [`record_statements`](Self::record_statements).
    pub fn recorded_statements(&self) -> &[String] {
        self.recorded.as_deref().unwrap_or_default()
    }

    pub(crate) fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone())
    }

    pub(crate) fn staging_dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, format!("{}_staging", self.settings.dataset))
    }

    /// Run a statement; errors say what failed (`context`) and which kind of statement.
    pub(crate) async fn exec(
        &mut self,
        sql: &str,
        context: &str,
    ) -> Result<crate::client::StatementResult> {
        if let Some(log) = &mut self.recorded {
            log.push(sql.to_string());
        }
        self.client
            .execute(sql)
            .await
            .map_err(|e| e.context(format!("{context} ({})", statement_kind(sql))))
    }

    /// Tables of the dataset (names as stored).
    pub(crate) async fn existing_tables(&mut self) -> Result<HashSet<String>> {
        let sql = format!(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = {} AND table_schema = {}",
            literal(self.client.catalog()),
            literal(&self.caps.casefold.apply(&self.settings.dataset))
        );
        let r = self
            .exec(&sql, "cannot list the tables of the dataset")
            .await?;
        Ok(r.rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .collect())
    }

    /// Columns of a table (empty when the table does not exist).
    async fn existing_columns(&mut self, table: &str) -> Result<HashSet<String>> {
        let sql = format!(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = {} AND table_schema = {} AND table_name = {}",
            literal(self.client.catalog()),
            literal(&self.caps.casefold.apply(&self.settings.dataset)),
            literal(&self.caps.casefold.apply(table))
        );
        let r = self
            .exec(&sql, &format!("cannot list the columns of table {table}"))
            .await?;
        Ok(r.rows
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
            .map(|c| c.to_lowercase())
            .collect())
    }

    /// `ALTER TABLE … ADD COLUMN` (Databricks has no `IF NOT EXISTS` here: missing columns are
    /// looked up first). Added columns are nullable.
    pub fn add_column_sql(&self, table: &str, column: &Column) -> String {
        let mut c = column.clone();
        c.nullable = true;
        let d = self.dialect();
        format!(
            "ALTER TABLE {} ADD COLUMN {}",
            d.table(table),
            d.column_def(&c)
        )
    }

    async fn add_missing_columns<'c>(
        &mut self,
        table: &str,
        columns: impl Iterator<Item = &'c Column>,
    ) -> Result<()> {
        let existing = self.existing_columns(table).await?;
        let missing: Vec<String> = columns
            .filter(|c| !existing.contains(&self.caps.casefold.apply(&c.name)))
            .map(|c| self.add_column_sql(table, c))
            .collect();
        for sql in missing {
            self.exec(&sql, &format!("cannot add columns to table {table}"))
                .await?;
        }
        Ok(())
    }

    /// Drop staging tables and delete staged files of finished loads (failures only logged:
    /// the data is in).
    async fn run_cleanup(&mut self) {
        for sql in std::mem::take(&mut self.cleanup) {
            if let Err(e) = self.client.execute(&sql).await {
                tracing::debug!(target: "sluice::databricks", error = %e, "cannot drop a staging table");
            }
        }
        if self.settings.keep_staged_files {
            self.staged_loads.clear();
            return;
        }
        for load_id in std::mem::take(&mut self.staged_loads) {
            let folder = self.load_folder(&load_id);
            if let Err(e) = self.client.delete_tree(&folder).await {
                tracing::warn!(target: "sluice::databricks", error = %e, folder, "cannot delete staged files");
            }
        }
    }

    /// `_dlt_version` row unless its hash is stored: the shared statement, with the schema
    /// JSON as a literal Databricks reads the same as standard SQL.
    fn insert_version(&self, schema: &Schema, inserted_at: &str) -> Result<String> {
        let d = self.dialect();
        let t = d.table(sluice_core::VERSION_TABLE);
        let q = |c: &str| d.quote(c);
        Ok(format!(
            "INSERT INTO {t} ({}, {}, {}, {}, {}, {}) SELECT {}, {}, CAST({} AS TIMESTAMP), {}, {}, {} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {} = {})",
            q("version"),
            q("engine_version"),
            q("inserted_at"),
            q("schema_name"),
            q("version_hash"),
            q("schema"),
            schema.version,
            schema.engine_version,
            literal(inserted_at),
            literal(&schema.name),
            literal(&schema.version_hash),
            literal(&schema.to_json()?),
            q("version_hash"),
            literal(&schema.version_hash),
        ))
    }

    async fn commit_inner(&mut self, commit: &LoadCommit) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        plain_name("schema name", &commit.schema.name)?;
        let mut statements = vec![(
            self.insert_version(&commit.schema, &now)?,
            "cannot store the schema version",
        )];
        {
            let d = self.dialect();
            if let Some(state) = &commit.state {
                plain_name("pipeline name", &state.pipeline_name)?;
                let dlt_id = sluice_core::naming::digest128(
                    &format!(
                        "{}:{}:{}",
                        state.pipeline_name, commit.load_id, state.version_hash
                    ),
                    10,
                );
                statements.push((
                    d.insert_state(state, &commit.load_id, &dlt_id),
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
        Ok(())
    }
}

/// Names go into statements through the shared SQL, whose literals double quotes: refuse the
/// two characters Databricks reads otherwise.
fn plain_name(what: &str, name: &str) -> Result<()> {
    if name.contains(['\'', '\\']) {
        return Err(Error::config(format!(
            "the databricks destination cannot store a {what} with a quote or backslash: {name}"
        )));
    }
    Ok(())
}

#[async_trait]
impl SqlRunner for DatabricksDestination {
    fn dialect(&self) -> SqlDialect<'_> {
        DatabricksDestination::dialect(self)
    }

    async fn text_rows(&mut self, sql: &str, context: &str) -> Result<Vec<Vec<Option<String>>>> {
        Ok(self.exec(sql, context).await?.rows)
    }

    async fn table_exists(&mut self, table: &str) -> Result<bool> {
        Ok(self
            .existing_tables()
            .await?
            .contains(&self.caps.casefold.apply(table)))
    }
}

#[async_trait]
impl Destination for DatabricksDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn sql_runner(&mut self) -> Option<&mut dyn SqlRunner> {
        Some(self)
    }

    fn location(&self) -> String {
        format!(
            "{}.{}",
            self.settings.credentials.display(),
            self.caps.casefold.apply(&self.settings.dataset)
        )
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        tracing::debug!(target: "sluice::databricks", load_id, "begin load");
        self.cleanup.clear();
        Ok(())
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        for change in changes {
            match change {
                SchemaChange::CreateTable { table } => {
                    let existing = self.existing_columns(&table.name).await?;
                    if existing.is_empty() {
                        let sql = self.dialect().create_table(table);
                        self.exec(&sql, &format!("cannot create table {}", table.name))
                            .await?;
                    } else {
                        self.add_missing_columns(&table.name, table.complete_columns())
                            .await?;
                    }
                }
                SchemaChange::AddColumns { table, columns } => {
                    self.add_missing_columns(table, columns.iter()).await?;
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
        self.run_cleanup().await;
        result?;
        tracing::debug!(target: "sluice::databricks", load_id = %commit.load_id, "load committed");
        Ok(())
    }

    async fn abort_load(&mut self) -> Result<()> {
        self.run_cleanup().await;
        Ok(())
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if !self.table_exists(sluice_core::VERSION_TABLE).await? {
            return Ok(None);
        }
        plain_name("schema name", schema_name)?;
        let sql = self.dialect().select_schema(schema_name);
        let r = self.exec(&sql, "cannot read the stored schema").await?;
        let Some(text) = r
            .rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten())
        else {
            return Ok(None);
        };
        Ok(Some(Schema::from_stored(&text).map_err(|e| {
            e.context(format!("stored schema '{schema_name}'"))
        })?))
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        let tables = self.existing_tables().await?;
        if !tables.contains(sluice_core::STATE_TABLE) || !tables.contains(sluice_core::LOADS_TABLE)
        {
            return Ok(None);
        }
        plain_name("pipeline name", pipeline_name)?;
        let sql = self.dialect().select_state(pipeline_name);
        let r = self
            .exec(&sql, "cannot read the stored pipeline state")
            .await?;
        let Some(row) = r.rows.into_iter().next() else {
            return Ok(None);
        };
        let cell = |i: usize| row.get(i).cloned().flatten();
        let version = cell(0)
            .and_then(|v| v.split('.').next().and_then(|v| v.parse::<i64>().ok()))
            .unwrap_or(0);
        let created = cell(3).unwrap_or_default();
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: version.max(0) as u64,
            version_hash: cell(1).unwrap_or_default(),
            state: sluice_core::state::decompress_state(&cell(2).unwrap_or_default())
                .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
            created_at: utc_text(&created),
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
        let result = self
            .client
            .execute_as(sql, crate::client::ResultFormat::ArrowStream)
            .await
            .map_err(query_error)?;
        crate::convert::to_batches(&result)
    }
}

/// A timestamp as Databricks prints it (`2026-01-02 03:04:05.123`, UTC without a zone) in
/// RFC 3339.
fn utc_text(text: &str) -> String {
    let t = text.trim();
    if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f") {
        return naive
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    }
    sluice_core::sql::timestamp_to_rfc3339(t)
}

/// A table as `CREATE TABLE` text (for tests that check DDL).
pub fn create_table_sql(caps: &Capabilities, dataset: &str, table: &Table) -> String {
    SqlDialect::new(caps, dataset).create_table(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_utc_timestamps_become_rfc3339() {
        assert_eq!(
            utc_text("2026-01-02 03:04:05.123"),
            "2026-01-02T03:04:05.123Z"
        );
        assert_eq!(utc_text("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05Z");
        assert!(plain_name("x", "it's").is_err() && plain_name("x", "plain").is_ok());
    }
}
