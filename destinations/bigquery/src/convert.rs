//! Query results as Arrow: BigQuery's result types (as the REST API returns them, text with
//! 64-bit integer timestamps) turned into one Arrow batch.

use crate::client::QueryResult;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_row::TableRow;
use serde_json::Value;
use sluice_core::{Error, Result};
use std::sync::Arc;

/// The type name of a field, upper case (`INTEGER`, `STRING`, …).
fn field_type_name(f: &TableFieldSchema) -> String {
    serde_json::to_value(&f.r#type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "STRING".into())
}

/// The Arrow type of a BigQuery result field.
fn arrow_type(f: &TableFieldSchema) -> ArrowType {
    if f.mode.as_deref() == Some("REPEATED") {
        return ArrowType::Utf8;
    }
    match field_type_name(f).as_str() {
        "INTEGER" | "INT64" => ArrowType::Int64,
        "FLOAT" | "FLOAT64" => ArrowType::Float64,
        "BOOLEAN" | "BOOL" => ArrowType::Boolean,
        "TIMESTAMP" => ArrowType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        "DATETIME" => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        "DATE" => ArrowType::Date32,
        "TIME" => ArrowType::Time64(TimeUnit::Microsecond),
        "NUMERIC" => ArrowType::Decimal128(38, 9),
        "BYTES" => ArrowType::Binary,
        _ => ArrowType::Utf8,
    }
}

fn cell_text(row: &TableRow, i: usize) -> Option<String> {
    let v = row.columns.as_ref()?.get(i)?.value.as_ref()?;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn parse_micros_timestamp(s: &str) -> Option<i64> {
    if let Ok(us) = s.parse::<i64>() {
        return Some(us);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1_000_000.0).round() as i64);
    }
    let t = s.trim_end_matches(" UTC").replace(' ', "T");
    chrono::DateTime::parse_from_rfc3339(&t)
        .ok()
        .map(|t| t.timestamp_micros())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        })
}

fn parse_time_micros(s: &str) -> Option<i64> {
    let t = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
    use chrono::Timelike;
    Some(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000))
}

fn parse_decimal(s: &str, scale: u32) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > scale as usize {
        return None;
    }
    let mut text = String::with_capacity(int.len() + scale as usize);
    text.push_str(if int.is_empty() { "0" } else { int });
    text.push_str(frac);
    for _ in frac.len()..scale as usize {
        text.push('0');
    }
    let v: i128 = text.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Turn query rows into one Arrow batch, with BigQuery's result types mapped to Arrow.
pub(crate) fn to_record_batch(result: &QueryResult) -> Result<RecordBatch> {
    let fields: Vec<Field> = result
        .fields
        .iter()
        .map(|f| Field::new(&f.name, arrow_type(f), true))
        .collect();
    let schema = Arc::new(ArrowSchema::new(fields));
    let n = result.rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(result.fields.len());
    for (i, f) in result.fields.iter().enumerate() {
        let bad = |v: &str| {
            Error::destination(format!(
                "cannot read value '{v}' of column {} as {}",
                f.name,
                field_type_name(f)
            ))
        };
        let texts = result.rows.iter().map(|r| cell_text(r, i));
        let array: ArrayRef = match arrow_type(f) {
            ArrowType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(t.parse().map_err(|_| bad(&t))?),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Float64 => {
                let mut b = Float64Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(match t.as_str() {
                            "NaN" => f64::NAN,
                            "Infinity" => f64::INFINITY,
                            "-Infinity" => f64::NEG_INFINITY,
                            _ => t.parse().map_err(|_| bad(&t))?,
                        }),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                for t in texts {
                    match t.as_deref() {
                        None => b.append_null(),
                        Some("true" | "TRUE" | "True") => b.append_value(true),
                        Some("false" | "FALSE" | "False") => b.append_value(false),
                        Some(other) => return Err(bad(other)),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Timestamp(_, tz) => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            b.append_value(parse_micros_timestamp(&t).ok_or_else(|| bad(&t))?)
                        }
                    }
                }
                Arc::new(b.finish().with_timezone_opt(tz))
            }
            ArrowType::Date32 => {
                let mut b = Date32Builder::with_capacity(n);
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            let d = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                                .map_err(|_| bad(&t))?;
                            b.append_value((d - epoch).num_days() as i32)
                        }
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Time64(_) => {
                let mut b = Time64MicrosecondBuilder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(parse_time_micros(&t).ok_or_else(|| bad(&t))?),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Decimal128(p, s) => {
                let mut b = Decimal128Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            b.append_value(parse_decimal(&t, s as u32).ok_or_else(|| bad(&t))?)
                        }
                    }
                }
                Arc::new(b.finish().with_precision_and_scale(p, s)?)
            }
            ArrowType::Binary => {
                let mut b = BinaryBuilder::with_capacity(n, 0);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(
                            base64::engine::general_purpose::STANDARD
                                .decode(&t)
                                .map_err(|_| bad(&t))?,
                        ),
                    }
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::with_capacity(n, 0);
                for t in texts {
                    b.append_option(t);
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    if columns.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_times_parse() {
        assert_eq!(parse_decimal("1.25", 9), Some(1_250_000_000));
        assert_eq!(parse_decimal("-3", 2), Some(-300));
        assert_eq!(parse_time_micros("01:02:03.5"), Some(3_723_500_000));
        assert_eq!(
            parse_micros_timestamp("1767261600123456"),
            Some(1_767_261_600_123_456)
        );
        assert_eq!(
            parse_micros_timestamp("1.7672616E9"),
            Some(1_767_261_600_000_000)
        );
    }
}
