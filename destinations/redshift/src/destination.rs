//! The running Redshift destination: one connection, one transaction per load package, every
//! statement sent with the simple query protocol.

use crate::config::RedshiftCredentials;
use crate::connect::connect;
use crate::error::db_error;
use crate::insert::{InsertStatement, STATEMENT_BUDGET, write_statements};
use crate::read::{query_arrow, short, text_rows};
use crate::statement_log::StatementLog;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::capabilities::Capabilities;
use sluice_core::destination::{ChainJob, LoadCommit, StateRecord, TableJob};
use sluice_core::schema::{Schema, SchemaChange};
use sluice_core::sql::{SqlDialect, timestamp_to_rfc3339};
use sluice_core::{ChainDisposition, Destination, Error, Result, Table};
use sluice_postgres::wire;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Client;

/// INSERT statements built ahead of the one being sent (each up to 16 MB).
const STATEMENTS_AHEAD: usize = 1;

/// A connected Redshift destination bound to one dataset (a Redshift schema).
pub struct RedshiftDestination {
    caps: Capabilities,
    creds: RedshiftCredentials,
    dataset: String,
    client: Option<Client>,
    /// The load id whose transaction is open.
    in_load: Option<String>,
    /// Counter for the names of staging temp tables within a session.
    staging_seq: usize,
    log: Option<StatementLog>,
    statement_budget: usize,
}

impl std::fmt::Debug for RedshiftDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedshiftDestination")
            .field("location", &self.creds.display_url())
            .field("dataset", &self.dataset)
            .field("in_load", &self.in_load)
            .finish()
    }
}

impl RedshiftDestination {
    /// Connect with `creds` and bind to `dataset`; `log`, when given, records every statement.
    pub async fn connect(
        creds: RedshiftCredentials,
        dataset: &str,
        log: Option<StatementLog>,
    ) -> Result<Self> {
        let mut dest = Self {
            caps: crate::capabilities(),
            creds,
            dataset: dataset.to_string(),
            client: None,
            in_load: None,
            staging_seq: 0,
            log,
            statement_budget: STATEMENT_BUDGET,
        };
        dest.client().await?;
        Ok(dest)
    }

    /// Cap INSERT statements at `bytes` instead of Redshift's 16 MB (tests of the batching).
    pub fn set_statement_budget(&mut self, bytes: usize) {
        self.statement_budget = bytes.clamp(1024, STATEMENT_BUDGET);
    }

    /// The dataset (Redshift schema) name, as folded for Redshift.
    pub fn dataset_name(&self) -> String {
        self.caps.casefold.apply(&self.dataset)
    }

