//! One destination on the Postgres wire protocol, written once for every server that speaks it
//! (Postgres, Redshift): the connection with its reconnect rule, the load's transaction, the
//! system tables, stored schema and state, replace and merge through staging tables. What
//! differs between servers is a [`Flavor`]: how rows are written (binary `COPY` or batched
//! `INSERT`), the statement that serializes two loaders, schema-change DDL, staging tables and
//! how query results become Arrow.

use crate::error::pg_error;
use crate::session::{self, Session, Staging};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use sluice_core::capabilities::Capabilities;
use sluice_core::destination::{ChainJob, LoadCommit, StateRecord, TableJob};
use sluice_core::schema::{Schema, SchemaChange};
use sluice_core::sql::{SqlDialect, timestamp_to_rfc3339};
use sluice_core::{ChainDisposition, Destination, Error, Result};
use std::sync::Arc;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Called with every statement before it is sent (a test's statement log, say).
pub type Observer = Arc<dyn Fn(&str) + Send + Sync>;

/// A connection to a server on the Postgres protocol, opened on first use and reopened when
/// lost outside a load. Inside a load a lost connection is a transient error: the server has
/// rolled the transaction back.
pub struct Connection {
    server: &'static str,
    config: tokio_postgres::Config,
    tls: bool,
    display_url: String,
    client: Option<Client>,
    in_load: Option<String>,
    observer: Option<Observer>,
}

impl Connection {
    /// A connection to `server` (named in messages) with `config`, over TLS when `tls`
    /// (encrypting, not verifying, as libpq's `sslmode=prefer`); `display_url` is its address
    /// without the password, for messages. Nothing is opened yet.
    pub fn new(
        server: &'static str,
        config: tokio_postgres::Config,
        tls: bool,
        display_url: String,
    ) -> Self {
        Self {
            server,
            config,
            tls,
            display_url,
            client: None,
            in_load: None,
            observer: None,
        }
    }

    /// Call `observer` with every statement before it is sent.
    pub fn with_observer(mut self, observer: Option<Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The server's address without the password.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// The load whose transaction is open.
    pub fn in_load(&self) -> Option<&str> {
        self.in_load.as_deref()
    }

    /// The open client; reconnects when the connection was lost outside a load.
    pub async fn client(&mut self) -> Result<&Client> {
        if self.client.as_ref().is_none_or(|c| c.is_closed()) {
            if let Some(load_id) = &self.in_load {
                return Err(Error::transient(format!(
                    "the connection to {} at {} was lost while loading {load_id}; nothing of it was committed",
                    self.server, self.display_url
                )));
            }
            let client =
                crate::connect::connect_to(self.server, &self.config, self.tls, &self.display_url)
                    .await?;
            let setup = "SET timezone TO 'UTC'";
            self.record(setup);
            client
                .batch_execute(setup)
                .await
                .map_err(|e| pg_error("cannot set up the session", e))?;
            self.client = Some(client);
        }
        Ok(self.client.as_ref().expect("connected"))
    }

    /// Tell the observer about `sql`.
    pub fn record(&self, sql: &str) {
        if let Some(observer) = &self.observer {
            observer(sql);
        }
    }

    /// Send statements with the simple query protocol.
    pub async fn exec(&mut self, sql: &str) -> Result<()> {
        self.record(sql);
        let client = self.client().await?;
        client
            .batch_execute(sql)
            .await
            .map_err(|e| pg_error(format!("statement failed: {}", short(sql)), e))
    }

    /// The rows of a query as text (simple query protocol), for the destination's own reads.
    pub async fn rows(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.record(sql);
        let client = self.client().await?;
        let messages = client
            .simple_query(sql)
            .await
            .map_err(|e| pg_error(format!("query failed: {}", short(sql)), e))?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Roll back the open load, if any, and forget it.
    async fn roll_back(&mut self) -> Result<()> {
        if self.in_load.take().is_none() {
            return Ok(());
        }
        self.record("ROLLBACK");
        session::roll_back_on(&mut self.client).await
    }
}

/// The rows of one table's files, on their way into `target` (a qualified, quoted name: the
/// table itself or a staging table).
#[derive(Debug, Clone, Copy)]
pub struct RowsTo<'a> {
    /// The dialect of the destination's dataset.
    pub dialect: &'a SqlDialect<'a>,
    /// The table and its files.
    pub job: &'a TableJob,
    /// Where the rows go.
    pub target: &'a str,
}

/// What differs between servers on the Postgres protocol.
#[async_trait]
pub trait Flavor: Send + Sync + 'static {
    /// Whether a backslash in a string literal is an escape (Redshift): literals double it.
    const BACKSLASH_ESCAPES: bool = false;
    /// The schema staging temp tables are read through (`pg_temp.`), or nothing.
    const TEMP_SCHEMA: &'static str = "";
    /// What follows `CREATE TEMP TABLE … (LIKE …)` (` ON COMMIT DROP`), or nothing. Staging
    /// tables are dropped after their merge either way.
    const TEMP_TABLE_OPTIONS: &'static str = "";

    /// The statement, run first in a load's transaction, that makes a second loader wait for
    /// the first one's commit (which then sees its `_dlt_loads` row).
    fn load_lock(&self, dialect: &SqlDialect<'_>, load_id: &str) -> String;

    /// The statements that apply `changes` to the dataset; by default the dialect's
    /// (`CREATE TABLE`, `ADD COLUMN IF NOT EXISTS`).
    async fn schema_statements(
        &self,
        _conn: &mut Connection,
        dialect: &SqlDialect<'_>,
        changes: &[SchemaChange],
    ) -> Result<Vec<String>> {
        Ok(changes
            .iter()
            .flat_map(|c| dialect.schema_change(c))
            .collect())
    }

    /// Write the rows of `job`'s files into `target` (a qualified, quoted table name); the
    /// rows written.
    async fn write_rows(&self, conn: &mut Connection, rows: &RowsTo<'_>) -> Result<u64>;

    /// Run a query and return its rows as Arrow batches (the observer has seen it already).
    async fn query(&self, conn: &mut Connection, sql: &str) -> Result<Vec<RecordBatch>>;
}

/// A connected destination on the Postgres protocol, bound to one dataset (a schema). One
/// load package is one transaction.
pub struct ProtocolDestination<F> {
    caps: Capabilities,
    dataset: String,
    conn: Connection,
    /// Counter for the names of staging temp tables within a session.
    staging_seq: usize,
    flavor: F,
}

impl<F> std::fmt::Debug for ProtocolDestination<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolDestination")
            .field("server", &self.conn.server)
            .field("location", &self.conn.display_url)
            .field("dataset", &self.dataset)
            .field("in_load", &self.conn.in_load)
            .finish()
    }
}

impl<F: Flavor> ProtocolDestination<F> {
    /// Bind `conn` to `dataset` with `caps` and `flavor`, and open the connection.
    pub async fn start(
        mut conn: Connection,
        caps: Capabilities,
        dataset: &str,
        flavor: F,
    ) -> Result<Self> {
        conn.client().await?;
        Ok(Self {
            caps,
            dataset: dataset.to_string(),
            conn,
            staging_seq: 0,
            flavor,
        })
    }

    /// The dataset (schema) name, as folded for the server.
    pub fn dataset_name(&self) -> String {
        self.caps.casefold.apply(&self.dataset)
    }

    /// The server's own settings (Redshift's statement budget, say).
    pub fn flavor_mut(&mut self) -> &mut F {
        &mut self.flavor
    }

    fn dialect(&self) -> SqlDialect<'_> {
        dialect_of::<F>(&self.caps, &self.dataset)
    }

    /// Whether a table of the dataset exists.
    async fn table_exists(&mut self, table: &str) -> Result<bool> {
        let d = self.dialect();
        let sql = format!(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
            d.literal(&self.dataset_name()),
            d.literal(&self.caps.casefold.apply(table))
        );
        Ok(!self.conn.rows(&sql).await?.is_empty())
    }

    /// How many `_dlt_loads` rows have `load_id` (0 when the table does not exist).
    async fn count_loads(&mut self, load_id: &str) -> Result<u64> {
        if !self.table_exists(sluice_core::LOADS_TABLE).await? {
            return Ok(0);
        }
        let sql = self.dialect().select_load(load_id);
        let rows = self.conn.rows(&sql).await?;
        Ok(first_text(&rows).and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    fn require_load(&self) -> Result<&str> {
        self.conn
            .in_load()
            .ok_or_else(|| Error::internal("no load is in progress: call begin_load first"))
    }

    async fn write_table(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        let dialect = dialect_of::<F>(&self.caps, &self.dataset);
        let rows = RowsTo {
            dialect: &dialect,
            job,
            target,
        };
        self.flavor.write_rows(&mut self.conn, &rows).await
    }

    /// Merge a chain through staging temp tables, dropped again inside the transaction.
    async fn write_merge(&mut self, job: &ChainJob) -> Result<u64> {
        let (rows, staging) = session::merge_through_staging(self, job).await?;
        for stg in staging {
            self.conn.exec(&format!("DROP TABLE {stg}")).await?;
        }
        Ok(rows)
    }
}

/// The dialect of flavor `F` for `dataset` (a free function, so that it borrows only the
/// capabilities while the connection is borrowed mutably).
fn dialect_of<'a, F: Flavor>(caps: &'a Capabilities, dataset: &str) -> SqlDialect<'a> {
    let d = SqlDialect::new(caps, dataset);
    if F::BACKSLASH_ESCAPES {
        d.with_backslash_escapes()
    } else {
        d
    }
}

