//! The Postgres SQL type of each column: the type mapper of the capabilities.

use sluice_core::{Column, DataType};

/// The Postgres type of a column (dlt's mapping): text → varchar (varchar(n) with a precision
/// hint), double → double precision, bool → boolean, bigint → bigint, timestamp → timestamp
/// with time zone (without when `timezone` is false), date, time → time without time zone,
/// decimal → numeric(p,s) (38,9 by default), wei → numeric(78,0), binary → bytea, json → jsonb.
pub fn postgres_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => match column.precision {
            Some(p) if p > 0 => format!("varchar({p})"),
            _ => "varchar".into(),
        },
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Bigint => "bigint".into(),
        DataType::Timestamp => {
            let p = column
                .precision
                .filter(|p| *p <= 6)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            if column.timezone == Some(false) {
                format!("timestamp{p} without time zone")
            } else {
                format!("timestamp{p} with time zone")
            }
        }
        DataType::Date => "date".into(),
        DataType::Time => {
            let p = column
                .precision
                .filter(|p| *p <= 6)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            format!("time{p} without time zone")
        }
        DataType::Decimal => match column.precision {
            Some(p) => format!("numeric({},{})", p, column.scale.unwrap_or(0)),
            None => "numeric(38,9)".into(),
        },
        DataType::Wei => "numeric(78,0)".into(),
        DataType::Binary => "bytea".into(),
        DataType::Json => "jsonb".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_dlt() {
        let t = |dt| postgres_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Text), "varchar");
        assert_eq!(t(DataType::Double), "double precision");
        assert_eq!(t(DataType::Timestamp), "timestamp with time zone");
        assert_eq!(t(DataType::Decimal), "numeric(38,9)");
        assert_eq!(t(DataType::Wei), "numeric(78,0)");
        assert_eq!(t(DataType::Json), "jsonb");
        assert_eq!(t(DataType::Binary), "bytea");
        let mut naive = Column::new("c", DataType::Timestamp);
        naive.timezone = Some(false);
        assert_eq!(postgres_sql_type(&naive), "timestamp without time zone");
        assert_eq!(
            postgres_sql_type(&Column::new("c", DataType::Decimal).with_precision(10, Some(2))),
            "numeric(10,2)"
        );
    }
}
