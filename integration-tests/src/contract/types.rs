//! The data types case: one column of each [`DataType`] written as Parquet and read back as the
//! same value, whatever the destination's SQL types and text forms.

use super::ContractTarget;
use super::fixtures::*;
use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, StringArray,
    Time64MicrosecondArray, TimestampMicrosecondArray,
};
use sluice_core::schema::C_DLT_ID;
use sluice_core::{Column, DataType, Result, Table, WriteDisposition};
use std::sync::Arc;

/// 2026-01-02T03:04:05.123Z in microseconds.
const TS_MICROS: i64 = 1_767_323_045_123_000;

/// Text with quotes, a backslash and non-ASCII letters.
const TEXT: &str = "héllo 'q' \\ \"x\"";

/// A decimal column of one value and a NULL.
fn decimal(v: i128, precision: u8, scale: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from(vec![Some(v), None])
            .with_precision_and_scale(precision, scale)
            .expect("decimal"),
    )
}

/// The typed columns (name, type, a value and a NULL), without `id` and `_dlt_id`.
fn typed_columns() -> Vec<(&'static str, DataType, ArrayRef)> {
    let time = ((3 * 60 + 4) * 60 + 5) * 1_000_000 + 500_000;
    vec![
        (
            "c_text",
            DataType::Text,
            Arc::new(StringArray::from(vec![Some(TEXT), None])),
        ),
        (
            "c_double",
            DataType::Double,
            Arc::new(Float64Array::from(vec![Some(1.5), None])),
        ),
        (
            "c_bool",
            DataType::Bool,
            Arc::new(BooleanArray::from(vec![Some(true), None])),
        ),
        (
            "c_timestamp",
            DataType::Timestamp,
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(TS_MICROS), None]).with_timezone("UTC"),
            ),
        ),
        (
            "c_date",
            DataType::Date,
            Arc::new(Date32Array::from(vec![Some(20_455), None])),
        ),
        (
            "c_time",
            DataType::Time,
            Arc::new(Time64MicrosecondArray::from(vec![Some(time), None])),
        ),
        (
            "c_decimal",
            DataType::Decimal,
            decimal(123_456_789_012, 38, 9),
        ),
        (
            "c_wei",
            DataType::Wei,
            decimal(123_456_789_012_345_678_901_234_567_890, 38, 0),
        ),
        (
            "c_binary",
            DataType::Binary,
            Arc::new(BinaryArray::from(vec![Some(&b"sluice"[..]), None])),
        ),
        (
            "c_json",
            DataType::Json,
            Arc::new(StringArray::from(vec![
                Some(r#"{"a": [1, 2], "s": "x\"y"}"#),
                None,
            ])),
        ),
    ]
}

/// Check the text `cell` of column `name` against the value written.
fn check(label: &str, name: &str, cell: &str) {
    let trimmed = trim_fraction(cell);
    match name {
        "c_text" => assert_eq!(cell, TEXT, "{label}: text"),
        "c_double" => assert_eq!(trimmed, "1.5", "{label}: double"),
        "c_bool" => assert!(["true", "1"].contains(&cell), "{label}: bool {cell}"),
        "c_timestamp" => assert_eq!(
            sluice_core::sql::timestamp_to_rfc3339(&cell.replace(" UTC", "+00:00")),
            "2026-01-02T03:04:05.123Z",
            "{label}: timestamp {cell}"
        ),
        "c_date" => assert_eq!(cell, "2026-01-02", "{label}: date"),
        "c_time" => assert_eq!(trimmed, "03:04:05.5", "{label}: time {cell}"),
        "c_decimal" => assert_eq!(trimmed, "123.456789012", "{label}: decimal {cell}"),
        "c_wei" => assert_eq!(trimmed, "123456789012345678901234567890", "{label}: wei"),
        "c_binary" => assert!(
            cell == "sluice" || cell.eq_ignore_ascii_case("736c75696365") || cell == "c2x1aWNl",
            "{label}: binary {cell} (as text, hex or base64)"
        ),
        "c_json" => {
            let json: serde_json::Value =
                serde_json::from_str(cell).unwrap_or_else(|e| panic!("{label}: json {cell}: {e}"));
            assert_eq!(
                json,
                serde_json::json!({"a": [1, 2], "s": "x\"y"}),
                "{label}: json"
            );
        }
        other => panic!("no check for {other}"),
    }
}

/// One value of each data type (and a row of NULLs) reads back with the same value: text with
/// quotes and a backslash, i64::MAX, a timestamp in UTC with milliseconds, a date, a time, a
/// decimal with nine digits of scale, a 30-digit wei, bytes and a JSON document. Types the
/// target declared it cannot hold ([`ContractTarget::skip_type`]) are left out.
pub async fn types_round_trip(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "types");
    let mut d = case.connect().await?;
    let l1 = case.load_id(1);
    let typed: Vec<_> = typed_columns()
        .into_iter()
        .filter(|(_, ty, _)| t.tests_type(*ty))
        .collect();
    let mut table = Table::new("typed").with_column(Column::new("id", DataType::Bigint).not_null());
    let mut arrays = vec![ints([i64::MAX, 2])];
    for (name, ty, array) in &typed {
        table = table.with_column(Column::new(*name, *ty));
        arrays.push(array.clone());
    }
    table = table.with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    arrays.push(texts(["t1", "t2"]));
    let schema = schema_of(&[&table]);
    let file = case.parquet(&l1, &table, arrays);
    let chain = case.chain(
        &l1,
        WriteDisposition::Append,
        job(&table, vec![file], 2),
        vec![],
    );
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;

    let mut names = vec!["id"];
    names.extend(typed.iter().map(|(n, _, _)| *n));
    let rows = case.rows(&mut d, "typed", &names, "id").await?;
    assert_eq!(rows.len(), 2, "{}: {rows:?}", t.label);
    let (nulls, full) = (&rows[0], &rows[1]);
    assert_eq!(full[0], i64::MAX.to_string(), "{}: bigint", t.label);
    for (name, cell) in names.iter().zip(full).skip(1) {
        check(&t.label, name, cell);
    }
    assert_eq!(nulls[0], "2");
    assert!(
        nulls[1..].iter().all(|c| c == "null"),
        "{}: NULLs {nulls:?}",
        t.label
    );
    Ok(())
}
