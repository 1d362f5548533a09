//! The Redshift SQL type of each column: the type mapper of the capabilities.

use sluice_core::{Column, DataType};

/// Longest `varchar` (and `varbinary`) Redshift has, in bytes: `varchar(max)`.
pub const MAX_VARCHAR: u32 = 65_535;

/// The Redshift type of a column (dlt's `RedshiftTypeMapper`): text → `varchar(65535)`
/// (dlt's `varchar(max)`, the same type; `varchar(n)` with a precision hint), json → `super`,
/// double → `double precision`, bool → `boolean`, bigint → `bigint`, timestamp → `timestamp
/// with time zone` (without when `timezone` is false; Redshift has no fractional-digit
/// precision), date, time → `time without time zone`, decimal → `numeric(p,s)` (38,9 by
/// default), wei → `numeric(38,0)`, binary → `varbinary` (`varbinary(n)` with a precision
/// hint).
pub fn redshift_sql_type(column: &Column) -> String {
    let bounded = |n: Option<u32>| n.filter(|n| *n > 0).map(|n| n.min(MAX_VARCHAR));
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => format!(
            "varchar({})",
            bounded(column.precision).unwrap_or(MAX_VARCHAR)
        ),
        DataType::Json => "super".into(),
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Bigint => "bigint".into(),
        DataType::Timestamp => {
            if column.timezone == Some(false) {
                "timestamp without time zone".into()
            } else {
                "timestamp with time zone".into()
            }
        }
        DataType::Date => "date".into(),
        DataType::Time => "time without time zone".into(),
        DataType::Decimal => match column.precision {
            Some(p) => format!("numeric({},{})", p.min(38), column.scale.unwrap_or(0)),
            None => "numeric(38,9)".into(),
        },
        DataType::Wei => "numeric(38,0)".into(),
        DataType::Binary => match bounded(column.precision) {
            Some(n) => format!("varbinary({n})"),
            None => "varbinary".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_dlt_redshift() {
        let t = |dt| redshift_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Text), "varchar(65535)");
        assert_eq!(t(DataType::Json), "super");
        assert_eq!(t(DataType::Double), "double precision");
        assert_eq!(t(DataType::Bool), "boolean");
        assert_eq!(t(DataType::Bigint), "bigint");
        assert_eq!(t(DataType::Timestamp), "timestamp with time zone");
        assert_eq!(t(DataType::Date), "date");
        assert_eq!(t(DataType::Time), "time without time zone");
        assert_eq!(t(DataType::Decimal), "numeric(38,9)");
        assert_eq!(t(DataType::Wei), "numeric(38,0)");
        assert_eq!(t(DataType::Binary), "varbinary");
        let mut naive = Column::new("c", DataType::Timestamp);
        naive.timezone = Some(false);
        assert_eq!(redshift_sql_type(&naive), "timestamp without time zone");
        let hinted = |dt, p, s| redshift_sql_type(&Column::new("c", dt).with_precision(p, s));
        assert_eq!(hinted(DataType::Decimal, 10, Some(2)), "numeric(10,2)");
        assert_eq!(hinted(DataType::Text, 20, None), "varchar(20)");
        assert_eq!(hinted(DataType::Text, 1_000_000, None), "varchar(65535)");
        assert_eq!(hinted(DataType::Binary, 16, None), "varbinary(16)");
        assert_eq!(
            hinted(DataType::Timestamp, 3, None),
            "timestamp with time zone"
        );
    }
}
