//! The running Postgres destination: one connection, one transaction per load package.

use crate::config::PgCredentials;
use crate::connect::connect;
use crate::copy::{CHUNK_BYTES, CopyEncoder, HEADER, TRAILER};
use crate::error::pg_error;
use crate::read::query_arrow;
use crate::session::{self, Session, Staging};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, pin_mut};
use sluice_core::ChainDisposition;
use sluice_core::capabilities::Capabilities;
use sluice_core::destination::{ChainJob, LoadCommit, StateRecord, TableJob};
use sluice_core::parquet_io::read_parquet;
use sluice_core::schema::{Schema, SchemaChange};
use sluice_core::sql::{SqlDialect, literal};
use sluice_core::{Destination, Error, ErrorKind, Result};
use tokio_postgres::Client;

/// Rows per Arrow batch read from a load file.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// A connected Postgres destination bound to one dataset (a Postgres schema).
pub struct PostgresDestination {
    caps: Capabilities,
    creds: PgCredentials,
    dataset: String,
    client: Option<Client>,
    /// The load id whose transaction is open.
    in_load: Option<String>,
    /// Counter for the names of staging temp tables within a transaction.
    staging_seq: usize,
}

impl std::fmt::Debug for PostgresDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDestination")
            .field("location", &self.creds.display_url())
            .field("dataset", &self.dataset)
            .field("in_load", &self.in_load)
            .finish()
    }
}

fn short(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 160 {
        format!("{}…", one_line.chars().take(160).collect::<String>())
    } else {
        one_line
    }
}

impl PostgresDestination {
    /// Connect with `creds` and bind to `dataset`.
    pub async fn connect(creds: PgCredentials, dataset: &str) -> Result<Self> {
        let mut dest = Self {
            caps: crate::capabilities(),
            creds,
            dataset: dataset.to_string(),
            client: None,
            in_load: None,
            staging_seq: 0,
        };
        dest.client().await?;
        Ok(dest)
    }

    /// The dataset (Postgres schema) name, as folded for Postgres.
    pub fn dataset_name(&self) -> String {
        self.caps.casefold.apply(&self.dataset)
    }

    fn dialect(&self) -> SqlDialect<'_> {
        SqlDialect::new(&self.caps, self.dataset.clone())
    }

    /// The open client; reconnects when the connection was lost outside a load. Inside a
    /// load a lost connection is a transient error: the transaction is gone.
    async fn client(&mut self) -> Result<&Client> {
        let closed = self.client.as_ref().is_none_or(|c| c.is_closed());
        if closed {
            if let Some(load_id) = &self.in_load {
                return Err(Error::transient(format!(
                    "the connection to postgres at {} was lost while loading {load_id}; nothing of it was committed",
                    self.creds.display_url()
                )));
            }
            let client = connect(&self.creds).await?;
            client
                .batch_execute("SET TIME ZONE 'UTC'")
                .await
                .map_err(|e| pg_error("cannot set up the session", e))?;
            self.client = Some(client);
        }
        Ok(self.client.as_ref().expect("connected"))
    }

    async fn exec(&mut self, sql: &str) -> Result<()> {
        let client = self.client().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|e| pg_error(format!("statement failed: {}", short(sql)), e))
    }

    async fn query_one_opt(&mut self, sql: &str) -> Result<Option<tokio_postgres::Row>> {
        let client = self.client().await?;
        client
            .query_opt(sql, &[])
            .await
            .map_err(|e| pg_error(format!("query failed: {}", short(sql)), e))
    }

    /// Whether a table of the dataset exists.
    async fn table_exists(&mut self, table: &str) -> Result<bool> {
        let sql = format!(
            "SELECT to_regclass({}) IS NOT NULL",
            literal(&self.dialect().table(table))
        );
        let row = self.query_one_opt(&sql).await?;
        Ok(row.map(|r| r.get::<_, bool>(0)).unwrap_or(false))
    }

    async fn count_loads(&mut self, load_id: &str) -> Result<i64> {
        if !self.table_exists(sluice_core::LOADS_TABLE).await? {
            return Ok(0);
        }
        let sql = self.dialect().select_load(load_id);
        let row = self.query_one_opt(&sql).await?;
        Ok(row.map(|r| r.get::<_, i64>(0)).unwrap_or(0))
    }

    fn require_load(&self) -> Result<&str> {
        self.in_load
            .as_deref()
            .ok_or_else(|| Error::internal("no load is in progress: call begin_load first"))
    }

    /// COPY the rows of `job`'s files into `target` (a qualified, quoted table name).
    async fn copy_files(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        if job.files.is_empty() {
            return Ok(0);
        }
        let encoder = CopyEncoder::new(&job.table);
        if encoder.columns().is_empty() {
            return Ok(0);
        }
        let dialect = self.dialect();
        let cols = encoder
            .columns()
            .iter()
            .map(|c| dialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("COPY {target} ({cols}) FROM STDIN (FORMAT binary)");
        let table_name = job.table.name.clone();
        let client = self.client().await?;
        let sink = client
            .copy_in::<_, Bytes>(statement.as_str())
            .await
            .map_err(|e| pg_error(format!("COPY into {table_name} failed"), e))?;
        pin_mut!(sink);
        // Parquet decoding and COPY encoding run on a blocking thread, a few chunks ahead of
        // the socket: the CPU work overlaps with sending, and no async worker is stalled.
        let mut chunks = encode_in_background(job.table.clone(), job.files.clone());
        let mut sent = Ok(());
        while let Some(chunk) = chunks.recv().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(e) = sink.send(bytes).await {
                        sent = Err(pg_error(format!("COPY into {table_name} failed"), e));
                        break;
                    }
                }
                Err(e) => {
                    sent = Err(e);
                    break;
                }
            }
        }
        // Dropping the receiver stops the encoder at its next chunk; an unfinished COPY is
        // abandoned with the sink (the transaction rolls it back).
        drop(chunks);
        sent?;
        let rows = sink
            .finish()
            .await
            .map_err(|e| pg_error(format!("COPY into {table_name} failed"), e))?;
        tracing::debug!(table = %table_name, rows, "copied");
        Ok(rows)
    }

    /// Create a staging temp table shaped like `table` (dropped at commit); returns its
    /// qualified, quoted name.
    async fn create_staging(&mut self, table: &str) -> Result<String> {
        self.staging_seq += 1;
        let name = format!("pg_temp.\"_sluice_stg_{}\"", self.staging_seq);
        let sql = format!(
            "CREATE TEMP TABLE \"_sluice_stg_{}\" (LIKE {}) ON COMMIT DROP",
            self.staging_seq,
            self.dialect().table(table)
        );
        self.exec(&sql).await?;
        Ok(name)
    }

    async fn write_merge(&mut self, job: &ChainJob) -> Result<u64> {
        // The staging tables are dropped at commit (ON COMMIT DROP).
        let (rows, _staging) = session::merge_through_staging(self, job).await?;
        Ok(rows)
    }
}

