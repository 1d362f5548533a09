//! The Databricks SQL type of each column (the capabilities' type mapper) and string literals.

use sluice_core::{Column, DataType};

/// The Databricks type of a column (dlt's mapping): text → STRING, bigint → BIGINT, double →
/// DOUBLE, bool → BOOLEAN, timestamp → TIMESTAMP (TIMESTAMP_NTZ without time zone), date → DATE,
/// time → STRING (Databricks has no time type), decimal → DECIMAL(p,s) (38,9 by default), wei →
/// DECIMAL(38,0), binary → BINARY, json → STRING.
pub fn databricks_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text | DataType::Json | DataType::Time => "STRING".into(),
        DataType::Bigint => "BIGINT".into(),
        DataType::Double => "DOUBLE".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            if column.timezone == Some(false) {
                "TIMESTAMP_NTZ".into()
            } else {
                "TIMESTAMP".into()
            }
        }
        DataType::Date => "DATE".into(),
        DataType::Decimal => {
            let (p, s) = sluice_core::arrow_types::decimal_precision(column);
            format!("DECIMAL({p},{s})")
        }
        DataType::Wei => "DECIMAL(38,0)".into(),
        DataType::Binary => "BINARY".into(),
    }
}

/// A string literal that reads the same in Databricks SQL (where a backslash escapes and `''`
/// is two adjacent literals) and in standard SQL: single quotes and backslashes are spliced in
/// as `chr(39)` and `chr(92)` (`'it' || chr(39) || 's'`); other text is a plain literal.
pub fn literal(value: &str) -> String {
    if !value.contains(['\'', '\\']) {
        return format!("'{value}'");
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    for c in value.chars() {
        match c {
            '\'' | '\\' => {
                if !current.is_empty() {
                    parts.push(format!("'{}'", std::mem::take(&mut current)));
                }
                parts.push(format!("chr({})", c as u32));
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        parts.push(format!("'{current}'"));
    }
    format!("({})", parts.join(" || "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_dlt() {
        let t = |dt| databricks_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Text), "STRING");
        assert_eq!(t(DataType::Json), "STRING");
        assert_eq!(t(DataType::Bigint), "BIGINT");
        assert_eq!(t(DataType::Double), "DOUBLE");
        assert_eq!(t(DataType::Bool), "BOOLEAN");
        assert_eq!(t(DataType::Timestamp), "TIMESTAMP");
        assert_eq!(t(DataType::Date), "DATE");
        assert_eq!(t(DataType::Time), "STRING");
        assert_eq!(t(DataType::Decimal), "DECIMAL(38,9)");
        assert_eq!(t(DataType::Wei), "DECIMAL(38,0)");
        assert_eq!(t(DataType::Binary), "BINARY");
        let mut naive = Column::new("c", DataType::Timestamp);
        naive.timezone = Some(false);
        assert_eq!(databricks_sql_type(&naive), "TIMESTAMP_NTZ");
        assert_eq!(
            databricks_sql_type(&Column::new("c", DataType::Decimal).with_precision(10, Some(2))),
            "DECIMAL(10,2)"
        );
    }

    #[test]
    fn literals_splice_quotes_and_backslashes() {
        assert_eq!(literal("plain ü"), "'plain ü'");
        assert_eq!(literal("it's"), "('it' || chr(39) || 's')");
        assert_eq!(literal("a\\b'"), "('a' || chr(92) || 'b' || chr(39))");
        assert_eq!(literal("'"), "(chr(39))");
        assert_eq!(literal(""), "''");
    }
}