    /// Redshift reads a backslash in a string literal as an escape: literals double it.
    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.dataset.clone()).with_backslash_escapes()
    }

    /// The open client; reconnects when the connection was lost outside a load. Inside a
    /// load a lost connection is a transient error: the transaction is gone.
    async fn client(&mut self) -> Result<&Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            if let Some(load_id) = &self.in_load {
                return Err(Error::transient(format!(
                    "the connection to redshift at {} was lost while loading {load_id}; nothing of it was committed",
                    self.creds.display_url()
                )));
            }
            let client = connect(&self.creds).await?;
            let setup = "SET timezone TO 'UTC'";
            self.record(setup);
            client
                .batch_execute(setup)
                .await
                .map_err(|e| db_error("cannot set up the session", e))?;
            self.client = Some(client);
        }
        Ok(self.client.as_ref().expect("connected"))
    }

    fn record(&self, sql: &str) {
        if let Some(log) = &self.log {
            log.record(sql);
        }
    }

    /// Send one statement (simple query protocol).
    async fn exec(&mut self, sql: &str) -> Result<()> {
        self.record(sql);
        let client = self.client().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|e| db_error(format!("statement failed: {}", short(sql)), e))
    }

    /// The text rows of a query (simple query protocol).
    async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.record(sql);
        let client = self.client().await?;
        text_rows(client, sql).await
    }

    /// Whether a table of the dataset exists (Redshift has no `to_regclass`).
    async fn table_exists(&mut self, table: &str) -> Result<bool> {
        let d = self.dialect();
        let sql = format!(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
            d.literal(&self.dataset_name()),
            d.literal(&self.caps.casefold.apply(table))
        );
        Ok(!self.rows(&sql).await?.is_empty())
    }

    /// The columns of every table of the dataset, by table.
    async fn existing_columns(&mut self) -> Result<HashMap<String, HashSet<String>>> {
        let sql = format!(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = {}",
            self.dialect().literal(&self.dataset_name())
        );
        let mut tables: HashMap<String, HashSet<String>> = HashMap::new();
        for row in self.rows(&sql).await? {
            if let [Some(t), Some(c)] = row.as_slice() {
                tables.entry(t.clone()).or_default().insert(c.clone());
            }
        }
        Ok(tables)
    }

    async fn count_loads(&mut self, load_id: &str) -> Result<u64> {
        if !self.table_exists(sluice_core::LOADS_TABLE).await? {
            return Ok(0);
        }
        let sql = self.dialect().select_load(load_id);
        let rows = self.rows(&sql).await?;
        Ok(first_text(&rows).and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn require_load(&self) -> Result<&str> {
        self.in_load
            .as_deref()
            .ok_or_else(|| Error::internal("no load is in progress: call begin_load first"))
    }

    /// Insert the rows of `job`'s files into `target` (a qualified, quoted table name) with
    /// batched `INSERT … VALUES` statements. The statements are built from the Parquet files on
    /// a blocking thread, one ahead of the one being sent.
    async fn write_table(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        if job.files.is_empty() || job.table.complete_columns().next().is_none() {
            return Ok(0);
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<InsertStatement>>(STATEMENTS_AHEAD);
        let table = job.table.clone();
        let files = job.files.clone();
        let target_name = target.to_string();
        let caps = self.caps.clone();
        let dataset = self.dataset.clone();
        let budget = self.statement_budget;
        let builder = tokio::task::spawn_blocking(move || {
            let dialect = SqlDialect::new(&caps, dataset);
            let quote = |name: &str| dialect.quote(name);
            let mut emit = |s: InsertStatement| tx.blocking_send(Ok(s)).is_ok();
            if let Err(e) =
                write_statements(&table, &target_name, &quote, budget, &files, &mut emit)
            {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let mut rows = 0;
        let mut sent = Ok(());
        while let Some(statement) = rx.recv().await {
            let result = match statement {
                Ok(s) => self.exec(&s.sql).await.map(|()| s.rows),
                Err(e) => Err(e),
            };
            match result {
                Ok(n) => rows += n,
                Err(e) => {
                    sent = Err(e);
                    break;
                }
            }
        }
        // Dropping the receiver stops the builder at its next statement.
        drop(rx);
        let _ = builder.await;
        sent.map_err(|e| e.context(format!("cannot insert into {}", job.table.name)))?;
        tracing::debug!(table = %job.table.name, rows, "inserted");
        Ok(rows)
    }

    /// Create a session temp table shaped like `table`; returns its (quoted) name.
    async fn create_staging(&mut self, table: &str) -> Result<String> {
        self.staging_seq += 1;
        let name = format!("\"_sluice_stg_{}\"", self.staging_seq);
        let sql = format!(
            "CREATE TEMP TABLE {name} (LIKE {})",
            self.dialect().table(table)
        );
        self.exec(&sql).await?;
        Ok(name)
    }

    /// Delete-insert merge: the chain's rows go to temp tables first, then the shared merge
    /// statements run and the temp tables are dropped, all inside the load's transaction.
    async fn write_merge(&mut self, job: &ChainJob) -> Result<u64> {
        let (rows, staging) = wire::merge_through_staging(self, job).await?;
        // Redshift has no ON COMMIT DROP: the temp tables are dropped here.
        for stg in staging {
            self.exec(&format!("DROP TABLE {stg}")).await?;
        }
        Ok(rows)
    }

    /// The statements that bring `table` to its schema: `CREATE TABLE` when it does not exist,
    /// else one `ALTER TABLE … ADD COLUMN` per missing column (Redshift adds one column per
    /// statement and has no `IF NOT EXISTS` for columns). `existing` is updated.
    fn table_statements(
        &self,
        table: &Table,
        columns: &[&sluice_core::Column],
        existing: &mut HashMap<String, HashSet<String>>,
    ) -> Vec<String> {
        let d = self.dialect();
        let name = self.caps.casefold.apply(&table.name);
        let Some(have) = existing.get_mut(&name) else {
            let mut created = HashSet::new();
            created.extend(
                table
                    .complete_columns()
                    .map(|c| self.caps.casefold.apply(&c.name)),
            );
            existing.insert(name, created);
            return vec![d.create_table(table)];
        };
        let mut sql = Vec::new();
        for c in columns.iter().filter(|c| c.is_complete()) {
            if have.insert(self.caps.casefold.apply(&c.name)) {
                let mut c = (*c).clone();
                c.nullable = true;
                sql.push(format!(
                    "ALTER TABLE {} ADD COLUMN {}",
                    d.table(&table.name),
                    d.column_def(&c)
                ));
            }
        }
        sql
    }
}

/// Redshift's limit on identifiers, in bytes (the naming convention shortens names to 127
/// characters; a name with multi-byte characters can still be longer in bytes).
const MAX_IDENTIFIER_BYTES: usize = 127;

/// Refuse a table or column name Redshift cannot hold, naming it, before any DDL is sent.
fn check_identifier(kind: &str, name: &str) -> Result<()> {
    if name.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::schema(format!(
            "{kind} name '{name}' is {} bytes long; Redshift allows at most {MAX_IDENTIFIER_BYTES} bytes (a shorter name or fewer non-ASCII characters fit)",
            name.len()
        )));
    }
    Ok(())
}

/// The first cell of the first row.
fn first_text(rows: &[Vec<Option<String>>]) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

#[async_trait]
impl Destination for RedshiftDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        format!(
            "{} (schema {})",
            self.creds.display_url(),
            self.dataset_name()
        )
    }

    async fn check(&mut self) -> Result<()> {
        self.rows("SELECT 1").await.map(|_| ())
    }

    async fn initialize(&mut self) -> Result<()> {
        let statements = self.dialect().initialize_statements();
        let mut result = Ok(());
        // Two loaders creating the same dataset at once: the second may fail on a catalog
        // conflict; the dataset exists then, so it tries once more.
        for _attempt in 0..2 {
            result = async {
                self.exec("BEGIN").await?;
                for sql in &statements {
                    self.exec(sql).await?;
                }
                self.exec("COMMIT").await
            }
            .await;
            if result.is_ok() {
                return Ok(());
            }
            let _ = self.exec("ROLLBACK").await;
        }
        result.map_err(|e| e.context(format!("cannot create dataset {}", self.dataset_name())))
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        Ok(self.count_loads(load_id).await? > 0)
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        // Serialize loaders of the same dataset: the second waits for the first's commit,
        // then sees its `_dlt_loads` row (Redshift has no advisory locks).
        let lock = format!("LOCK {}", self.dialect().table(sluice_core::LOADS_TABLE));
        wire::begin_load(self, load_id, &lock).await
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        for change in changes {
            let (table, columns): (&str, Vec<&sluice_core::Column>) = match change {
                SchemaChange::CreateTable { table } => {
                    (&table.name, table.complete_columns().collect())
                }
                SchemaChange::AddColumns { table, columns } => (table, columns.iter().collect()),
            };
            check_identifier("table", &self.caps.casefold.apply(table))?;
            for c in columns {
                check_identifier("column", &self.caps.casefold.apply(&c.name))?;
            }
        }
        let mut existing = self.existing_columns().await?;
        let mut statements = Vec::new();
        for change in changes {
            match change {
                SchemaChange::CreateTable { table } => {
                    let columns: Vec<_> = table.complete_columns().collect();
                    statements.extend(self.table_statements(table, &columns, &mut existing));
                }
                SchemaChange::AddColumns { table, columns } => {
                    let t = Table::new(table.clone());
                    let columns: Vec<_> = columns.iter().collect();
                    let mut t = t;
                    for c in &columns {
                        t = t.with_column((*c).clone());
                    }
                    statements.extend(self.table_statements(&t, &columns, &mut existing));
                }
            }
        }
        for sql in statements {
            self.exec(&sql).await?;
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        self.require_load()?;
        if job.disposition == ChainDisposition::Merge {
            return self.write_merge(job).await;
        }
        if job.disposition == ChainDisposition::Replace {
            // DELETE, not TRUNCATE: a TRUNCATE on Redshift commits the open transaction.
            let deletes = self.dialect().delete_chain(job);
            for sql in deletes {
                self.exec(&sql).await?;
            }
        }
        let mut rows = 0;
        for t in job.tables() {
            let target = self.dialect().table(&t.table.name);
            rows += self.write_table(t, &target).await?;
        }
        Ok(rows)
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let statements = self.dialect().commit_statements(commit, &now)?;
        wire::commit_load(self, commit, &statements).await
    }

    async fn abort_load(&mut self) -> Result<()> {
        if self.in_load.take().is_none() {
            return Ok(());
        }
        self.record("ROLLBACK");
        wire::roll_back_on(&mut self.client).await
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if !self.table_exists(sluice_core::VERSION_TABLE).await? {
            return Ok(None);
        }
        let sql = self.dialect().select_schema(schema_name);
        match first_text(&self.rows(&sql).await?) {
            None => Ok(None),
            Some(text) => Schema::from_json(text).map(Some),
        }
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        if !self.table_exists(sluice_core::STATE_TABLE).await?
            || !self.table_exists(sluice_core::LOADS_TABLE).await?
        {
            return Ok(None);
        }
        let sql = self.dialect().select_state(pipeline_name);
        let rows = self.rows(&sql).await?;
        let Some([version, hash, state, created]) = rows.first().map(Vec::as_slice) else {
            return Ok(None);
        };
        let state = state
            .as_deref()
            .ok_or_else(|| Error::destination("a stored pipeline state is NULL"))?;
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0),
            version_hash: hash.clone().unwrap_or_default(),
            state: sluice_core::state::decompress_state(state)?,
            created_at: created
                .as_deref()
                .map(timestamp_to_rfc3339)
                .unwrap_or_default(),
        }))
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        let drops: Vec<String> = tables
            .iter()
            .map(|t| format!("DROP TABLE IF EXISTS {} CASCADE", self.dialect().table(t)))
            .collect();
        wire::in_transaction(self, &drops).await
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.record(sql);
        // Describing the result's types may look up types in the catalog; a failure there
        // would abort an open load's transaction, so inside a load the result is text only.
        let describe = self.in_load.is_none();
        let client = self.client().await?;
        query_arrow(client, sql, describe).await
    }
}

