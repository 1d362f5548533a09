//! The running BigQuery destination: datasets and tables through the REST API, load jobs
//! into the final tables (append) or per-load staging tables (replace, merge) and the SQL of
//! `sluice_core::sql` after them, and the `_dlt_loads` row written last.

use crate::client::{self, QueryResult, run_query};
use crate::config::BigQuerySettings;
use crate::convert::to_record_batch;
use crate::error::{bq_error, is_conflict, is_not_found};
use crate::jobs::Uploader;
use crate::types::{bq_literal, field_schema};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::table::Table as BqTable;
use gcp_bigquery_client::model::table_schema::TableSchema;
use sha2::{Digest, Sha256};
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, system_tables};
use sluice_core::sql::SqlDialect;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Column, Destination, Error, LoadCommit,
    MergeStrategy, Result, Schema, SchemaChange, StateRecord, Table,
};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Prefix of the per-load staging tables (dropped after the load is recorded).
pub const STAGING_PREFIX: &str = "_sluice_stg_";

/// Schema JSON longer than this is stored zlib-compressed and base64-encoded in `_dlt_version`
/// (BigQuery's query text is limited to 1 MiB).
const MAX_INLINE_SCHEMA: usize = 512 * 1024;

/// A short hex digest of `parts` (staging table names, load job ids, `_dlt_id`s of state rows).
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A connected BigQuery destination bound to one dataset.
pub struct BigQueryDestination {
    client: gcp_bigquery_client::Client,
    pub(crate) uploader: Uploader,
    pub(crate) settings: BigQuerySettings,
    caps: Capabilities,
    staging: Vec<String>,
}

impl std::fmt::Debug for BigQueryDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigQueryDestination")
            .field("location", &self.location())
            .field("credentials", &self.settings.credentials)
            .finish_non_exhaustive()
    }
}

