//! Reading the loaded files back: Parquet through the async reader, and the few SQL forms the
//! pipeline needs (`SELECT *`, `SELECT col, …`, `SELECT COUNT(*)` from one table, with optional
//! `ORDER BY` and `LIMIT`). Anything else is an error that points to DuckDB over the files.

use crate::error::{read_error, store_err};
use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::{SortColumn, SortOptions, cast, concat_batches, lexsort_to_indices, take};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use arrow::record_batch::RecordBatch;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, TryFutureExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, MetadataSuffixFetch};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use sluice_core::{Error, Result};
use std::ops::Range;
use std::sync::Arc;

fn to_parquet_err(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

/// An [`AsyncFileReader`] over one object.
#[derive(Clone, Debug)]
pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
}

impl ObjectReader {
    /// A reader of `path` in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, path: ObjectPath) -> Self {
        Self { store, path }
    }
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(to_parquet_err)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(to_parquet_err)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_via_suffix_and_finish(self)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

impl MetadataSuffixFetch for &mut ObjectReader {
    fn fetch_suffix(&mut self, suffix: usize) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let options = GetOptions {
            range: Some(GetRange::Suffix(suffix as u64)),
            ..Default::default()
        };
        async move {
            match self.store.get_opts(&self.path, options).await {
                Ok(resp) => resp.bytes().await.map_err(to_parquet_err),
                // Azure Blob Storage has no suffix ranges: learn the size, then read the tail.
                Err(object_store::Error::NotSupported { .. }) => {
                    let size = self
                        .store
                        .head(&self.path)
                        .await
                        .map_err(to_parquet_err)?
                        .size;
                    self.store
                        .get_range(&self.path, size.saturating_sub(suffix as u64)..size)
                        .await
                        .map_err(to_parquet_err)
                }
                Err(e) => Err(to_parquet_err(e)),
            }
        }
        .boxed()
    }
}

/// Read all batches of a Parquet object.
pub async fn read_parquet_object(
    store: Arc<dyn ObjectStore>,
    path: &ObjectPath,
) -> Result<Vec<RecordBatch>> {
    let reader = ObjectReader::new(store, path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| read_error(path, e))?;
    let stream = builder
        .with_batch_size(64 * 1024)
        .build()
        .map_err(|e| read_error(path, e))?;
    stream.try_collect().await.map_err(|e| read_error(path, e))
}

/// Rows of a Parquet object, from its footer only.
pub async fn parquet_row_count(store: Arc<dyn ObjectStore>, path: &ObjectPath) -> Result<u64> {
    let mut reader = ObjectReader::new(store, path.clone());
    let meta = reader
        .get_metadata(None)
        .await
        .map_err(|e| read_error(path, e))?;
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}

/// Read a whole small object as text.
pub async fn read_text(store: &dyn ObjectStore, path: &ObjectPath) -> Result<String> {
    let bytes = store
        .get(path)
        .await
        .map_err(store_err(format!("cannot read {path}")))?
        .bytes()
        .await
        .map_err(store_err(format!("cannot read {path}")))?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| Error::input(format!("{path} is not UTF-8")).with_source(e))
}

/// The union of the files' schemas: fields in order of first appearance, all nullable.
/// A field whose type differs between files takes the first type seen.
pub fn unify_schemas(schemas: &[SchemaRef]) -> SchemaRef {
    let mut fields: Vec<Field> = Vec::new();
    for s in schemas {
        for f in s.fields() {
            if !fields.iter().any(|g| g.name() == f.name()) {
                fields.push(f.as_ref().clone().with_nullable(true));
            }
        }
    }
    Arc::new(ArrowSchema::new(fields))
}

/// Bring a batch to `schema`: missing columns become NULL, differing types are cast.
pub fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        match batch.column_by_name(f.name()) {
            Some(c) if c.data_type() == f.data_type() => columns.push(c.clone()),
            Some(c) => columns.push(cast(c, f.data_type())?),
            None => columns.push(new_null_array(f.data_type(), n)),
        }
    }
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// What a supported query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Projection {
    /// `*`
    All,
    /// `COUNT(*)` with the name of the result column.
    Count(String),
    /// Named columns, in order.
    Columns(Vec<String>),
}

/// A parsed query over one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleQuery {
    /// What to return.
    pub projection: Projection,
    /// The dataset named in the query, if qualified.
    pub dataset: Option<String>,
    /// The table.
    pub table: String,
    /// `ORDER BY` columns with `true` for descending.
    pub order_by: Vec<(String, bool)>,
    /// `LIMIT`.
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Quoted(String),
    Number(usize),
    Sym(char),
}

fn tokenize(sql: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                let ch = *chars.get(i)?;
                if ch == '"' {
                    if chars.get(i + 1) == Some(&'"') {
                        s.push('"');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                s.push(ch);
                i += 1;
            }
            out.push(Token::Quoted(s));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            out.push(Token::Number(
                chars[start..i].iter().collect::<String>().parse().ok()?,
            ));
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else if "*,.();".contains(c) {
            out.push(Token::Sym(c));
            i += 1;
        } else {
            return None;
        }
    }
    Some(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn keyword(&mut self, kw: &str) -> bool {
        if let Some(Token::Ident(w)) = self.peek()
            && w.eq_ignore_ascii_case(kw)
        {
            self.pos += 1;
            return true;
        }
        false
    }
    fn sym(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Sym(c)) {
            self.pos += 1;
            return true;
        }
        false
    }
    fn ident(&mut self) -> Option<String> {
        match self.next()? {
            Token::Quoted(s) => Some(s),
            Token::Ident(s) if !is_reserved(&s) => Some(s),
            _ => None,
        }
    }
}

