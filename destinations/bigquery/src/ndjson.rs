//! Arrow batches → newline-delimited JSON in the encoding BigQuery load jobs expect.
//!
//! Timestamps are RFC 3339 in UTC with microseconds, dates `YYYY-MM-DD`, times
//! `HH:MM:SS.ffffff`, decimals are strings (no float rounding), bytes are base64, and JSON
//! columns are embedded as JSON values (not as strings holding JSON). NULLs are left out.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float64Array, Int64Array, LargeBinaryArray, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use serde_json::Value;
use sluice_core::{Error, Result};
use std::collections::HashSet;

/// Append the rows of `batch` to `out` as NDJSON. Columns named in `json_columns` hold JSON
/// text that is embedded as a value.
pub fn write_batch(
    batch: &RecordBatch,
    json_columns: &HashSet<String>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let schema = batch.schema();
    let columns: Vec<(String, ArrayRef, bool)> = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| {
            Ok((
                f.name().clone(),
                cast_if_needed(c)?,
                json_columns.contains(f.name()),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    for row in 0..batch.num_rows() {
        let mut obj = serde_json::Map::with_capacity(columns.len());
        for (name, array, is_json) in &columns {
            if array.is_null(row) {
                continue;
            }
            obj.insert(name.clone(), cell(array, row, *is_json)?);
        }
        serde_json::to_writer(&mut *out, &Value::Object(obj))?;
        out.push(b'\n');
    }
    Ok(())
}

fn cast_if_needed(array: &ArrayRef) -> Result<ArrayRef> {
    let target = match array.data_type() {
        DataType::LargeUtf8 | DataType::Utf8View => Some(DataType::Utf8),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Some(DataType::Int64),
        DataType::Float16 | DataType::Float32 => Some(DataType::Float64),
        DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        DataType::Time32(_) | DataType::Time64(TimeUnit::Nanosecond) => {
            Some(DataType::Time64(TimeUnit::Microsecond))
        }
        _ => None,
    };
    match target {
        Some(t) => Ok(arrow::compute::cast(array, &t)?),
        None => Ok(array.clone()),
    }
}

fn cell(array: &ArrayRef, row: usize, is_json: bool) -> Result<Value> {
    Ok(match array.data_type() {
        DataType::Utf8 => {
            let s = array
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("utf8")
                .value(row);
            if is_json {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_string()))
            } else {
                Value::String(s.to_string())
            }
        }
        DataType::Int64 => Value::from(
            array
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("i64")
                .value(row),
        ),
        DataType::UInt64 => Value::String(
            array
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(row)
                .to_string(),
        ),
        DataType::Float64 => {
            let v = array
                .as_any()
                .downcast_ref::<Float64Array>()
                .expect("f64")
                .value(row);
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .unwrap_or_else(|| {
                    Value::String(if v.is_nan() {
                        "NaN".into()
                    } else if v > 0.0 {
                        "Infinity".into()
                    } else {
                        "-Infinity".into()
                    })
                })
        }
        DataType::Boolean => Value::Bool(
            array
                .as_any()
                .downcast_ref::<BooleanArray>()
                .expect("bool")
                .value(row),
        ),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let us = array
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .expect("ts")
                .value(row);
            let t = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| Error::input(format!("timestamp {us}µs is out of range")))?;
            Value::String(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
        }
        DataType::Date32 => {
            let d = array
                .as_any()
                .downcast_ref::<Date32Array>()
                .expect("date")
                .value(row);
            let date = chrono::DateTime::from_timestamp(i64::from(d) * 86_400, 0)
                .ok_or_else(|| Error::input(format!("date {d} is out of range")))?
                .date_naive();
            Value::String(date.format("%Y-%m-%d").to_string())
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            let us = array
                .as_any()
                .downcast_ref::<Time64MicrosecondArray>()
                .expect("time")
                .value(row);
            let secs = us.div_euclid(1_000_000);
            let frac = us.rem_euclid(1_000_000);
            Value::String(format!(
                "{:02}:{:02}:{:02}.{frac:06}",
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            ))
        }
        DataType::Decimal128(_, _) => Value::String(
            array
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .expect("decimal")
                .value_as_string(row),
        ),
        DataType::Binary => Value::String(
            base64::engine::general_purpose::STANDARD.encode(
                array
                    .as_any()
                    .downcast_ref::<BinaryArray>()
                    .expect("binary")
                    .value(row),
            ),
        ),
        DataType::LargeBinary => Value::String(
            base64::engine::general_purpose::STANDARD.encode(
                array
                    .as_any()
                    .downcast_ref::<LargeBinaryArray>()
                    .expect("binary")
                    .value(row),
            ),
        ),
        _ => {
            let text = arrow::util::display::array_value_to_string(array, row)?;
            Value::String(text)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn types_encode_as_bigquery_expects() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", DataType::Decimal128(38, 9), true),
            Field::new("j", DataType::Utf8, true),
            Field::new("b", DataType::Binary, true),
            Field::new("t", DataType::Time64(TimeUnit::Microsecond), true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![Some(1_767_261_600_500_000), None])
                        .with_timezone("UTC"),
                ),
                Arc::new(
                    Decimal128Array::from(vec![Some(1_500_000_000), None])
                        .with_precision_and_scale(38, 9)
                        .unwrap(),
                ),
                Arc::new(StringArray::from(vec![Some("{\"k\":[1]}"), None])),
                Arc::new(BinaryArray::from(vec![Some(&b"\x01\x02"[..]), None])),
                Arc::new(Time64MicrosecondArray::from(vec![
                    Some(3_723_000_001),
                    None,
                ])),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batch(&batch, &HashSet::from(["j".to_string()]), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            r#"{"id":1,"ts":"2026-01-01T10:00:00.500000Z","d":"1.500000000","j":{"k":[1]},"b":"AQI=","t":"01:02:03.000001"}"#
        );
        assert_eq!(lines[1], r#"{"id":2}"#);
    }
}