impl BigQueryDestination {
    /// Build the clients (no request is sent yet).
    pub async fn connect(settings: BigQuerySettings) -> Result<Self> {
        let auth = client::authenticator(&settings).await?;
        let timeout = Duration::from_secs(settings.http_timeout.max(60));
        let client = gcp_bigquery_client::client_builder::ClientBuilder::new()
            .with_v2_base_url(settings.rest_root())
            .build_from_authenticator(auth.clone())
            .await
            .map_err(|e| bq_error("cannot build the client", e))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.http_timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::internal(format!("cannot build the HTTP client: {e}")))?;
        let uploader = Uploader {
            http,
            auth,
            upload_root: settings.upload_root(),
            rest_root: settings.rest_root(),
            project_id: settings.project_id.clone(),
            location: settings.location.clone(),
        };
        Ok(Self {
            client,
            uploader,
            settings,
            caps: crate::capabilities(),
            staging: Vec::new(),
        })
    }

    /// The settings in use.
    pub fn settings(&self) -> &BigQuerySettings {
        &self.settings
    }

    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.settings.dataset.clone()).with_backslash_escapes()
    }

    /// Run one statement and return its rows and DML count.
    pub async fn execute(&self, sql: &str, context: &str) -> Result<QueryResult> {
        run_query(&self.client, &self.settings, sql, context).await
    }

    async fn dataset_exists(&self) -> Result<bool> {
        match self
            .client
            .dataset()
            .get(&self.settings.project_id, &self.settings.dataset)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(bq_error("cannot look up the dataset", e)),
        }
    }

    /// The table named `name`, if it exists.
    pub(crate) async fn get_table(&self, name: &str) -> Result<Option<BqTable>> {
        match self
            .client
            .table()
            .get(
                &self.settings.project_id,
                &self.settings.dataset,
                name,
                None,
            )
            .await
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(bq_error(&format!("cannot look up table {name}"), e)),
        }
    }

    /// Create `table` (as `name`) or add its missing columns: ALTER TABLE ADD COLUMN IF NOT
    /// EXISTS and a tables.patch of the schema (the emulator needs both; BigQuery accepts both).
    async fn ensure_table(&self, name: &str, table: &Table, expires: bool) -> Result<()> {
        let columns: Vec<&Column> = table.complete_columns().collect();
        if columns.is_empty() {
            return Ok(());
        }
        match self.get_table(name).await? {
            None => {
                let schema = TableSchema::new(columns.iter().map(|c| field_schema(c)).collect());
                let mut t = BqTable::new(
                    &self.settings.project_id,
                    &self.settings.dataset,
                    name,
                    schema,
                );
                if expires {
                    // Abandoned staging tables go away by themselves after a week.
                    let at = chrono::Utc::now() + chrono::Duration::days(7);
                    t.expiration_time = Some(at.timestamp_millis().to_string());
                }
                match self.client.table().create(t).await {
                    Ok(_) => Ok(()),
                    Err(e) if is_conflict(&e) => {
                        Box::pin(self.ensure_table(name, table, expires)).await
                    }
                    Err(e) => Err(bq_error(&format!("cannot create table {name}"), e)),
                }
            }
            Some(existing) => {
                let present: HashSet<String> = existing
                    .schema
                    .fields
                    .as_ref()
                    .map(|f| f.iter().map(|f| f.name.clone()).collect())
                    .unwrap_or_default();
                let missing: Vec<&Column> = columns
                    .into_iter()
                    .filter(|c| !present.contains(&c.name))
                    .collect();
                if missing.is_empty() {
                    return Ok(());
                }
                let d = self.dialect();
                for c in &missing {
                    let sql = d.add_column(name, c);
                    self.execute(
                        &sql,
                        &format!("cannot add column {} to table {name}", c.name),
                    )
                    .await?;
                }
                // Patch with the union: what the table has now plus the new columns.
                let current = self.get_table(name).await?.unwrap_or(existing);
                let mut fields = current.schema.fields.clone().unwrap_or_default();
                for c in &missing {
                    if !fields.iter().any(|f| f.name == c.name) {
                        let mut f = field_schema(c);
                        f.mode = Some("NULLABLE".into());
                        fields.push(f);
                    }
                }
                let mut patch = current.clone();
                patch.schema = TableSchema::new(fields);
                self.client
                    .table()
                    .patch(
                        &self.settings.project_id,
                        &self.settings.dataset,
                        name,
                        patch,
                    )
                    .await
                    .map_err(|e| {
                        bq_error(&format!("cannot patch the schema of table {name}"), e)
                    })?;
                Ok(())
            }
        }
    }

    /// The qualified, quoted name of a table (`` `dataset`.`table` ``).
    fn qualified(&self, name: &str) -> String {
        self.dialect().table(name)
    }

    /// The staging table of `table` for `load_id`.
    pub fn staging_name(load_id: &str, table: &str) -> String {
        let name = format!("{STAGING_PREFIX}{}_{table}", short_hash(&[load_id]));
        if name.len() <= 1024 {
            name
        } else {
            format!(
                "{STAGING_PREFIX}{}_{}",
                short_hash(&[load_id]),
                short_hash(&[table])
            )
        }
    }

    /// Create the staging tables of the chain's tables that have files and load them.
    async fn stage(&mut self, job: &ChainJob) -> Result<HashMap<String, String>> {
        let mut staged = HashMap::new();
        for t in job.tables() {
            if t.files.is_empty() || t.table.complete_columns().next().is_none() {
                continue;
            }
            let stg = Self::staging_name(&job.load_id, &t.table.name);
            self.ensure_table(&stg, &t.table, true).await?;
            if !self.staging.contains(&stg) {
                self.staging.push(stg.clone());
            }
            self.load_table(job, t, &stg).await?;
            staged.insert(t.table.name.clone(), self.qualified(&stg));
        }
        Ok(staged)
    }

    async fn write_append(&self, job: &ChainJob) -> Result<u64> {
        let mut rows = 0;
        for t in job.tables() {
            if t.files.is_empty() {
                continue;
            }
            rows += self.load_table(job, t, &t.table.name).await?;
        }
        Ok(rows)
    }

    async fn write_replace(&mut self, job: &ChainJob) -> Result<u64> {
        let staged = self.stage(job).await?;
        let d = self.dialect();
        let mut statements = Vec::new();
        for t in job.nested.iter().rev().chain(std::iter::once(&job.root)) {
            if t.table.complete_columns().next().is_some()
                && self.get_table(&t.table.name).await?.is_some()
            {
                statements.push(format!("DELETE FROM {} WHERE TRUE", d.table(&t.table.name)));
            }
        }
        for t in job.tables() {
            if let Some(stg) = staged.get(&t.table.name) {
                statements.push(d.insert_from(&t.table, stg, None));
            }
        }
        self.run_statements(
            &statements,
            &format!("cannot replace table {}", job.root.table.name),
        )
        .await
    }

    async fn write_merge(&mut self, job: &ChainJob) -> Result<u64> {
        let root_name = job.root.table.name.clone();
        // Nested tables without rows that do not exist have nothing to delete from.
        let mut job = job.clone();
        let mut nested = Vec::with_capacity(job.nested.len());
        for t in std::mem::take(&mut job.nested) {
            if !t.files.is_empty() || self.get_table(&t.table.name).await?.is_some() {
                nested.push(t);
            }
        }
        job.nested = nested;
        let staged = self.stage(&job).await?;
        let d = self.dialect();
        let lookup =
            |name: &str| -> String { staged.get(name).cloned().unwrap_or_else(|| d.table(name)) };
        let statements = match job.merge_strategy {
            MergeStrategy::Upsert => d.merge_upsert(&job, &lookup),
            MergeStrategy::Scd2 => d.merge_scd2(&job, &lookup)?,
            _ => {
                // BigQuery cannot name the target of a DELETE by its qualified name inside the
                // condition: give it the alias `d`.
                let target = d.table(&root_name);
                d.merge_delete_insert(&job, &lookup)
                    .into_iter()
                    .map(|s| {
                        let head = format!("DELETE FROM {target} WHERE ");
                        match s.strip_prefix(&head) {
                            Some(cond) => format!(
                                "DELETE FROM {target} AS d WHERE {}",
                                cond.replace(&format!("= {target}."), "= d.")
                            ),
                            None => s,
                        }
                    })
                    .collect()
            }
        };
        self.run_statements(&statements, &format!("cannot merge into table {root_name}"))
            .await
    }

    async fn run_statements(&self, statements: &[String], context: &str) -> Result<u64> {
        let mut rows = 0;
        for sql in statements {
            let r = self.execute(sql, context).await?;
            if sql.starts_with("INSERT") || sql.starts_with("MERGE") {
                rows += r.dml_rows;
            }
        }
        Ok(rows)
    }

    async fn drop_staging(&mut self) {
        for stg in std::mem::take(&mut self.staging) {
            if let Err(e) = self
                .client
                .table()
                .delete(&self.settings.project_id, &self.settings.dataset, &stg)
                .await
                && !is_not_found(&e)
            {
                tracing::warn!(target: "sluice::bigquery", table = %stg, "cannot drop a staging table: {}", bq_error("drop", e));
            }
        }
    }

    fn commit_statements(&self, commit: &LoadCommit) -> Result<Vec<(String, &'static str)>> {
        let d = self.dialect();
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let ts = |t: &str| format!("CAST({} AS TIMESTAMP)", bq_literal(t));
        let schema = &commit.schema;
        let mut schema_text = schema.to_json()?;
        if schema_text.len() > MAX_INLINE_SCHEMA {
            schema_text = sluice_core::state::compress_state(&serde_json::from_str(&schema_text)?);
        }
        let version = d.table(sluice_core::VERSION_TABLE);
        let mut out = vec![(
            format!(
                "INSERT INTO {version} (`version`, `engine_version`, `inserted_at`, `schema_name`, `version_hash`, `schema`) \
                 SELECT {}, {}, {}, {}, {}, {} FROM (SELECT 1) WHERE NOT EXISTS (SELECT 1 FROM {version} WHERE `version_hash` = {})",
                schema.version,
                schema.engine_version,
                ts(&now),
                bq_literal(&schema.name),
                bq_literal(&schema.version_hash),
                bq_literal(&schema_text),
                bq_literal(&schema.version_hash),
            ),
            "cannot store the schema version",
        )];
        if let Some(state) = &commit.state {
            let st = d.table(sluice_core::STATE_TABLE);
            let dlt_id = short_hash(&[&commit.load_id, &state.pipeline_name]);
            out.push((
                format!(
                    "INSERT INTO {st} (`version`, `engine_version`, `pipeline_name`, `state`, `created_at`, `version_hash`, `{C_DLT_LOAD_ID}`, `{C_DLT_ID}`) \
                     SELECT {}, {}, {}, {}, {}, {}, {}, {} FROM (SELECT 1) WHERE NOT EXISTS (SELECT 1 FROM {st} WHERE `{C_DLT_LOAD_ID}` = {} AND `pipeline_name` = {})",
                    state.version,
                    sluice_core::schema::ENGINE_VERSION,
                    bq_literal(&state.pipeline_name),
                    bq_literal(&sluice_core::state::compress_state(&state.state)),
                    ts(&state.created_at),
                    bq_literal(&state.version_hash),
                    bq_literal(&commit.load_id),
                    bq_literal(&dlt_id),
                    bq_literal(&commit.load_id),
                    bq_literal(&state.pipeline_name),
                ),
                "cannot store the pipeline state",
            ));
        }
        let loads = d.table(sluice_core::LOADS_TABLE);
        out.push((
            format!(
                "INSERT INTO {loads} (`load_id`, `schema_name`, `status`, `inserted_at`, `schema_version_hash`) \
                 SELECT {}, {}, 0, {}, {} FROM (SELECT 1) WHERE NOT EXISTS (SELECT 1 FROM {loads} WHERE `load_id` = {} AND `status` = 0)",
                bq_literal(&commit.load_id),
                bq_literal(&schema.name),
                ts(&now),
                bq_literal(&schema.version_hash),
                bq_literal(&commit.load_id),
            ),
            "cannot record the load",
        ));
        Ok(out)
    }
}

