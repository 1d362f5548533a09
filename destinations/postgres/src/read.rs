//! Query results as Arrow record batches.
//!
//! Rows arrive in Postgres' binary format and are decoded column by column into Arrow
//! builders, a batch every [`BATCH_ROWS`] rows. Types map as: int2/int4/int8 → Int16/Int32/Int64,
//! float4/float8 → Float32/Float64, bool → Boolean, text/varchar/bpchar/name → Utf8,
//! numeric(p ≤ 38, s) → Decimal128(p, s) (other numerics → Utf8), timestamptz →
//! Timestamp(µs, UTC), timestamp → Timestamp(µs), date → Date32, time → Time64(µs),
//! bytea → Binary, json/jsonb → Utf8, uuid → Utf8. Columns of any other type are cast to text
//! by the server.

use crate::copy::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_US};
use crate::error::pg_error;
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use futures::{StreamExt, pin_mut};
use sluice_core::{Error, Result};
use std::sync::Arc;
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::{Client, Row};

/// Rows per Arrow batch of a query result.
pub const BATCH_ROWS: usize = 8192;

/// The raw bytes of a value in binary format, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Bool,
    Text,
    Json,
    Jsonb,
    Uuid,
    Decimal(u8, i8),
    NumericText,
    Timestamptz,
    Timestamp,
    Date,
    Time,
    Bytea,
}

fn kind_of(ty: &Type, typmod: i32) -> Option<Kind> {
    Some(match *ty {
        Type::INT2 => Kind::Int2,
        Type::INT4 => Kind::Int4,
        Type::INT8 => Kind::Int8,
        Type::OID => Kind::Oid,
        Type::FLOAT4 => Kind::Float4,
        Type::FLOAT8 => Kind::Float8,
        Type::BOOL => Kind::Bool,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => Kind::Text,
        Type::JSON => Kind::Json,
        Type::JSONB => Kind::Jsonb,
        Type::UUID => Kind::Uuid,
        Type::NUMERIC => {
            if typmod >= 4 {
                let p = ((typmod - 4) >> 16) & 0xffff;
                let s = (typmod - 4) & 0xffff;
                if (1..=38).contains(&p) && s <= p {
                    Kind::Decimal(p as u8, s as i8)
                } else {
                    Kind::NumericText
                }
            } else {
                Kind::NumericText
            }
        }
        Type::TIMESTAMPTZ => Kind::Timestamptz,
        Type::TIMESTAMP => Kind::Timestamp,
        Type::DATE => Kind::Date,
        Type::TIME => Kind::Time,
        Type::BYTEA => Kind::Bytea,
        _ => return None,
    })
}

fn arrow_of(kind: Kind) -> ArrowType {
    match kind {
        Kind::Int2 => ArrowType::Int16,
        Kind::Int4 => ArrowType::Int32,
        Kind::Int8 | Kind::Oid => ArrowType::Int64,
        Kind::Float4 => ArrowType::Float32,
        Kind::Float8 => ArrowType::Float64,
        Kind::Bool => ArrowType::Boolean,
        Kind::Text | Kind::Json | Kind::Jsonb | Kind::Uuid | Kind::NumericText => ArrowType::Utf8,
        Kind::Decimal(p, s) => ArrowType::Decimal128(p, s),
        Kind::Timestamptz => ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Timestamp => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        Kind::Date => ArrowType::Date32,
        Kind::Time => ArrowType::Time64(TimeUnit::Microsecond),
        Kind::Bytea => ArrowType::Binary,
    }
}

