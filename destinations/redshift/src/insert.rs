//! The direct load path: the rows of a table's Parquet files as batched multi-row
//! `INSERT INTO t (cols) VALUES (…), (…)` statements, each at most a byte budget long
//! (Redshift refuses statements over 16 MB).
//!
//! Columns are matched by name and cast to the column's Arrow type (a column the file lacks,
//! added by a later load, is NULL). Values are written as Redshift literals: strings with
//! single quotes doubled and backslashes doubled (Redshift reads a backslash in a literal as
//! an escape), `json` as `JSON_PARSE('…')` (a `super` value, not a string), binary as
//! `FROM_HEX('…')`, timestamps as `'YYYY-MM-DD HH:MM:SS.ffffff+00'`, numbers as they are.
//!
//! [`write_statements`] is synchronous: the destination runs it on a blocking thread and sends
//! each statement while the next one is built.

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int64Array, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use sluice_core::arrow_types::arrow_type;
use sluice_core::parquet_io::read_parquet;
use sluice_core::schema::{Column, Table};
use sluice_core::types::DataType;
use sluice_core::{Error, Result};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Redshift's limit on the length of a statement, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 16 * 1024 * 1024;

/// The byte budget of one INSERT statement: Redshift's limit less a margin for the protocol.
pub const STATEMENT_BUDGET: usize = MAX_STATEMENT_BYTES - 64 * 1024;

/// Rows per Arrow batch read from a load file.
const READ_BATCH_ROWS: usize = 8 * 1024;

/// One INSERT statement and the number of rows it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct InsertStatement {
    /// The SQL text.
    pub sql: String,
    /// Rows in its VALUES list.
    pub rows: u64,
}

/// Builds INSERT statements for one table; `target` is its qualified, quoted name and
/// `quote` quotes a column name the way the destination does.
pub struct InsertBuilder<'t> {
    table: &'t Table,
    columns: Vec<&'t Column>,
    header: String,
    budget: usize,
    sql: String,
    rows: u64,
    row: String,
}

impl<'t> InsertBuilder<'t> {
    /// A builder of statements for the complete columns of `table`, each at most `budget`
    /// bytes.
    pub fn new(
        table: &'t Table,
        target: &str,
        quote: &dyn Fn(&str) -> String,
        budget: usize,
    ) -> Self {
        let columns: Vec<&Column> = table.complete_columns().collect();
        let names = columns
            .iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        Self {
            table,
            columns,
            header: format!("INSERT INTO {target} ({names}) VALUES "),
            budget,
            sql: String::new(),
            rows: 0,
            row: String::new(),
        }
    }

    /// Whether the table has columns to insert into.
    pub fn has_columns(&self) -> bool {
        !self.columns.is_empty()
    }

    /// Add the rows of `batch`; every statement that is full is passed to `emit`, which
    /// answers false to stop (the receiver is gone).
    pub fn add_batch(
        &mut self,
        batch: &RecordBatch,
        emit: &mut dyn FnMut(InsertStatement) -> bool,
    ) -> Result<bool> {
        let arrays = self.align(batch)?;
        for i in 0..batch.num_rows() {
            self.row.clear();
            self.row.push('(');
            for (k, (array, column)) in arrays.iter().zip(&self.columns).enumerate() {
                if k > 0 {
                    self.row.push_str(", ");
                }
                write_value(&mut self.row, array, i, column)?;
            }
            self.row.push(')');
            if self.header.len() + self.row.len() > self.budget {
                return Err(Error::input(format!(
                    "a row of table {} is {} bytes as SQL, more than the {} bytes an INSERT statement may have on Redshift",
                    self.table.name,
                    self.row.len(),
                    self.budget
                )));
            }
            let full = !self.sql.is_empty() && self.sql.len() + 2 + self.row.len() > self.budget;
            if full && !emit(self.take()) {
                return Ok(false);
            }
            if self.sql.is_empty() {
                self.sql.reserve(self.budget.min(1 << 20));
                self.sql.push_str(&self.header);
            } else {
                self.sql.push_str(", ");
            }
            self.sql.push_str(&self.row);
            self.rows += 1;
        }
        Ok(true)
    }

