//! BigQuery's types: the SQL type of a column (the capabilities' `type_mapper`), the REST
//! schema field tables are created with, and string literals in BigQuery's dialect.

use gcp_bigquery_client::model::field_type::FieldType;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use sluice_core::{Column, DataType};

/// Whether a decimal column is NUMERIC (dlt's rule: precision up to 38 and scale up to 9),
/// else BIGNUMERIC. NUMERIC holds 29 integer digits; wider integers go to a text variant.
fn fits_numeric(column: &Column) -> bool {
    let (p, s) = sluice_core::arrow_types::decimal_precision(column);
    p <= 38 && s <= 9
}

/// The BigQuery SQL type of a column.
pub fn bigquery_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "STRING".into(),
        DataType::Bigint => "INT64".into(),
        DataType::Double => "FLOAT64".into(),
        DataType::Bool => "BOOL".into(),
        DataType::Timestamp => "TIMESTAMP".into(),
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        DataType::Decimal if fits_numeric(column) => "NUMERIC".into(),
        DataType::Decimal | DataType::Wei => "BIGNUMERIC".into(),
        DataType::Binary => "BYTES".into(),
        DataType::Json => "JSON".into(),
    }
}

/// The REST schema field of a column.
pub(crate) fn field_schema(column: &Column) -> TableFieldSchema {
    let ty = match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => FieldType::String,
        DataType::Bigint => FieldType::Integer,
        DataType::Double => FieldType::Float,
        DataType::Bool => FieldType::Boolean,
        DataType::Timestamp => FieldType::Timestamp,
        DataType::Date => FieldType::Date,
        DataType::Time => FieldType::Time,
        DataType::Decimal if fits_numeric(column) => FieldType::Numeric,
        DataType::Decimal | DataType::Wei => FieldType::Bignumeric,
        DataType::Binary => FieldType::Bytes,
        DataType::Json => FieldType::Json,
    };
    let mut f = TableFieldSchema::new(&column.name, ty);
    f.mode = Some(
        if column.nullable {
            "NULLABLE"
        } else {
            "REQUIRED"
        }
        .into(),
    );
    f
}

/// A string literal in BigQuery's dialect: backslash escapes (a doubled quote would be two
/// adjacent literals there).
pub fn bq_literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::sql::SqlDialect;

    #[test]
    fn literals_use_backslash_escapes() {
        assert_eq!(bq_literal("it's \\ x"), "'it\\'s \\\\ x'");
    }

    #[test]
    fn types_follow_dlt() {
        assert_eq!(
            bigquery_sql_type(&Column::new("a", DataType::Decimal)),
            "NUMERIC"
        );
        assert_eq!(
            bigquery_sql_type(&Column::new("a", DataType::Wei)),
            "BIGNUMERIC"
        );
        assert_eq!(
            bigquery_sql_type(&Column::new("a", DataType::Decimal).with_precision(38, Some(12))),
            "BIGNUMERIC"
        );
        assert_eq!(bigquery_sql_type(&Column::new("a", DataType::Json)), "JSON");
        let d = SqlDialect::new(&crate::capabilities(), "ds").table("we`ird");
        assert_eq!(d, "`ds`.`we\\`ird`");
    }
}