/// Run `sql` and return its rows as Arrow batches (one empty batch when there are no rows;
/// none when the statement returns no columns).
pub(crate) async fn query_arrow(client: &Client, sql: &str) -> Result<Vec<RecordBatch>> {
    let stmt = client
        .prepare(sql)
        .await
        .map_err(|e| pg_error("query failed", e))?;
    let kinds: Vec<Option<Kind>> = stmt
        .columns()
        .iter()
        .map(|c| kind_of(c.type_(), c.type_modifier()))
        .collect();
    if kinds.iter().any(Option::is_none) {
        return query_with_text_casts(client, sql, &stmt).await;
    }
    let kinds: Vec<Kind> = kinds.into_iter().map(Option::unwrap).collect();
    let schema: SchemaRef = Arc::new(Schema::new(
        stmt.columns()
            .iter()
            .zip(&kinds)
            .map(|(c, k)| Field::new(c.name(), arrow_of(*k), true))
            .collect::<Vec<_>>(),
    ));
    if kinds.is_empty() {
        client
            .execute(&stmt, &[])
            .await
            .map_err(|e| pg_error("query failed", e))?;
        return Ok(Vec::new());
    }
    let stream = client
        .query_raw(
            &stmt,
            std::iter::empty::<&(dyn tokio_postgres::types::ToSql + Sync)>(),
        )
        .await
        .map_err(|e| pg_error("query failed", e))?;
    pin_mut!(stream);
    let mut batches = Vec::new();
    let mut rows: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = stream.next().await {
        rows.push(row.map_err(|e| pg_error("query failed", e))?);
        if rows.len() == BATCH_ROWS {
            batches.push(build_batch(&schema, &kinds, &rows)?);
            rows.clear();
        }
    }
    if !rows.is_empty() || batches.is_empty() {
        batches.push(build_batch(&schema, &kinds, &rows)?);
    }
    Ok(batches)
}

/// Columns of types without a binary decoder here: let the server cast them to text by
/// wrapping the query (`SELECT q.c0, q.c1::text … FROM (sql) AS q(c0, c1, …)`).
async fn query_with_text_casts(
    client: &Client,
    sql: &str,
    stmt: &tokio_postgres::Statement,
) -> Result<Vec<RecordBatch>> {
    let inner = sql.trim().trim_end_matches(';');
    let aliases: Vec<String> = (0..stmt.columns().len()).map(|i| format!("c{i}")).collect();
    let select: Vec<String> = stmt
        .columns()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = format!("\"{}\"", c.name().replace('"', "\"\""));
            match kind_of(c.type_(), c.type_modifier()) {
                Some(_) => format!("q.c{i} AS {name}"),
                None => format!("CAST(q.c{i} AS text) AS {name}"),
            }
        })
        .collect();
    let wrapped = format!(
        "SELECT {} FROM ({inner}) AS q({})",
        select.join(", "),
        aliases.join(", ")
    );
    let unsupported: Vec<String> = stmt
        .columns()
        .iter()
        .filter(|c| kind_of(c.type_(), c.type_modifier()).is_none())
        .map(|c| format!("{} ({})", c.name(), c.type_()))
        .collect();
    let again = client.prepare(&wrapped).await.map_err(|e| {
        pg_error(
            format!(
                "query returns columns of types that cannot be read as Arrow: {}; cast them to text in the query",
                unsupported.join(", ")
            ),
            e,
        )
    })?;
    if again
        .columns()
        .iter()
        .any(|c| kind_of(c.type_(), c.type_modifier()).is_none())
    {
        return Err(Error::destination(format!(
            "query returns columns of types that cannot be read as Arrow: {}",
            unsupported.join(", ")
        )));
    }
    Box::pin(query_arrow(client, &wrapped)).await
}

fn build_batch(schema: &SchemaRef, kinds: &[Kind], rows: &[Row]) -> Result<RecordBatch> {
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let values = rows.iter().map(|r| {
            r.try_get::<_, Option<Raw<'_>>>(i)
                .map(|v| v.map(|r| r.0))
                .map_err(|e| Error::internal("cannot read a result value").with_source(e))
        });
        arrays.push(decode_column(*kind, rows.len(), values)?);
    }
    Ok(RecordBatch::try_new(schema.clone(), arrays)?)
}

fn be<const N: usize>(v: &[u8]) -> Result<[u8; N]> {
    v.try_into().map_err(|_| {
        Error::internal(format!(
            "unexpected value length {} (expected {N})",
            v.len()
        ))
    })
}