    /// The statement built so far, if it has rows.
    pub fn finish(mut self) -> Option<InsertStatement> {
        (self.rows > 0).then(|| self.take())
    }

    fn take(&mut self) -> InsertStatement {
        let rows = std::mem::take(&mut self.rows);
        InsertStatement {
            sql: std::mem::take(&mut self.sql),
            rows,
        }
    }

    /// Arrays of `batch` aligned with the target columns (see
    /// [`align_batch`](sluice_core::arrow_types::align_batch)).
    fn align(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        sluice_core::arrow_types::align_batch(batch, self.table, &self.columns)
    }
}

/// Read `files` and pass each full statement to `emit` (false from `emit` stops early).
pub fn write_statements(
    table: &Table,
    target: &str,
    quote: &dyn Fn(&str) -> String,
    budget: usize,
    files: &[PathBuf],
    emit: &mut dyn FnMut(InsertStatement) -> bool,
) -> Result<()> {
    let mut builder = InsertBuilder::new(table, target, quote, budget);
    if !builder.has_columns() {
        return Ok(());
    }
    for file in files {
        for batch in read_parquet(file, READ_BATCH_ROWS)? {
            let batch = batch.map_err(|e| e.context(format!("load file {}", file.display())))?;
            if !builder.add_batch(&batch, emit)? {
                return Ok(());
            }
        }
    }
    if let Some(last) = builder.finish() {
        emit(last);
    }
    Ok(())
}

/// A Redshift string literal: single quotes and backslashes doubled.
pub fn literal(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

fn write_value(out: &mut String, array: &ArrayRef, i: usize, column: &Column) -> Result<()> {
    if array.is_null(i) {
        out.push_str("NULL");
        return Ok(());
    }
    let bad = || {
        Error::internal(format!(
            "column {} has Arrow type {} where {} was expected",
            column.name,
            array.data_type(),
            arrow_type(column)
        ))
    };
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => literal(out, downcast::<StringArray>(array, bad)?.value(i)),
        DataType::Json => {
            out.push_str("JSON_PARSE(");
            literal(out, downcast::<StringArray>(array, bad)?.value(i));
            out.push(')');
        }
        DataType::Bigint => {
            let _ = write!(out, "{}", downcast::<Int64Array>(array, bad)?.value(i));
        }
        DataType::Double => {
            let v = downcast::<Float64Array>(array, bad)?.value(i);
            if v.is_nan() {
                out.push_str("'NaN'");
            } else if v.is_infinite() {
                out.push_str(if v > 0.0 { "'Infinity'" } else { "'-Infinity'" });
            } else {
                // The shortest text that reads back as the same double.
                let _ = write!(out, "{v:?}");
            }
        }
        DataType::Bool => {
            let v = downcast::<BooleanArray>(array, bad)?.value(i);
            out.push_str(if v { "TRUE" } else { "FALSE" });
        }
        DataType::Timestamp => {
            let a = downcast::<TimestampMicrosecondArray>(array, bad)?;
            let t = chrono::DateTime::from_timestamp_micros(a.value(i))
                .ok_or_else(|| Error::input(format!("{}: timestamp out of range", column.name)))?;
            let tz = if column.timezone == Some(false) {
                ""
            } else {
                "+00"
            };
            let _ = write!(out, "'{}{tz}'", t.format("%Y-%m-%d %H:%M:%S%.6f"));
        }
        DataType::Date => {
            let days = downcast::<Date32Array>(array, bad)?.value(i);
            let d = chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163)
                .ok_or_else(|| Error::input(format!("{}: date out of range", column.name)))?;
            let _ = write!(out, "'{}'", d.format("%Y-%m-%d"));
        }
        DataType::Time => {
            let us = downcast::<Time64MicrosecondArray>(array, bad)?.value(i);
            let secs = (us.div_euclid(1_000_000)) as u32;
            let nanos = (us.rem_euclid(1_000_000) * 1000) as u32;
            let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, nanos)
                .ok_or_else(|| Error::input(format!("{}: time out of range", column.name)))?;
            let _ = write!(out, "'{}'", t.format("%H:%M:%S%.6f"));
        }
        DataType::Decimal | DataType::Wei => {
            let a = downcast::<Decimal128Array>(array, bad)?;
            decimal_text(out, a.value(i), a.scale());
        }
        DataType::Binary => {
            out.push_str("FROM_HEX('");
            for b in downcast::<BinaryArray>(array, bad)?.value(i) {
                let _ = write!(out, "{b:02x}");
            }
            out.push_str("')");
        }
    }
    Ok(())
}

