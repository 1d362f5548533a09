//! Reading one table of a dataset (dlt's `dataset().orders.arrow()` / `.iter_arrow()`): a column
//! selection, a row limit, and the rows as a stream of Arrow batches that never holds the whole
//! table in memory.
//!
//! The stream reads the table in chunks of [`TableQuery::chunk_rows`] rows, ordered by the row
//! key `_dlt_id` (every data table has it, unique per row): each chunk is one query for the rows
//! after the last key seen (`WHERE _dlt_id > …ORDER BY _dlt_id LIMIT n`), so at most one chunk's
//! batches are in memory at a time, on any destination that runs SQL. System tables (`_dlt_…`)
//! are small and read with one query.

use crate::dataset::Dataset;
use arrow::array::{Array, StringArray};
use arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, Stream, StreamExt};
use sluice_core::sql::literal;
use sluice_core::{Error, Result};

/// Rows per query of a stream, by default.
pub const DEFAULT_CHUNK_ROWS: u64 = 50_000;

/// The row key the stream orders and pages by.
const ROW_KEY: &str = "_dlt_id";

/// The name the row key is selected under, removed from the batches handed out.
const KEY_ALIAS: &str = "_sluice_row_key";

/// A read of one table: `dataset.table("orders").select(&["id"]).limit(10)`, then
/// [`arrow`](Self::arrow) for all rows at once or [`batches`](Self::batches) for a stream.
pub struct TableQuery<'a> {
    dataset: &'a mut Dataset,
    table: String,
    columns: Option<Vec<String>>,
    limit: Option<u64>,
    chunk_rows: u64,
}

impl<'a> TableQuery<'a> {
    /// A read of every column and row of `table`.
    pub(crate) fn new(dataset: &'a mut Dataset, table: &str) -> Self {
        Self {
            dataset,
            table: table.to_string(),
            columns: None,
            limit: None,
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }

    /// Only these columns, in this order.
    pub fn select(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    /// At most `rows` rows.
    pub fn limit(mut self, rows: u64) -> Self {
        self.limit = Some(rows);
        self
    }

    /// Rows per query of [`batches`](Self::batches) (at least 1): the most rows in memory at once.
    pub fn chunk_rows(mut self, rows: u64) -> Self {
        self.chunk_rows = rows.max(1);
        self
    }

    /// All selected rows as batches (dlt's `.arrow()`); at least one batch, empty when there are
    /// no rows, so that the columns are known.
    pub async fn arrow(self) -> Result<Vec<RecordBatch>> {
        let mut stream = self.batches();
        let mut out = Vec::new();
        while let Some(batch) = stream.next().await {
            out.push(batch?);
        }
        Ok(out)
    }

    /// The selected rows as a stream of batches, read a chunk at a time (see the module doc).
    /// The first item is an empty batch when there are no rows.
    pub fn batches(self) -> TableBatches<'a> {
        TableBatches(self.stream())
    }

    fn stream(self) -> BoxStream<'a, Result<RecordBatch>> {
        let quote = |c: &str| self.dataset.quote(c);
        let columns = match &self.columns {
            Some(cols) => cols.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            None => "*".to_string(),
        };
        let key = quote(ROW_KEY);
        let key_alias = quote(KEY_ALIAS);
        let from = self.dataset.qualified_table(&self.table);
        let table = self.table.clone();
        if self.table.starts_with("_dlt") {
            let limit = self
                .limit
                .map(|n| format!(" LIMIT {n}"))
                .unwrap_or_default();
            let sql = format!("SELECT {columns} FROM {from}{limit}");
            let dataset = self.dataset;
            return stream::once(async move {
                dataset
                    .query(&sql)
                    .await
                    .map_err(|e| e.context(format!("table {table}")))
            })
            .flat_map(|r| stream::iter(flatten(r, true)))
            .boxed();
        }
        let chunks = Chunks {
            dataset: self.dataset,
            select: format!("SELECT {columns}, {key} AS {key_alias} FROM {from}"),
            order: format!("ORDER BY {key}"),
            key,
            after: None,
            remaining: self.limit,
            chunk_rows: self.chunk_rows,
            first: true,
            done: false,
            table,
        };
        stream::unfold(chunks, |mut c| async move {
            if c.done {
                return None;
            }
            let r = c.next_chunk().await;
            if r.is_err() {
                c.done = true;
            }
            let first = std::mem::replace(&mut c.first, false);
            Some((stream::iter(flatten(r, first)), c))
        })
        .flatten()
        .boxed()
    }
}