fn text_at(r: &QueryResult, row: usize, col: usize) -> Option<String> {
    let v = r
        .rows
        .get(row)?
        .columns
        .as_ref()?
        .get(col)?
        .value
        .as_ref()?;
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

#[async_trait]
impl Destination for BigQueryDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        let host = if self.settings.endpoint_overridden {
            format!(" at {}", self.settings.api_endpoint)
        } else {
            String::new()
        };
        format!(
            "bigquery://{}/{} ({}{host})",
            self.settings.project_id, self.settings.dataset, self.settings.location
        )
    }

    async fn check(&mut self) -> Result<()> {
        self.execute("SELECT 1", "the service does not answer")
            .await
            .map(|_| ())
    }

    async fn initialize(&mut self) -> Result<()> {
        if !self.dataset_exists().await? {
            let ds = Dataset::new(&self.settings.project_id, &self.settings.dataset)
                .location(&self.settings.location);
            match self.client.dataset().create(ds).await {
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(bq_error("cannot create the dataset", e)),
            }
        }
        for t in system_tables() {
            self.ensure_table(&t.name, &t, false).await?;
        }
        Ok(())
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        if self.get_table(sluice_core::LOADS_TABLE).await?.is_none() {
            return Ok(false);
        }
        let r = self
            .execute(
                &self.dialect().select_load(load_id),
                "cannot read the loads table",
            )
            .await?;
        Ok(text_at(&r, 0, 0)
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
            > 0)
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        tracing::debug!(target: "sluice::bigquery", load_id, "begin load");
        self.staging.clear();
        Ok(())
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        for change in changes {
            match change {
                SchemaChange::CreateTable { table } => {
                    self.ensure_table(&table.name, table, false).await?;
                }
                SchemaChange::AddColumns { table, columns } => {
                    let mut t = Table::new(table.clone());
                    for c in columns {
                        t.columns.insert(c.name.clone(), c.clone());
                    }
                    if self.get_table(table).await?.is_none() {
                        return Err(Error::destination(format!(
                            "cannot add columns to table {table}: it does not exist"
                        )));
                    }
                    self.ensure_table(table, &t, false).await?;
                }
            }
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        match job.disposition {
            ChainDisposition::Append => self.write_append(job).await,
            ChainDisposition::Replace => self.write_replace(job).await,
            ChainDisposition::Merge => self.write_merge(job).await,
        }
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        for (sql, context) in self.commit_statements(commit)? {
            self.execute(&sql, &format!("load {}: {context}", commit.load_id))
                .await?;
        }
        self.drop_staging().await;
        tracing::debug!(target: "sluice::bigquery", load_id = %commit.load_id, "load recorded");
        Ok(())
    }

    async fn abort_load(&mut self) -> Result<()> {
        // Nothing to roll back: staging tables and load-job markers stay so that the retry of
        // this load id reuses them.
        self.staging.clear();
        Ok(())
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if self.get_table(sluice_core::VERSION_TABLE).await?.is_none() {
            return Ok(None);
        }
        let r = self
            .execute(
                &self.dialect().select_schema(schema_name),
                "cannot read the stored schema",
            )
            .await?;
        let Some(text) = text_at(&r, 0, 0) else {
            return Ok(None);
        };
        Ok(Some(Schema::from_stored(&text).map_err(|e| {
            e.context(format!("stored schema '{schema_name}'"))
        })?))
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        if self.get_table(sluice_core::STATE_TABLE).await?.is_none()
            || self.get_table(sluice_core::LOADS_TABLE).await?.is_none()
        {
            return Ok(None);
        }
        let r = self
            .execute(
                &self.dialect().select_state(pipeline_name),
                "cannot read the stored pipeline state",
            )
            .await?;
        if r.rows.is_empty() {
            return Ok(None);
        }
        let state = text_at(&r, 0, 2).unwrap_or_default();
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: text_at(&r, 0, 0).and_then(|v| v.parse().ok()).unwrap_or(0),
            version_hash: text_at(&r, 0, 1).unwrap_or_default(),
            state: sluice_core::state::decompress_state(&state)
                .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
            created_at: sluice_core::sql::timestamp_to_rfc3339(
                &text_at(&r, 0, 3).unwrap_or_default(),
            ),
        }))
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        for t in tables {
            match self
                .client
                .table()
                .delete(&self.settings.project_id, &self.settings.dataset, t)
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(bq_error(&format!("cannot drop table {t}"), e)),
            }
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let r = self.execute(sql, "query failed").await?;
        Ok(vec![to_record_batch(&r)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_names_are_per_load_and_bounded() {
        let a = BigQueryDestination::staging_name("1", "t");
        assert!(a.starts_with(STAGING_PREFIX) && a.ends_with("_t"));
        assert_ne!(a, BigQueryDestination::staging_name("2", "t"));
        assert!(BigQueryDestination::staging_name("1", &"x".repeat(1100)).len() <= 1024);
    }
}