fn downcast<T: 'static>(array: &ArrayRef, bad: impl Fn() -> Error) -> Result<&T> {
    array.as_any().downcast_ref::<T>().ok_or_else(bad)
}

/// A decimal `value` scaled by `10^scale` as a numeric literal (`-12.50`).
fn decimal_text(out: &mut String, value: i128, scale: i8) {
    let digits = value.unsigned_abs().to_string();
    if value < 0 {
        out.push('-');
    }
    if scale <= 0 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (-scale) as usize));
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};
    use std::sync::Arc;

    fn quote(s: &str) -> String {
        format!("\"{s}\"")
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        let mut s = String::new();
        literal(&mut s, "it's a\\b");
        assert_eq!(s, "'it''s a\\\\b'");
        for (v, scale, text) in [
            (12_345i128, 2i8, "123.45"),
            (-5, 3, "-0.005"),
            (7, 0, "7"),
            (-120, 9, "-0.000000120"),
        ] {
            let mut s = String::new();
            decimal_text(&mut s, v, scale);
            assert_eq!(s, text);
        }
    }

    fn batch(n: usize) -> (Table, RecordBatch) {
        let mut json = Column::new("j", DataType::Json);
        json.nullable = true;
        let table = Table::new("t")
            .with_column(Column::new("id", DataType::Bigint))
            .with_column(Column::new("name", DataType::Text))
            .with_column(json)
            .with_column(Column::new("at", DataType::Timestamp))
            .with_column(Column::new("later", DataType::Bool));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", ArrowType::Int64, false),
            Field::new("name", ArrowType::Utf8, true),
            Field::new("j", ArrowType::Utf8, true),
            Field::new(
                "at",
                ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
                Arc::new(StringArray::from_iter(
                    (0..n).map(|i| (i % 2 == 0).then(|| format!("o'k\\{i}"))),
                )),
                Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("{{\"i\":{i}}}")),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        (0..n).map(|i| 1_767_261_600_000_000 + i as i64),
                    )
                    .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        (table, b)
    }

    #[test]
    fn rows_render_as_redshift_literals() {
        let (table, b) = batch(2);
        let mut out = Vec::new();
        let mut builder = InsertBuilder::new(&table, "\"ds\".\"t\"", &quote, 1 << 20);
        builder
            .add_batch(&b, &mut |s| {
                out.push(s);
                true
            })
            .unwrap();
        let last = builder.finish().unwrap();
        assert!(out.is_empty());
        assert_eq!(last.rows, 2);
        assert_eq!(
            last.sql,
            "INSERT INTO \"ds\".\"t\" (\"id\", \"name\", \"j\", \"at\", \"later\") VALUES \
             (0, 'o''k\\\\0', JSON_PARSE('{\"i\":0}'), '2026-01-01 10:00:00.000000+00', NULL), \
             (1, NULL, JSON_PARSE('{\"i\":1}'), '2026-01-01 10:00:00.000001+00', NULL)"
        );
    }

    #[test]
    fn statements_stay_within_the_budget() {
        let (table, b) = batch(1000);
        let budget = 4096;
        let mut out = Vec::new();
        let mut builder = InsertBuilder::new(&table, "\"ds\".\"t\"", &quote, budget);
        builder
            .add_batch(&b, &mut |s| {
                out.push(s);
                true
            })
            .unwrap();
        out.extend(builder.finish());
        assert!(out.len() > 10, "{} statements", out.len());
        assert!(out.iter().all(|s| s.sql.len() <= budget));
        assert_eq!(out.iter().map(|s| s.rows).sum::<u64>(), 1000);
        // A row longer than the budget is an error naming the table, not a broken statement.
        let mut tiny = InsertBuilder::new(&table, "\"ds\".\"t\"", &quote, 80);
        let e = tiny.add_batch(&b, &mut |_| true).unwrap_err().to_string();
        assert!(e.contains("a row of table t"), "{e}");
    }
}