/// The first cell of the first row.
fn first_text(rows: &[Vec<Option<String>>]) -> Option<&str> {
    rows.first()?.first()?.as_deref()
}

/// A statement on one line, cut at 160 characters, for error messages.
pub fn short(sql: &str) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 160 {
        format!("{}…", one_line.chars().take(160).collect::<String>())
    } else {
        one_line
    }
}

#[async_trait]
impl<F: Flavor> Destination for ProtocolDestination<F> {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        format!("{} (schema {})", self.conn.display_url, self.dataset_name())
    }

    async fn check(&mut self) -> Result<()> {
        self.conn.rows("SELECT 1").await.map(|_| ())
    }

    async fn initialize(&mut self) -> Result<()> {
        let statements = self.dialect().initialize_statements();
        let mut result = Ok(());
        // Two loaders creating the same dataset at once: the second may fail on a catalog
        // conflict; the dataset exists then, so it tries once more.
        for _attempt in 0..2 {
            result = async {
                self.conn.exec("BEGIN").await?;
                for sql in &statements {
                    self.conn.exec(sql).await?;
                }
                self.conn.exec("COMMIT").await
            }
            .await;
            if result.is_ok() {
                return Ok(());
            }
            let _ = self.conn.exec("ROLLBACK").await;
        }
        result.map_err(|e| e.context(format!("cannot create dataset {}", self.dataset_name())))
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        Ok(self.count_loads(load_id).await? > 0)
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        let lock = self.flavor.load_lock(&self.dialect(), load_id);
        session::begin_load(self, load_id, &lock).await
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let dialect = dialect_of::<F>(&self.caps, &self.dataset);
        let statements = self
            .flavor
            .schema_statements(&mut self.conn, &dialect, changes)
            .await?;
        for sql in statements {
            self.conn.exec(&sql).await?;
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        self.require_load()?;
        if job.disposition == ChainDisposition::Merge {
            return self.write_merge(job).await;
        }
        if job.disposition == ChainDisposition::Replace {
            // DELETE, not TRUNCATE: readers never see an empty table, and a TRUNCATE on
            // Redshift commits the open transaction.
            for sql in self.dialect().delete_chain(job) {
                self.conn.exec(&sql).await?;
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
        session::commit_load(self, commit, &statements).await
    }

    async fn abort_load(&mut self) -> Result<()> {
        self.conn.roll_back().await
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        if !self.table_exists(sluice_core::VERSION_TABLE).await? {
            return Ok(None);
        }
        let sql = self.dialect().select_schema(schema_name);
        match first_text(&self.conn.rows(&sql).await?) {
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
        let rows = self.conn.rows(&sql).await?;
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
        session::in_transaction(self, &drops).await
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.conn.record(sql);
        self.flavor.query(&mut self.conn, sql).await
    }
}

#[async_trait]
impl<F: Flavor> Session for ProtocolDestination<F> {
    async fn run(&mut self, sql: &str) -> Result<()> {
        self.conn.exec(sql).await
    }

    async fn loads_recorded(&mut self, load_id: &str) -> Result<u64> {
        self.count_loads(load_id).await
    }

    async fn roll_back(&mut self) -> Result<()> {
        self.conn.roll_back().await
    }

    fn open_load(&mut self) -> &mut Option<String> {
        &mut self.conn.in_load
    }

    fn dataset(&self) -> String {
        self.dataset_name()
    }
}

#[async_trait]
impl<F: Flavor> Staging for ProtocolDestination<F> {
    fn dialect(&self) -> SqlDialect<'_> {
        ProtocolDestination::dialect(self)
    }

    async fn create_staging(&mut self, table: &str) -> Result<String> {
        self.staging_seq += 1;
        let local = format!("\"_sluice_stg_{}\"", self.staging_seq);
        let sql = format!(
            "CREATE TEMP TABLE {local} (LIKE {}){}",
            self.dialect().table(table),
            F::TEMP_TABLE_OPTIONS
        );
        self.conn.exec(&sql).await?;
        Ok(format!("{}{local}", F::TEMP_SCHEMA))
    }

    async fn write_rows(&mut self, job: &TableJob, target: &str) -> Result<u64> {
        self.write_table(job, target).await
    }

    /// Staging tables are numbered from 1: number 0 is never created.
    fn no_staging(&self) -> String {
        format!("{}\"_sluice_stg_0\"", F::TEMP_SCHEMA)
    }
}
