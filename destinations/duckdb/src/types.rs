//! The DuckDB SQL type of each column: the type mapper of the capabilities.

use sluice_core::{Column, DataType};

/// The DuckDB SQL type of a column.
pub fn duckdb_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "VARCHAR".into(),
        DataType::Bigint => "BIGINT".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            if column.timezone == Some(false) {
                "TIMESTAMP".into()
            } else {
                "TIMESTAMP WITH TIME ZONE".into()
            }
        }
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        DataType::Decimal => {
            let (p, s) = sluice_core::arrow_types::decimal_precision(column);
            format!("DECIMAL({p},{s})")
        }
        DataType::Wei => "DECIMAL(38,0)".into(),
        DataType::Binary => "BLOB".into(),
        DataType::Json => "JSON".into(),
    }
}