fn is_reserved(word: &str) -> bool {
    [
        "select", "from", "where", "order", "by", "limit", "group", "join", "as", "asc", "desc",
    ]
    .iter()
    .any(|k| word.eq_ignore_ascii_case(k))
}

/// Parse the supported SQL forms; `None` for anything else.
pub fn parse_query(sql: &str) -> Option<SimpleQuery> {
    let mut p = Parser {
        tokens: tokenize(sql)?,
        pos: 0,
    };
    if !p.keyword("select") {
        return None;
    }
    let projection = if p.sym('*') {
        Projection::All
    } else if matches!(p.peek(), Some(Token::Ident(w)) if w.eq_ignore_ascii_case("count"))
        && p.tokens.get(p.pos + 1) == Some(&Token::Sym('('))
    {
        p.pos += 1;
        if !(p.sym('(') && p.sym('*') && p.sym(')')) {
            return None;
        }
        let alias = if p.keyword("as") {
            p.ident()?
        } else {
            "count_star()".to_string()
        };
        Projection::Count(alias)
    } else {
        let mut cols = vec![p.ident()?];
        while p.sym(',') {
            cols.push(p.ident()?);
        }
        Projection::Columns(cols)
    };
    if !p.keyword("from") {
        return None;
    }
    let first = p.ident()?;
    let (dataset, table) = if p.sym('.') {
        (Some(first), p.ident()?)
    } else {
        (None, first)
    };
    // An optional table alias.
    if p.keyword("as")
        || matches!(p.peek(), Some(Token::Quoted(_)))
        || matches!(p.peek(), Some(Token::Ident(w)) if !is_reserved(w))
    {
        p.ident()?;
    }
    let mut order_by = Vec::new();
    if p.keyword("order") {
        if !p.keyword("by") {
            return None;
        }
        loop {
            let col = p.ident()?;
            let desc = if p.keyword("desc") {
                true
            } else {
                p.keyword("asc");
                false
            };
            order_by.push((col, desc));
            if !p.sym(',') {
                break;
            }
        }
    }
    let limit = if p.keyword("limit") {
        match p.next()? {
            Token::Number(n) => Some(n),
            _ => return None,
        }
    } else {
        None
    };
    p.sym(';');
    if p.peek().is_some() {
        return None;
    }
    Some(SimpleQuery {
        projection,
        dataset,
        table,
        order_by,
        limit,
    })
}

/// Apply projection, order and limit to the rows of a table (already conformed to `schema`).
pub fn evaluate(
    q: &SimpleQuery,
    schema: &SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let missing = |c: &str| {
        Error::input(format!(
            "column '{c}' is not in table '{}' (columns: {})",
            q.table,
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    for (c, _) in &q.order_by {
        if schema.index_of(c).is_err() {
            return Err(missing(c));
        }
    }
    let mut all = concat_batches(schema, &batches)?;
    if !q.order_by.is_empty() {
        let sort: Vec<SortColumn> = q
            .order_by
            .iter()
            .map(|(c, desc)| SortColumn {
                values: all.column(schema.index_of(c).expect("checked")).clone(),
                options: Some(SortOptions {
                    descending: *desc,
                    nulls_first: *desc,
                }),
            })
            .collect();
        let idx = lexsort_to_indices(&sort, None)?;
        let cols = all
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        all = RecordBatch::try_new(schema.clone(), cols)?;
    }
    if let Some(n) = q.limit {
        all = all.slice(0, n.min(all.num_rows()));
    }
    match &q.projection {
        Projection::All => Ok(vec![all]),
        Projection::Columns(cols) => {
            let idx = cols
                .iter()
                .map(|c| schema.index_of(c).map_err(|_| missing(c)))
                .collect::<Result<Vec<_>>>()?;
            Ok(vec![all.project(&idx)?])
        }
        Projection::Count(_) => Err(Error::internal("COUNT is answered from file footers")),
    }
}

/// A one-row batch holding a count.
pub fn count_batch(name: &str, n: u64) -> Result<RecordBatch> {
    let schema = Arc::new(ArrowSchema::new(vec![Field::new(
        name,
        DataType::Int64,
        false,
    )]));
    Ok(RecordBatch::try_new(
        schema,
        vec![Arc::new(arrow::array::Int64Array::from(vec![n as i64]))],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_forms_parse() {
        let q = parse_query("SELECT * FROM \"ds\".\"my \"\"table\"\"\"").unwrap();
        assert_eq!(q.projection, Projection::All);
        assert_eq!(q.dataset.as_deref(), Some("ds"));
        assert_eq!(q.table, "my \"table\"");
        let q = parse_query("select count(*) as n from \"ds\".\"t\";").unwrap();
        assert_eq!(q.projection, Projection::Count("n".into()));
        let q = parse_query("SELECT \"a\", b FROM t ORDER BY \"a\" DESC, b LIMIT 5").unwrap();
        assert_eq!(
            q.projection,
            Projection::Columns(vec!["a".into(), "b".into()])
        );
        assert_eq!(q.order_by, vec![("a".into(), true), ("b".into(), false)]);
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.dataset, None);
    }

    #[test]
    fn other_sql_is_not_supported() {
        assert!(parse_query("SELECT SUM(a) FROM t").is_none());
        assert!(parse_query("SELECT a FROM t WHERE a = 1").is_none());
        assert!(parse_query("SELECT COUNT(*) FROM a JOIN b ON a.x = b.y").is_none());
        assert!(parse_query("DELETE FROM t").is_none());
        assert!(parse_query("SELECT * FROM t; DROP TABLE t").is_none());
    }
}