/// Chunks of binary COPY data encoded in flight at most (1 MiB each).
const CHUNKS_AHEAD: usize = 4;

/// Decode `files` and encode their rows as binary COPY (header to trailer) on a blocking
/// thread, in chunks of about [`CHUNK_BYTES`] sent through a bounded channel. The first error
/// is sent and ends the stream; a dropped receiver stops the thread.
fn encode_in_background(
    table: sluice_core::Table,
    files: Vec<std::path::PathBuf>,
) -> tokio::sync::mpsc::Receiver<Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let encode = || -> Result<()> {
            let mut encoder = CopyEncoder::new(&table);
            let mut buf = BytesMut::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
            buf.extend_from_slice(HEADER);
            for file in &files {
                for batch in read_parquet(file, READ_BATCH_ROWS)? {
                    let batch =
                        batch.map_err(|e| e.context(format!("load file {}", file.display())))?;
                    encoder.encode(&batch, &mut buf)?;
                    if buf.len() >= CHUNK_BYTES
                        && tx.blocking_send(Ok(buf.split().freeze())).is_err()
                    {
                        return Ok(());
                    }
                }
            }
            buf.extend_from_slice(TRAILER);
            let _ = tx.blocking_send(Ok(buf.split().freeze()));
            Ok(())
        };
        if let Err(e) = encode() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

