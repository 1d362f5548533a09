//! Query results as Arrow record batches, read with the simple query protocol (text values).
//!
//! The column types come from the server's description of the statement when it can give one
//! (outside a load only: a failed type lookup would abort the load's transaction): bigint,
//! integer, smallint, real and double precision, boolean, date, timestamps and bytea become the
//! matching Arrow types; everything else (varchar, numeric, super, time, and Redshift's varbyte,
//! whose type the client does not know) is UTF-8 text exactly as the server prints it.

use crate::error::db_error;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use sluice_core::sql::timestamp_to_rfc3339;
use sluice_core::{Error, Result};
use std::sync::Arc;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

/// Run `sql` and return its first result set as one Arrow batch (none when it returns no
/// columns). `describe` asks the server for the column types first.
pub(crate) async fn query_arrow(
    client: &Client,
    sql: &str,
    describe: bool,
) -> Result<Vec<RecordBatch>> {
    let types: Option<Vec<Type>> = if describe {
        match client.prepare(sql).await {
            Ok(stmt) => Some(stmt.columns().iter().map(|c| c.type_().clone()).collect()),
            Err(_) => None,
        }
    } else {
        None
    };
    let messages = client
        .simple_query(sql)
        .await
        .map_err(|e| db_error("query failed", e))?;
    let mut names: Option<Vec<String>> = None;
    let mut rows: Vec<Vec<Option<String>>> = Vec::new();
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) if names.is_none() => {
                names = Some(cols.iter().map(|c| c.name().to_string()).collect());
            }
            SimpleQueryMessage::Row(row) => {
                if names.is_none() {
                    names = Some(row.columns().iter().map(|c| c.name().to_string()).collect());
                }
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(_) if names.is_some() => break,
            _ => {}
        }
    }
    let Some(names) = names else {
        return Ok(Vec::new());
    };
    let types = types.filter(|t| t.len() == names.len());
    let mut fields = Vec::with_capacity(names.len());
    let mut arrays = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let ty = types.as_ref().map(|t| &t[i]);
        let values = rows.iter().map(|r| r[i].as_deref());
        let array = column(ty, values).map_err(|e| e.context(format!("column {name}")))?;
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    Ok(vec![RecordBatch::try_new(schema, arrays)?])
}

fn parse<T: std::str::FromStr>(v: &str) -> Result<T> {
    v.trim()
        .parse()
        .map_err(|_| Error::destination(format!("unexpected value '{v}' in a query result")))
}

fn micros(v: &str, with_zone: bool) -> Result<i64> {
    let t = if with_zone {
        chrono::DateTime::parse_from_rfc3339(&timestamp_to_rfc3339(v)).map(|d| d.timestamp_micros())
    } else {
        chrono::NaiveDateTime::parse_from_str(v.trim(), "%Y-%m-%d %H:%M:%S%.f")
            .map(|d| d.and_utc().timestamp_micros())
    };
    t.map_err(|_| Error::destination(format!("unexpected timestamp '{v}' in a query result")))
}

fn column<'a>(
    ty: Option<&Type>,
    values: impl Iterator<Item = Option<&'a str>>,
) -> Result<ArrayRef> {
    macro_rules! build {
        ($builder:expr, |$v:ident| $conv:expr) => {{
            let mut b = $builder;
            for value in values {
                match value {
                    None => b.append_null(),
                    Some($v) => b.append_value($conv),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match ty {
        Some(&Type::INT2) => build!(Int16Builder::new(), |v| parse(v)?),
        Some(&Type::INT4) => build!(Int32Builder::new(), |v| parse(v)?),
        Some(&Type::INT8) => build!(Int64Builder::new(), |v| parse(v)?),
        Some(&Type::FLOAT4) => build!(Float32Builder::new(), |v| parse(v)?),
        Some(&Type::FLOAT8) => build!(Float64Builder::new(), |v| parse(v)?),
        Some(&Type::BOOL) => build!(BooleanBuilder::new(), |v| matches!(v, "t" | "true")),
        Some(&Type::DATE) => build!(Date32Builder::new(), |v| {
            let d = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                Error::destination(format!("unexpected date '{v}' in a query result"))
            })?;
            (d - chrono::NaiveDate::default()).num_days() as i32
        }),
        Some(&Type::TIMESTAMPTZ) => build!(
            TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            |v| micros(v, true)?
        ),
        Some(&Type::TIMESTAMP) => build!(TimestampMicrosecondBuilder::new(), |v| micros(v, false)?),
        Some(&Type::BYTEA) => build!(BinaryBuilder::new(), |v| hex_bytes(v)?),
        _ => build!(StringBuilder::new(), |v| v),
    })
}

/// Binary text output as bytes: hex with Postgres' `\x` prefix, or plain hex.
fn hex_bytes(v: &str) -> Result<Vec<u8>> {
    let hex = v.strip_prefix("\\x").unwrap_or(v);
    let bad = || Error::destination("unexpected binary value in a query result");
    if !hex.len().is_multiple_of(2) {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::{DataType as ArrowType, TimeUnit};

    #[test]
    fn text_values_become_typed_arrays() {
        let a = column(Some(&Type::BOOL), [Some("t"), Some("f"), None].into_iter()).unwrap();
        assert_eq!(a.data_type(), &ArrowType::Boolean);
        assert_eq!(a.null_count(), 1);
        let a = column(
            Some(&Type::TIMESTAMPTZ),
            [Some("2026-01-02 09:30:00+00")].into_iter(),
        )
        .unwrap();
        assert_eq!(
            a.data_type(),
            &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let a = column(Some(&Type::DATE), [Some("1970-01-02")].into_iter()).unwrap();
        assert_eq!(
            a.as_any()
                .downcast_ref::<arrow::array::Date32Array>()
                .unwrap()
                .value(0),
            1
        );
        let a = column(
            Some(&Type::BYTEA),
            [Some("\\x00ff"), Some("0a")].into_iter(),
        )
        .unwrap();
        let b = a
            .as_any()
            .downcast_ref::<arrow::array::BinaryArray>()
            .unwrap();
        assert_eq!((b.value(0), b.value(1)), (&[0u8, 255][..], &[10u8][..]));
        let a = column(None, [Some("x")].into_iter()).unwrap();
        assert_eq!(a.data_type(), &ArrowType::Utf8);
    }
}
