//! Rows of package files as SQL: the `insert_values` loader file format (dlt's name) sends each
//! table's rows as `INSERT INTO … (columns) VALUES (…), (…)` statements through the Statement
//! Execution API, no staging needed. Values are written so that Databricks SQL and standard SQL
//! read them alike: strings with [`crate::types::literal`], timestamps in UTC with `Z`,
//! decimals and dates through `CAST`, bytes through `unhex`.

use crate::types::literal;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Float64Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use arrow::util::display::array_value_to_string;
use sluice_core::arrow_types::align_batch;
use sluice_core::sql::SqlDialect;
use sluice_core::{Column, Error, Result, TableJob};
use std::fmt::Write as _;

/// Statements are cut at about this many bytes (Databricks accepts up to 16 MiB).
const MAX_STATEMENT_BYTES: usize = 4 * 1024 * 1024;

/// The SQL value of row `i` of `array` (a column aligned to its sluice type).
pub fn sql_value(array: &ArrayRef, i: usize) -> Result<String> {
    if array.is_null(i) {
        return Ok("NULL".into());
    }
    let any = array.as_any();
    Ok(match array.data_type() {
        ArrowType::Utf8 => literal(
            any.downcast_ref::<StringArray>()
                .expect("utf8 array")
                .value(i),
        ),
        ArrowType::Int64 => any
            .downcast_ref::<Int64Array>()
            .expect("int64 array")
            .value(i)
            .to_string(),
        ArrowType::Float64 => {
            let v = any.downcast_ref::<Float64Array>().expect("f64").value(i);
            if v.is_finite() {
                format!("CAST('{v:?}' AS DOUBLE)")
            } else if v.is_nan() {
                "CAST('NaN' AS DOUBLE)".into()
            } else if v > 0.0 {
                "CAST('Infinity' AS DOUBLE)".into()
            } else {
                "CAST('-Infinity' AS DOUBLE)".into()
            }
        }
        ArrowType::Boolean => {
            if any.downcast_ref::<BooleanArray>().expect("bool").value(i) {
                "TRUE".into()
            } else {
                "FALSE".into()
            }
        }
        ArrowType::Timestamp(TimeUnit::Microsecond, tz) => {
            let micros = any
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("timestamp")
                .value(i);
            let t = chrono::DateTime::from_timestamp_micros(micros)
                .ok_or_else(|| Error::input(format!("timestamp {micros} µs is out of range")))?;
            if tz.is_some() {
                format!(
                    "CAST('{}' AS TIMESTAMP)",
                    t.format("%Y-%m-%dT%H:%M:%S%.6fZ")
                )
            } else {
                format!(
                    "CAST('{}' AS TIMESTAMP_NTZ)",
                    t.format("%Y-%m-%d %H:%M:%S%.6f")
                )
            }
        }
        ArrowType::Date32 => format!("CAST('{}' AS DATE)", array_value_to_string(array, i)?),
        ArrowType::Time64(_) => literal(&array_value_to_string(array, i)?),
        ArrowType::Decimal128(p, s) => {
            format!(
                "CAST('{}' AS DECIMAL({p},{s}))",
                array_value_to_string(array, i)?
            )
        }
        ArrowType::Binary => {
            let bytes = any.downcast_ref::<BinaryArray>().expect("binary").value(i);
            let mut hex = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                let _ = write!(hex, "{b:02x}");
            }
            format!("unhex('{hex}')")
        }
        ArrowType::LargeUtf8 => literal(array.as_string::<i64>().value(i)),
        other => {
            return Err(Error::internal(format!(
                "no SQL value for Arrow type {other}"
            )));
        }
    })
}

/// The `INSERT … VALUES` statements that add the rows of `job`'s files to `target` (a qualified,
/// quoted table name), at most about 4 MiB each. Files written before a column existed give
/// NULL for it.
pub fn insert_statements(
    dialect: &SqlDialect<'_>,
    job: &TableJob,
    target: &str,
) -> Result<Vec<String>> {
    let columns: Vec<&Column> = job.table.complete_columns().collect();
    let head = format!(
        "INSERT INTO {target} ({}) VALUES ",
        columns
            .iter()
            .map(|c| dialect.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut statements = Vec::new();
    let mut current = String::new();
    for file in &job.files {
        for batch in sluice_core::parquet_io::read_parquet(file, 2048)? {
            let batch = batch?;
            let arrays = align_batch(&batch, &job.table, &columns)?;
            for row in 0..batch.num_rows() {
                let mut tuple = String::from("(");
                for (n, a) in arrays.iter().enumerate() {
                    if n > 0 {
                        tuple.push_str(", ");
                    }
                    tuple.push_str(&sql_value(a, row).map_err(|e| {
                        e.context(format!(
                            "table {} column {}",
                            job.table.name, columns[n].name
                        ))
                    })?);
                }
                tuple.push(')');
                if !current.is_empty() && current.len() + tuple.len() > MAX_STATEMENT_BYTES {
                    statements.push(std::mem::take(&mut current));
                }
                if current.is_empty() {
                    current.push_str(&head);
                } else {
                    current.push_str(", ");
                }
                current.push_str(&tuple);
            }
        }
    }
    if !current.is_empty() {
        statements.push(current);
    }
    Ok(statements)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Decimal128Array, Time64MicrosecondArray};
    use std::sync::Arc;

    #[test]
    fn values_read_the_same_everywhere() {
        let v = |a: ArrayRef| sql_value(&a, 0).unwrap();
        assert_eq!(
            v(Arc::new(StringArray::from(vec!["it's"]))),
            "('it' || chr(39) || 's')"
        );
        assert_eq!(
            v(Arc::new(Int64Array::from(vec![i64::MAX]))),
            i64::MAX.to_string()
        );
        assert_eq!(
            v(Arc::new(Float64Array::from(vec![1.5]))),
            "CAST('1.5' AS DOUBLE)"
        );
        assert_eq!(
            v(Arc::new(Float64Array::from(vec![f64::NAN]))),
            "CAST('NaN' AS DOUBLE)"
        );
        assert_eq!(v(Arc::new(BooleanArray::from(vec![true]))), "TRUE");
        assert_eq!(
            v(Arc::new(
                TimestampMicrosecondArray::from(vec![1_767_323_045_123_000]).with_timezone("UTC")
            )),
            "CAST('2026-01-02T03:04:05.123000Z' AS TIMESTAMP)"
        );
        assert_eq!(
            v(Arc::new(Date32Array::from(vec![20_455]))),
            "CAST('2026-01-02' AS DATE)"
        );
        assert_eq!(
            v(Arc::new(Time64MicrosecondArray::from(vec![11_045_500_000]))),
            "'03:04:05.500'"
        );
        assert_eq!(
            v(Arc::new(
                Decimal128Array::from(vec![123_456_789_012])
                    .with_precision_and_scale(38, 9)
                    .unwrap()
            )),
            "CAST('123.456789012' AS DECIMAL(38,9))"
        );
        assert_eq!(
            v(Arc::new(BinaryArray::from(vec![&b"sl"[..]]))),
            "unhex('736c')"
        );
        assert_eq!(v(Arc::new(StringArray::from(vec![None::<&str>]))), "NULL");
    }
}
