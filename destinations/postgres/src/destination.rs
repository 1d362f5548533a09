//! The running Postgres destination: the shared destination on the Postgres protocol
//! ([`ProtocolDestination`]) with Postgres' [`Flavor`]: binary `COPY` encoded straight from the
//! package's Parquet files, an advisory lock per package, `ADD COLUMN IF NOT EXISTS`, and
//! typed query results.

use crate::config::PgCredentials;
use crate::copy::{CHUNK_BYTES, CopyEncoder, HEADER, TRAILER};
use crate::error::pg_error;
use crate::protocol::{Connection, Flavor, ProtocolDestination, RowsTo};
use crate::read::query_arrow;
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, pin_mut};
use sluice_core::Result;
use sluice_core::parquet_io::read_parquet;
use sluice_core::sql::{SqlDialect, literal};

/// Rows per Arrow batch read from a load file.
const READ_BATCH_ROWS: usize = 64 * 1024;

/// A connected Postgres destination bound to one dataset (a Postgres schema).
pub type PostgresDestination = ProtocolDestination<Postgres>;

/// What is Postgres' own on the shared protocol destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Postgres;

impl PostgresDestination {
    /// Connect with `creds` and bind to `dataset`.
    pub async fn connect(creds: PgCredentials, dataset: &str) -> Result<Self> {
        let tls = creds.sslmode != crate::config::SslMode::Disable;
        let conn = Connection::new("postgres", creds.pg_config(), tls, creds.display_url());
        ProtocolDestination::start(conn, crate::capabilities(), dataset, Postgres).await
    }
}

#[async_trait]
impl Flavor for Postgres {
    // Staging tables are read through `pg_temp`, so a table of that name elsewhere on the
    // search path cannot be taken for them, and dropped at commit at the latest.
    const TEMP_SCHEMA: &'static str = "pg_temp.";
    const TEMP_TABLE_OPTIONS: &'static str = " ON COMMIT DROP";

    /// Serialize loaders of the same dataset: the second waits for the first one's commit,
    /// then sees its `_dlt_loads` row and its pipeline state.
    fn load_lock(&self, dialect: &SqlDialect<'_>, _load_id: &str) -> String {
        format!(
            "SELECT pg_advisory_xact_lock(hashtext({}))",
            literal(&format!("sluice:{}", dialect.dataset_name()))
        )
    }

    /// Binary `COPY` of the rows, encoded from the Parquet files on a blocking thread.
    async fn write_rows(&self, conn: &mut Connection, rows: &RowsTo<'_>) -> Result<u64> {
        let (dialect, job, target) = (rows.dialect, rows.job, rows.target);
        if job.files.is_empty() {
            return Ok(0);
        }
        let encoder = CopyEncoder::new(&job.table);
        if encoder.columns().is_empty() {
            return Ok(0);
        }
        let cols = encoder
            .columns()
            .iter()
            .map(|c| dialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("COPY {target} ({cols}) FROM STDIN (FORMAT binary)");
        let table_name = job.table.name.clone();
        conn.record(&statement);
        let client = conn.client().await?;
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

    async fn query(&self, conn: &mut Connection, sql: &str) -> Result<Vec<RecordBatch>> {
        let client = conn.client().await?;
        query_arrow(client, sql).await
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