#[async_trait]
impl wire::Session for RedshiftDestination {
    async fn run(&mut self, sql: &str) -> Result<()> {
        self.exec(sql).await
    }

    async fn loads_recorded(&mut self, load_id: &str) -> Result<u64> {
        self.count_loads(load_id).await
    }

    async fn roll_back(&mut self) -> Result<()> {
        self.abort_load().await
    }

    fn open_load(&mut self) -> &mut Option<String> {
        &mut self.in_load
    }

    fn dataset(&self) -> String {
        self.dataset_name()
    }
}

#[async_trait]
impl wire::Staging for RedshiftDestination {
    fn dialect(&self) -> SqlDialect<'_> {
        RedshiftDestination::dialect(self)
    }

    async fn create_staging(&mut self, table: &str) -> Result<String> {
        RedshiftDestination::create_staging(self, table).await
    }

    async fn write_rows(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        self.write_table(job, target).await
    }

    fn no_staging(&self) -> String {
        "\"_sluice_stg_missing\"".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_limited_in_bytes_not_characters() {
        assert!(check_identifier("column", &"a".repeat(127)).is_ok());
        let wide = "ü".repeat(64);
        assert_eq!(wide.chars().count(), 64);
        let e = check_identifier("column", &wide).unwrap_err();
        assert_eq!(e.kind(), sluice_core::ErrorKind::Schema);
        assert!(e.to_string().contains("128 bytes"), "{e}");
    }
}
