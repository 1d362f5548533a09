//! Statement results as typed Arrow batches: JSON rows (text) and Arrow columns that came as
//! text are cast to the Arrow type of the column's SQL type in the result manifest. Databricks'
//! Arrow results are typed already and pass as they are; the local stand-in sends decimals,
//! timestamps and dates as strings.

use crate::client::{ResultColumn, StatementResult};
use arrow::array::{ArrayRef, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType as ArrowType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use sluice_core::{Error, Result};
use std::sync::Arc;

/// The Arrow type of a result column's SQL type (`None`: keep it as text).
pub fn arrow_type_of(type_text: &str) -> Option<ArrowType> {
    let t = type_text.trim().to_ascii_uppercase();
    let base = t.split('(').next().unwrap_or_default().trim();
    Some(match base {
        "BIGINT" | "LONG" | "INT" | "INTEGER" | "SMALLINT" | "SHORT" | "TINYINT" | "BYTE"
        | "HUGEINT" | "UBIGINT" | "UINTEGER" => ArrowType::Int64,
        "DOUBLE" | "FLOAT" | "REAL" => ArrowType::Float64,
        "BOOLEAN" => ArrowType::Boolean,
        "DATE" => ArrowType::Date32,
        "TIMESTAMP" | "TIMESTAMP WITH TIME ZONE" | "TIMESTAMPTZ" => {
            ArrowType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("UTC")))
        }
        "TIMESTAMP_NTZ" => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        "BINARY" | "BLOB" => ArrowType::Binary,
        "DECIMAL" | "NUMERIC" => {
            let args = t
                .split_once('(')
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .unwrap_or("38,9");
            let mut it = args.split(',').map(|s| s.trim().parse::<i64>().ok());
            let p = it.next().flatten().unwrap_or(38).clamp(1, 38) as u8;
            let s = it.next().flatten().unwrap_or(0).clamp(0, p as i64) as i8;
            ArrowType::Decimal128(p, s)
        }
        _ => return None,
    })
}

/// A text column cast to the type of `column` (text stays text).
fn typed(column: &ResultColumn, text: ArrayRef) -> Result<ArrayRef> {
    let Some(target) = column.type_text.as_deref().and_then(arrow_type_of) else {
        return Ok(text);
    };
    if matches!(target, ArrowType::Timestamp(..)) {
        // `2026-01-02 03:04:05.123` (no zone) is UTC, as Databricks stores timestamps.
        let strings = text
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| Error::internal("a text result column is not UTF-8"))?;
        let fixed: StringArray = strings
            .iter()
            .map(|v| v.map(|s| with_utc_zone(s.trim())))
            .collect();
        return cast(&fixed, &target).map_err(|e| {
            Error::destination(format!("result column {} is not a timestamp", column.name))
                .with_source(e)
        });
    }
    cast(&text, &target).map_err(|e| {
        Error::destination(format!(
            "result column {} does not read as {target}",
            column.name
        ))
        .with_source(e)
    })
}

/// A timestamp text with a zone (`Z` added when it has none).
fn with_utc_zone(s: &str) -> String {
    let time = s.split_once(['T', ' ']).map(|(_, t)| t).unwrap_or("");
    if s.ends_with('Z') || time.contains(['+', '-']) || s.ends_with(" UTC") {
        s.replace(" UTC", "Z")
    } else {
        format!("{s}Z")
    }
}

/// The result of a statement as typed record batches.
pub fn to_batches(result: &StatementResult) -> Result<Vec<RecordBatch>> {
    if !result.batches.is_empty() {
        return result
            .batches
            .iter()
            .map(|b| retype(b, &result.columns))
            .collect();
    }
    let mut arrays = Vec::with_capacity(result.columns.len());
    for (i, column) in result.columns.iter().enumerate() {
        let text: ArrayRef = Arc::new(
            result
                .rows
                .iter()
                .map(|r| r.get(i).cloned().flatten())
                .collect::<StringArray>(),
        );
        arrays.push(typed(column, text)?);
    }
    if arrays.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![batch_of(&result.columns, arrays)?])
}

/// An Arrow batch whose text columns are cast to the manifest's types.
fn retype(batch: &RecordBatch, columns: &[ResultColumn]) -> Result<RecordBatch> {
    let mut arrays = Vec::with_capacity(batch.num_columns());
    for (i, array) in batch.columns().iter().enumerate() {
        let column = columns.get(i).cloned().unwrap_or_else(|| ResultColumn {
            name: batch.schema().field(i).name().clone(),
            type_text: None,
        });
        let array = match array.data_type() {
            ArrowType::Utf8 => typed(&column, array.clone())?,
            ArrowType::LargeUtf8 => typed(&column, cast(array, &ArrowType::Utf8)?)?,
            _ => array.clone(),
        };
        arrays.push(array);
    }
    let names: Vec<ResultColumn> = (0..batch.num_columns())
        .map(|i| ResultColumn {
            name: batch.schema().field(i).name().clone(),
            type_text: None,
        })
        .collect();
    batch_of(&names, arrays)
}

fn batch_of(columns: &[ResultColumn], arrays: Vec<ArrayRef>) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .zip(&arrays)
        .map(|(c, a)| Field::new(&c.name, a.data_type().clone(), true))
        .collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::util::display::array_value_to_string;

    #[test]
    fn text_results_become_typed() {
        let col = |n: &str, t: &str| ResultColumn {
            name: n.into(),
            type_text: Some(t.into()),
        };
        let result = StatementResult {
            columns: vec![
                col("i", "BIGINT"),
                col("d", "DECIMAL(38,9)"),
                col("t", "TIMESTAMP"),
                col("s", "STRING"),
                col("b", "BOOLEAN"),
            ],
            rows: vec![vec![
                Some("9".into()),
                Some("1.500000000".into()),
                Some("2026-01-02 03:04:05.123".into()),
                Some("x".into()),
                Some("true".into()),
            ]],
            ..Default::default()
        };
        let batches = to_batches(&result).unwrap();
        let b = &batches[0];
        let cell = |i: usize| array_value_to_string(b.column(i), 0).unwrap();
        assert_eq!(cell(0), "9");
        assert_eq!(cell(1), "1.500000000");
        assert_eq!(cell(2), "2026-01-02T03:04:05.123Z");
        assert_eq!(cell(3), "x");
        assert_eq!(cell(4), "true");
        assert_eq!(
            with_utc_zone("2026-01-02T03:04:05+02:00"),
            "2026-01-02T03:04:05+02:00"
        );
        assert_eq!(
            arrow_type_of("decimal(10,2)"),
            Some(ArrowType::Decimal128(10, 2))
        );
        assert_eq!(arrow_type_of("VARCHAR"), None);
    }
}