fn utf8(v: &[u8]) -> Result<&str> {
    std::str::from_utf8(v).map_err(|e| Error::internal("result text is not UTF-8").with_source(e))
}

fn decode_column<'a>(
    kind: Kind,
    len: usize,
    values: impl Iterator<Item = Result<Option<&'a [u8]>>>,
) -> Result<ArrayRef> {
    macro_rules! build {
        ($builder:expr, |$v:ident| $conv:expr) => {{
            let mut b = $builder;
            for value in values {
                match value? {
                    None => b.append_null(),
                    Some($v) => b.append_value($conv),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match kind {
        Kind::Int2 => build!(Int16Builder::with_capacity(len), |v| i16::from_be_bytes(
            be(v)?
        )),
        Kind::Int4 => build!(Int32Builder::with_capacity(len), |v| i32::from_be_bytes(
            be(v)?
        )),
        Kind::Int8 => build!(Int64Builder::with_capacity(len), |v| i64::from_be_bytes(
            be(v)?
        )),
        Kind::Oid => build!(
            Int64Builder::with_capacity(len),
            |v| u32::from_be_bytes(be(v)?) as i64
        ),
        Kind::Float4 => build!(Float32Builder::with_capacity(len), |v| f32::from_be_bytes(
            be(v)?
        )),
        Kind::Float8 => build!(Float64Builder::with_capacity(len), |v| f64::from_be_bytes(
            be(v)?
        )),
        Kind::Bool => build!(BooleanBuilder::with_capacity(len), |v| v.first()
            == Some(&1)),
        Kind::Text | Kind::Json => {
            build!(StringBuilder::with_capacity(len, len * 16), |v| utf8(v)?)
        }
        Kind::Jsonb => build!(StringBuilder::with_capacity(len, len * 16), |v| utf8(
            v.get(1..).unwrap_or_default()
        )?),
        Kind::Uuid => build!(
            StringBuilder::with_capacity(len, len * 36),
            |v| format_uuid(v)
        ),
        Kind::NumericText => build!(StringBuilder::with_capacity(len, len * 16), |v| {
            numeric_to_string(v)?
        }),
        Kind::Decimal(p, s) => {
            let mut b = Decimal128Builder::with_capacity(len).with_precision_and_scale(p, s)?;
            for value in values {
                match value? {
                    None => b.append_null(),
                    Some(v) => match numeric_to_i128(v, s)? {
                        Some(x) => b.append_value(x),
                        None => b.append_null(),
                    },
                }
            }
            Arc::new(b.finish())
        }
        Kind::Timestamptz => build!(
            TimestampMicrosecondBuilder::with_capacity(len).with_timezone("UTC"),
            |v| i64::from_be_bytes(be(v)?).saturating_add(PG_EPOCH_OFFSET_US)
        ),
        Kind::Timestamp => build!(TimestampMicrosecondBuilder::with_capacity(len), |v| {
            i64::from_be_bytes(be(v)?).saturating_add(PG_EPOCH_OFFSET_US)
        }),
        Kind::Date => build!(Date32Builder::with_capacity(len), |v| i32::from_be_bytes(
            be(v)?
        )
        .saturating_add(PG_EPOCH_OFFSET_DAYS)),
        Kind::Time => build!(Time64MicrosecondBuilder::with_capacity(len), |v| {
            i64::from_be_bytes(be(v)?)
        }),
        Kind::Bytea => build!(BinaryBuilder::with_capacity(len, len * 16), |v| v),
    })
}

fn format_uuid(v: &[u8]) -> String {
    let hex: String = v.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

struct Numeric {
    weight: i16,
    sign: u16,
    dscale: u16,
    digits: Vec<i16>,
}

fn parse_numeric(v: &[u8]) -> Result<Numeric> {
    if v.len() < 8 {
        return Err(Error::internal("numeric value too short"));
    }
    let word = |i: usize| i16::from_be_bytes([v[i], v[i + 1]]);
    let ndigits = word(0).max(0) as usize;
    if v.len() < 8 + 2 * ndigits {
        return Err(Error::internal("numeric value too short"));
    }
    Ok(Numeric {
        weight: word(2),
        sign: word(4) as u16,
        dscale: word(6) as u16,
        digits: (0..ndigits).map(|k| word(8 + 2 * k)).collect(),
    })
}

/// A binary numeric as decimal text (`-12.50`, `NaN`, `Infinity`).
fn numeric_to_string(v: &[u8]) -> Result<String> {
    let n = parse_numeric(v)?;
    match n.sign {
        0xC000 => return Ok("NaN".into()),
        0xD000 => return Ok("Infinity".into()),
        0xF000 => return Ok("-Infinity".into()),
        _ => {}
    }
    let mut out = String::new();
    if n.sign == 0x4000 {
        out.push('-');
    }
    // Integer part: groups with weight >= 0.
    if n.weight < 0 {
        out.push('0');
    } else {
        for w in 0..=n.weight as usize {
            let d = n.digits.get(w).copied().unwrap_or(0);
            if w == 0 {
                out.push_str(&d.to_string());
            } else {
                out.push_str(&format!("{d:04}"));
            }
        }
    }
    if n.dscale > 0 {
        out.push('.');
        let mut frac = String::new();
        let mut w = n.weight as i32 + 1;
        while frac.len() < n.dscale as usize {
            let d = if w < 0 {
                0
            } else {
                n.digits.get(w as usize).copied().unwrap_or(0)
            };
            frac.push_str(&format!("{d:04}"));
            w += 1;
        }
        frac.truncate(n.dscale as usize);
        out.push_str(&frac);
    }
    Ok(out)
}

/// A binary numeric as an integer scaled by `10^scale`; `None` for NaN and infinities.
fn numeric_to_i128(v: &[u8], scale: i8) -> Result<Option<i128>> {
    let n = parse_numeric(v)?;
    if matches!(n.sign, 0xC000 | 0xD000 | 0xF000) {
        return Ok(None);
    }
    let overflow = || Error::destination("numeric value does not fit a 38-digit decimal");
    let mut total: i128 = 0;
    for (k, d) in n.digits.iter().enumerate() {
        // This group is worth d * 10^(4 * (weight - k)); scaled by 10^scale.
        let exp = 4 * (n.weight as i32 - k as i32) + scale as i32;
        let term = if exp >= 0 {
            10i128
                .checked_pow(exp as u32)
                .and_then(|p| p.checked_mul(*d as i128))
                .ok_or_else(overflow)?
        } else if exp > -4 {
            *d as i128 / 10i128.pow((-exp) as u32)
        } else {
            0
        };
        total = total.checked_add(term).ok_or_else(overflow)?;
    }
    Ok(Some(if n.sign == 0x4000 { -total } else { total }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy::encode_numeric;
    use bytes::BytesMut;

    #[test]
    fn numeric_round_trip() {
        for (v, s) in [
            (12_345_678i128, 3i8),
            (-500_000_000, 9),
            (0, 9),
            (10_000, 0),
            (1, 4),
            (10, 9),
            (99_999_999_999_999_999_999_999_999_999_999_999_999, 9),
            (-1, 0),
        ] {
            let mut buf = BytesMut::new();
            encode_numeric(v, s, &mut buf, &mut String::new());
            assert_eq!(numeric_to_i128(&buf[4..], s).unwrap(), Some(v), "{v} {s}");
        }
        let mut buf = BytesMut::new();
        encode_numeric(-12_345_678, 3, &mut buf, &mut String::new());
        assert_eq!(numeric_to_string(&buf[4..]).unwrap(), "-12345.678");
        let mut buf = BytesMut::new();
        encode_numeric(5, 9, &mut buf, &mut String::new());
        assert_eq!(numeric_to_string(&buf[4..]).unwrap(), "0.000000005");
    }
}