/// The batches of a table read (see [`TableQuery::batches`]): a [`Stream`] of Arrow batches, with
/// [`next`](Self::next) for callers that do not use `futures`.
pub struct TableBatches<'a>(BoxStream<'a, Result<RecordBatch>>);

impl TableBatches<'_> {
    /// The next batch; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<RecordBatch>> {
        self.0.next().await
    }
}

impl Stream for TableBatches<'_> {
    type Item = Result<RecordBatch>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_next_unpin(cx)
    }
}

/// The batches of a chunk (or its error) as stream items: only batches with rows, except an
/// empty first chunk, which gives one empty batch for its columns.
fn flatten(r: Result<Vec<RecordBatch>>, first: bool) -> Vec<Result<RecordBatch>> {
    match r {
        Err(e) => vec![Err(e)],
        Ok(batches) => {
            let with_rows: Vec<Result<RecordBatch>> = batches
                .iter()
                .filter(|b| b.num_rows() > 0)
                .cloned()
                .map(Ok)
                .collect();
            if with_rows.is_empty() && first {
                batches.into_iter().take(1).map(Ok).collect()
            } else {
                with_rows
            }
        }
    }
}

/// The state of a chunked read.
struct Chunks<'a> {
    dataset: &'a mut Dataset,
    select: String,
    order: String,
    key: String,
    after: Option<String>,
    remaining: Option<u64>,
    chunk_rows: u64,
    first: bool,
    done: bool,
    table: String,
}

impl Chunks<'_> {
    /// Read the next chunk; the batches come without the key column. Marks the read done when
    /// the chunk was the last.
    async fn next_chunk(&mut self) -> Result<Vec<RecordBatch>> {
        let rows = match self.remaining {
            Some(r) => r.min(self.chunk_rows),
            None => self.chunk_rows,
        };
        if rows == 0 && !self.first {
            self.done = true;
            return Ok(Vec::new());
        }
        let filter = match &self.after {
            Some(k) => format!(" WHERE {} > {}", self.key, literal(k)),
            None => String::new(),
        };
        let sql = format!("{}{filter} {} LIMIT {rows}", self.select, self.order);
        let batches = self
            .dataset
            .query(&sql)
            .await
            .map_err(|e| e.context(format!("table {}", self.table)))?;
        let got: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        if let Some(r) = &mut self.remaining {
            *r -= got.min(*r);
        }
        if got < rows || self.remaining == Some(0) {
            self.done = true;
        }
        if let Some(last) = batches.iter().rev().find(|b| b.num_rows() > 0) {
            self.after = Some(last_key(last)?);
        }
        batches.iter().map(without_key).collect()
    }
}

/// The row key of the last row of a batch.
fn last_key(batch: &RecordBatch) -> Result<String> {
    let column = batch
        .column_by_name(KEY_ALIAS)
        .ok_or_else(|| Error::internal("the row key is missing from a chunk"))?;
    let text = arrow::compute::cast(column, &arrow::datatypes::DataType::Utf8)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Error::internal("the row key is not text"))?;
    let i = batch.num_rows() - 1;
    // Row keys are base64 text; one with a backslash would need the dialect's escaping.
    if text.is_null(i) || text.value(i).contains('\\') {
        return Err(Error::input(format!(
            "a row with {ROW_KEY} null or not base64: the table cannot be read in chunks"
        )));
    }
    Ok(text.value(i).to_string())
}

/// A batch without the key column.
fn without_key(batch: &RecordBatch) -> Result<RecordBatch> {
    let keep: Vec<usize> = batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| f.name() != KEY_ALIAS)
        .map(|(i, _)| i)
        .collect();
    Ok(batch.project(&keep)?)
}
