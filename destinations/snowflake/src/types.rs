//! The Snowflake SQL type of each column: the type mapper of the capabilities.

use sluice_core::{Column, DataType};

/// The Snowflake type of a column (dlt's mapping): text → VARCHAR, bigint → NUMBER(19,0),
/// double → FLOAT, bool → BOOLEAN, timestamp → TIMESTAMP_TZ (TIMESTAMP_NTZ without time zone),
/// date → DATE, time → TIME, decimal → NUMBER(p,s) (38,9 by default; `NUMBER(p)` for scale 0),
/// wei → NUMBER(38) (= NUMBER(38,0)),
/// binary → BINARY, json → VARIANT.
pub fn snowflake_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "VARCHAR".into(),
        DataType::Bigint => "NUMBER(19,0)".into(),
        DataType::Double => "FLOAT".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            let p = column
                .precision
                .filter(|p| *p <= 9)
                .map(|p| format!("({p})"))
                .unwrap_or_default();
            if column.timezone == Some(false) {
                format!("TIMESTAMP_NTZ{p}")
            } else {
                format!("TIMESTAMP_TZ{p}")
            }
        }
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        // Scale 0 is written `NUMBER(p)`: the same type in Snowflake, and the spelling the
        // local protocol peer (fakesnow) keeps as a 38-digit decimal (`NUMBER(38,0)` becomes
        // a 64-bit integer there).
        DataType::Decimal => match sluice_core::arrow_types::decimal_precision(column) {
            (p, 0) => format!("NUMBER({p})"),
            (p, s) => format!("NUMBER({p},{s})"),
        },
        DataType::Wei => "NUMBER(38)".into(),
        DataType::Binary => "BINARY".into(),
        DataType::Json => "VARIANT".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_dlt() {
        let t = |dt| snowflake_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Json), "VARIANT");
        assert_eq!(t(DataType::Bigint), "NUMBER(19,0)");
        assert_eq!(t(DataType::Timestamp), "TIMESTAMP_TZ");
        assert_eq!(t(DataType::Text), "VARCHAR");
        assert_eq!(t(DataType::Double), "FLOAT");
        assert_eq!(t(DataType::Bool), "BOOLEAN");
        assert_eq!(t(DataType::Decimal), "NUMBER(38,9)");
        assert_eq!(t(DataType::Binary), "BINARY");
        assert_eq!(t(DataType::Wei), "NUMBER(38)");
        assert_eq!(
            snowflake_sql_type(&Column::new("c", DataType::Decimal).with_precision(10, Some(2))),
            "NUMBER(10,2)"
        );
    }
}