#[async_trait]
impl Destination for PostgresDestination {
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
        let client = self.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| pg_error("postgres connection check failed", e))?;
        Ok(())
    }

    async fn initialize(&mut self) -> Result<()> {
        let mut sql = vec!["BEGIN".to_string()];
        sql.extend(self.dialect().initialize_statements());
        sql.push("COMMIT".to_string());
        let script = sql.join(";\n");
        let result = self.exec(&script).await;
        if let Err(e) = result {
            // Two loaders creating the same schema at once: the second one sees a unique
            // violation; the dataset exists then, so try once more.
            if e.kind() == ErrorKind::Destination && e.message().contains("23505") {
                let _ = self.exec("ROLLBACK").await;
                return self.exec(&script).await;
            }
            let _ = self.exec("ROLLBACK").await;
            return Err(e.context(format!("cannot create dataset {}", self.dataset_name())));
        }
        Ok(())
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        Ok(self.count_loads(load_id).await? > 0)
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        self.staging_seq = 0;
        // Serialize loaders of the same package: the second waits, then sees the first's row.
        let lock = format!(
            "SELECT pg_advisory_xact_lock(hashtext({}))",
            literal(&format!("sluice:{}:{load_id}", self.dataset_name()))
        );
        session::begin_load(self, load_id, &lock).await
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        let statements: Vec<String> = {
            let dialect = self.dialect();
            changes
                .iter()
                .flat_map(|c| dialect.schema_change(c))
                .collect()
        };
        for sql in statements {
            self.exec(&sql).await?;
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        self.require_load()?;
        let rows = match job.disposition {
            ChainDisposition::Append => {
                let mut rows = 0;
                for t in job.tables() {
                    let target = self.dialect().table(&t.table.name);
                    rows += self.copy_files(t, &target).await?;
                }
                rows
            }
            ChainDisposition::Replace => {
                let deletes = self.dialect().delete_chain(job);
                for sql in deletes {
                    self.exec(&sql).await?;
                }
                let mut rows = 0;
                for t in job.tables() {
                    let target = self.dialect().table(&t.table.name);
                    rows += self.copy_files(t, &target).await?;
                }
                rows
            }
            ChainDisposition::Merge => self.write_merge(job).await?,
        };
        Ok(rows)
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let statements = self.dialect().commit_statements(commit, &now)?;
        session::commit_load(self, commit, &statements).await
    }

    async fn abort_load(&mut self) -> Result<()> {
        if self.in_load.take().is_none() {
            return Ok(());
        }
        session::roll_back_on(&mut self.client).await
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if !self.table_exists(sluice_core::VERSION_TABLE).await? {
            return Ok(None);
        }
        let sql = self.dialect().select_schema(schema_name);
        match self.query_one_opt(&sql).await? {
            None => Ok(None),
            Some(row) => {
                let text: String = row.get(0);
                Schema::from_json(&text).map(Some)
            }
        }
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        if !self.table_exists(sluice_core::STATE_TABLE).await?
            || !self.table_exists(sluice_core::LOADS_TABLE).await?
        {
            return Ok(None);
        }
        let d = self.dialect();
        let sql = format!(
            "SELECT s.{v}, s.{h}, s.{st}, to_char(s.{c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM {state} AS s JOIN {loads} AS l ON l.{lid} = s.{slid} WHERE s.{p} = {name} AND l.{status} = 0 ORDER BY l.{lid} DESC, s.{c} DESC LIMIT 1",
            v = d.quote("version"),
            h = d.quote("version_hash"),
            st = d.quote("state"),
            c = d.quote("created_at"),
            state = d.table(sluice_core::STATE_TABLE),
            loads = d.table(sluice_core::LOADS_TABLE),
            lid = d.quote("load_id"),
            slid = d.quote(sluice_core::schema::C_DLT_LOAD_ID),
            p = d.quote("pipeline_name"),
            name = literal(pipeline_name),
            status = d.quote("status"),
        );
        let Some(row) = self.query_one_opt(&sql).await? else {
            return Ok(None);
        };
        let version: i64 = row.get(0);
        let version_hash: Option<String> = row.get(1);
        let state: String = row.get(2);
        let created_at: String = row.get(3);
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: version.max(0) as u64,
            version_hash: version_hash.unwrap_or_default(),
            state: sluice_core::state::decompress_state(&state)?,
            created_at,
        }))
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        let dialect = self.dialect();
        let drops: Vec<String> = tables
            .iter()
            .map(|t| format!("DROP TABLE IF EXISTS {} CASCADE", dialect.table(t)))
            .collect();
        session::in_transaction(self, &drops).await
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let client = self.client().await?;
        query_arrow(client, sql).await
    }
}

#[async_trait]
impl Session for PostgresDestination {
    async fn run(&mut self, sql: &str) -> Result<()> {
        self.exec(sql).await
    }

    async fn loads_recorded(&mut self, load_id: &str) -> Result<u64> {
        Ok(self.count_loads(load_id).await?.max(0) as u64)
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
impl Staging for PostgresDestination {
    fn dialect(&self) -> SqlDialect<'_> {
        PostgresDestination::dialect(self)
    }

    async fn create_staging(&mut self, table: &str) -> Result<String> {
        PostgresDestination::create_staging(self, table).await
    }

    async fn write_rows(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        self.copy_files(job, target).await
    }

    fn no_staging(&self) -> String {
        "pg_temp.\"_sluice_stg_missing\"".to_string()
    }
}
