//! Snowflake result sets as plain Arrow.
//!
//! Snowflake's Arrow rowsets use their own encodings, described by field metadata
//! (`logicalType`, `scale`, `precision`): scaled integers for `NUMBER(p,s)`, structs of
//! `epoch`/`fraction`/`timezone` (or scaled integers) for timestamps, scaled integers for `TIME`.
//! [`normalize_batch`] turns them into the Arrow types sluice uses elsewhere (`Decimal128`,
//! `Timestamp(µs)`, `Time64(µs)`). JSON rowsets (arrays of strings) become typed batches
//! through [`json_rowset_to_batch`].

use arrow::array::{
    Array, ArrayRef, BooleanBuilder, Decimal128Builder, Float64Builder, Int64Array, Int64Builder,
    StringBuilder, StructArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use serde::Deserialize;
use sluice_core::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// One column of a result as Snowflake describes it (`rowtype`).
#[derive(Debug, Clone, Deserialize)]
pub struct RowType {
    /// Column name.
    pub name: String,
    /// Snowflake type, lower case (`fixed`, `real`, `text`, `timestamp_tz`, …).
    #[serde(rename = "type")]
    pub type_name: String,
    /// Digits of a `fixed` column.
    #[serde(default)]
    pub precision: Option<i64>,
    /// Scale of a `fixed` column; fractional second digits of times and timestamps.
    #[serde(default)]
    pub scale: Option<i64>,
    /// Whether the column may hold NULL.
    #[serde(default = "yes")]
    pub nullable: bool,
}

fn yes() -> bool {
    true
}

/// The plain Arrow type a Snowflake column maps to.
fn arrow_type_of(rt: &RowType) -> DataType {
    let scale = rt.scale.unwrap_or(0);
    match rt.type_name.to_ascii_lowercase().as_str() {
        "fixed" if scale == 0 && rt.precision.unwrap_or(38) <= 18 => DataType::Int64,
        "fixed" => DataType::Decimal128(
            rt.precision.unwrap_or(38).clamp(1, 38) as u8,
            scale.clamp(0, 38) as i8,
        ),
        "real" => DataType::Float64,
        "boolean" => DataType::Boolean,
        _ => DataType::Utf8,
    }
}

/// The schema of an empty or JSON result.
pub fn schema_of(rowtype: &[RowType]) -> SchemaRef {
    Arc::new(Schema::new(
        rowtype
            .iter()
            .map(|rt| Field::new(&rt.name, arrow_type_of(rt), true))
            .collect::<Vec<_>>(),
    ))
}

/// A JSON rowset (rows of strings or nulls) as one typed batch.
pub fn json_rowset_to_batch(
    rowtype: &[RowType],
    rows: &[Vec<Option<String>>],
) -> Result<RecordBatch> {
    let schema = schema_of(rowtype);
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(rowtype.len());
    for (i, field) in schema.fields().iter().enumerate() {
        let cell = |r: &Vec<Option<String>>| r.get(i).cloned().flatten();
        let bad = |v: &str| {
            Error::destination(format!(
                "snowflake returned '{v}' for column {} of type {}",
                field.name(),
                rowtype[i].type_name
            ))
        };
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(rows.len());
                for r in rows {
                    match cell(r) {
                        None => b.append_null(),
                        Some(v) => b.append_value(v.trim().parse().map_err(|_| bad(&v))?),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(rows.len());
                for r in rows {
                    match cell(r) {
                        None => b.append_null(),
                        Some(v) => b.append_value(v.trim().parse().map_err(|_| bad(&v))?),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(rows.len());
                for r in rows {
                    match cell(r).as_deref().map(str::trim) {
                        None => b.append_null(),
                        Some("1" | "true" | "TRUE" | "True") => b.append_value(true),
                        Some("0" | "false" | "FALSE" | "False") => b.append_value(false),
                        Some(v) => return Err(bad(v)),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Decimal128(p, s) => {
                let mut b = Decimal128Builder::with_capacity(rows.len())
                    .with_precision_and_scale(*p, *s)?;
                for r in rows {
                    match cell(r) {
                        None => b.append_null(),
                        Some(v) => b.append_value(parse_decimal(&v, *s).ok_or_else(|| bad(&v))?),
                    }
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::with_capacity(rows.len(), rows.len() * 8);
                for r in rows {
                    b.append_option(cell(r));
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(
        schema, columns, &options,
    )?)
}

/// Parse a decimal string into an integer scaled by `10^scale`.
fn parse_decimal(text: &str, scale: i8) -> Option<i128> {
    let text = text.trim();
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let scale = scale.max(0) as usize;
    let mut frac: String = frac.chars().take(scale).collect();
    while frac.len() < scale {
        frac.push('0');
    }
    let all = format!("{int}{frac}");
    if !all.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i128 = if all.is_empty() { 0 } else { all.parse().ok()? };
    Some(if neg { -v } else { v })
}

fn metadata<'a>(field: &'a Field, key: &str) -> Option<&'a str> {
    field.metadata().get(key).map(|s| s.as_str())
}

/// Turn Snowflake's Arrow encodings into plain Arrow types, column by column.
pub fn normalize_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let (f, c) = normalize_column(field, column)?;
        fields.push(f);
        columns.push(c);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &options,
    )?)
}

fn normalize_column(field: &Field, column: &ArrayRef) -> Result<(Field, ArrayRef)> {
    let logical = metadata(field, "logicalType")
        .unwrap_or("")
        .to_ascii_uppercase();
    let scale: i32 = metadata(field, "scale")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let precision: u8 = metadata(field, "precision")
        .and_then(|s| s.parse().ok())
        .unwrap_or(38u8)
        .clamp(1, 38);
    let plain = |dt: DataType| Field::new(field.name(), dt, true);
    let out: (Field, ArrayRef) = match logical.as_str() {
        "FIXED" if column.data_type().is_integer() => {
            if scale == 0 {
                let c = cast(column, &DataType::Int64)?;
                (plain(DataType::Int64), c)
            } else {
                // A scaled integer: the same digits as a decimal with that scale.
                let ints = cast(column, &DataType::Int64)?;
                let ints = ints.as_any().downcast_ref::<Int64Array>().expect("int64");
                let mut b = Decimal128Builder::with_capacity(ints.len())
                    .with_precision_and_scale(precision, scale as i8)?;
                for v in ints.iter() {
                    b.append_option(v.map(i128::from));
                }
                let dt = DataType::Decimal128(precision, scale as i8);
                (plain(dt), Arc::new(b.finish()))
            }
        }
        "TIMESTAMP_TZ" | "TIMESTAMP_LTZ" | "TIMESTAMP_NTZ" => {
            // An offset rather than "UTC": arrow formats named zones only with chrono-tz.
            let tz = (logical != "TIMESTAMP_NTZ").then(|| Arc::<str>::from("+00:00"));
            let micros = timestamp_micros(column, scale)?;
            let array = TimestampMicrosecondArray::from(micros).with_timezone_opt(tz.clone());
            (
                plain(DataType::Timestamp(TimeUnit::Microsecond, tz)),
                Arc::new(array),
            )
        }
        "TIME" if column.data_type().is_integer() => {
            let ints = cast(column, &DataType::Int64)?;
            let ints = ints.as_any().downcast_ref::<Int64Array>().expect("int64");
            let micros: Vec<Option<i64>> = ints
                .iter()
                .map(|v| v.map(|v| rescale(v, scale, 6)))
                .collect();
            (
                plain(DataType::Time64(TimeUnit::Microsecond)),
                Arc::new(Time64MicrosecondArray::from(micros)),
            )
        }
        _ => (
            Field::new(field.name(), column.data_type().clone(), true),
            column.clone(),
        ),
    };
    Ok(out)
}

/// `value` in units of `10^-from` seconds as units of `10^-to` seconds.
fn rescale(value: i64, from: i32, to: i32) -> i64 {
    if from == to {
        value
    } else if from > to {
        value.div_euclid(10i64.pow((from - to) as u32))
    } else {
        value.saturating_mul(10i64.pow((to - from) as u32))
    }
}

/// Microseconds since the epoch of a Snowflake timestamp column: a scaled integer, or a
/// struct of `epoch` (seconds, or a scaled integer when there is no `fraction`), `fraction`
/// (nanoseconds) and `timezone`. A row is NULL when the struct or its epoch is NULL.
fn timestamp_micros(column: &ArrayRef, scale: i32) -> Result<Vec<Option<i64>>> {
    if column.data_type().is_integer() {
        let ints = cast(column, &DataType::Int64)?;
        let ints = ints.as_any().downcast_ref::<Int64Array>().expect("int64");
        return Ok(ints
            .iter()
            .map(|v| v.map(|v| rescale(v, scale, 6)))
            .collect());
    }
    if let DataType::Timestamp(_, _) = column.data_type() {
        let c = cast(column, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
        let c = cast(&c, &DataType::Int64)?;
        let ints = c.as_any().downcast_ref::<Int64Array>().expect("int64");
        return Ok(ints.iter().collect());
    }
    let s = column
        .as_any()
        .downcast_ref::<StructArray>()
        .ok_or_else(|| {
            Error::destination(format!(
                "snowflake returned an unexpected timestamp encoding {}",
                column.data_type()
            ))
        })?;
    let child = |name: &str| -> Result<Option<Int64Array>> {
        match s.column_by_name(name) {
            None => Ok(None),
            Some(c) => {
                let c = cast(c, &DataType::Int64)?;
                Ok(Some(
                    c.as_any()
                        .downcast_ref::<Int64Array>()
                        .expect("int64")
                        .clone(),
                ))
            }
        }
    };
    let epoch = child("epoch")?.ok_or_else(|| {
        Error::destination("snowflake returned a timestamp struct without an epoch field")
    })?;
    let fraction = child("fraction")?;
    let mut out = Vec::with_capacity(s.len());
    for i in 0..s.len() {
        if s.is_null(i) || epoch.is_null(i) {
            out.push(None);
            continue;
        }
        let e = epoch.value(i);
        let micros = match &fraction {
            Some(f) => {
                let nanos = if f.is_null(i) { 0 } else { f.value(i) };
                e.saturating_mul(1_000_000).saturating_add(nanos / 1000)
            }
            // No fraction: the epoch is a scaled integer.
            None => rescale(e, scale, 6),
        };
        out.push(Some(micros));
    }
    Ok(out)
}

/// Parameters Snowflake returns with a result (`TIMEZONE`, …), by name.
pub fn parameters(data: &serde_json::Value) -> HashMap<String, serde_json::Value> {
    data.get("parameters")
        .and_then(|p| p.as_array())
        .map(|ps| {
            ps.iter()
                .filter_map(|p| {
                    Some((
                        p.get("name")?.as_str()?.to_string(),
                        p.get("value")?.clone(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use arrow::util::display::array_value_to_string;

    fn rt(name: &str, ty: &str, p: Option<i64>, s: Option<i64>) -> RowType {
        RowType {
            name: name.into(),
            type_name: ty.into(),
            precision: p,
            scale: s,
            nullable: true,
        }
    }

    #[test]
    fn json_rowsets_are_typed() {
        let types = [
            rt("n", "fixed", Some(38), Some(0)),
            rt("i", "fixed", Some(18), Some(0)),
            rt("d", "fixed", Some(10), Some(2)),
            rt("f", "real", None, None),
            rt("b", "boolean", None, None),
            rt("t", "text", None, None),
        ];
        let rows = vec![
            vec![
                Some("12345678901234567890".into()),
                Some("7".into()),
                Some("-1.5".into()),
                Some("2.5".into()),
                Some("1".into()),
                Some("x".into()),
            ],
            vec![None, None, None, None, None, None],
        ];
        let b = json_rowset_to_batch(&types, &rows).unwrap();
        let s = |c: usize, r: usize| array_value_to_string(b.column(c), r).unwrap();
        assert_eq!(s(0, 0), "12345678901234567890");
        assert_eq!(s(1, 0), "7");
        assert_eq!(s(2, 0), "-1.50");
        assert_eq!(s(3, 0), "2.5");
        assert_eq!(s(4, 0), "true");
        assert!(b.column(5).is_null(1));
    }

    #[test]
    fn snowflake_encodings_become_plain_arrow() {
        let md = |lt: &str, scale: &str| {
            HashMap::from([
                ("logicalType".to_string(), lt.to_string()),
                ("scale".to_string(), scale.to_string()),
                ("precision".to_string(), "10".to_string()),
            ])
        };
        let ts = StructArray::from(vec![
            (
                Arc::new(Field::new("epoch", DataType::Int64, true)),
                Arc::new(Int64Array::from(vec![Some(1_767_346_200), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("fraction", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![Some(500_000_000), None])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("timezone", DataType::Int32, true)),
                Arc::new(Int32Array::from(vec![1440, 1440])) as ArrayRef,
            ),
        ]);
        let schema = Schema::new(vec![
            Field::new("ts", ts.data_type().clone(), true).with_metadata(md("TIMESTAMP_TZ", "9")),
            Field::new("d", DataType::Int64, true).with_metadata(md("FIXED", "2")),
            Field::new("tm", DataType::Int64, true).with_metadata(md("TIME", "9")),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(ts),
                Arc::new(Int64Array::from(vec![Some(1234), None])),
                Arc::new(Int64Array::from(vec![Some(36_672_500_000_000), None])),
            ],
        )
        .unwrap();
        let out = normalize_batch(&batch).unwrap();
        let s = |c: usize, r: usize| array_value_to_string(out.column(c), r).unwrap();
        assert_eq!(s(0, 0), "2026-01-02T09:30:00.500Z");
        assert!(out.column(0).is_null(1));
        assert_eq!(s(1, 0), "12.34");
        assert_eq!(s(2, 0), "10:11:12.500");
        assert!(out.column(2).is_null(1));
    }

    #[test]
    fn decimals_parse() {
        assert_eq!(parse_decimal("12.3456", 2), Some(1234));
        assert_eq!(parse_decimal("-0.5", 3), Some(-500));
        assert_eq!(parse_decimal("abc", 0), None);
    }
}
