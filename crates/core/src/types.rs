//! The data types of sluice columns: the same eleven types as dlt.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A column data type, named as dlt names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// UTF-8 text.
    Text,
    /// 64-bit signed integer.
    Bigint,
    /// 64-bit float.
    Double,
    /// Boolean.
    Bool,
    /// Instant in time, stored as UTC with microsecond precision.
    Timestamp,
    /// Calendar date.
    Date,
    /// Time of day.
    Time,
    /// Exact decimal with precision and scale (default 38, 9).
    Decimal,
    /// Large integer (up to 78 digits), as in Ethereum's wei.
    Wei,
    /// Bytes.
    Binary,
    /// A nested JSON value stored as is.
    Json,
}

impl DataType {
    /// All types, in a stable order.
    pub const ALL: [DataType; 11] = [
        DataType::Text,
        DataType::Bigint,
        DataType::Double,
        DataType::Bool,
        DataType::Timestamp,
        DataType::Date,
        DataType::Time,
        DataType::Decimal,
        DataType::Wei,
        DataType::Binary,
        DataType::Json,
    ];

    /// The name as dlt writes it (`text`, `bigint`, …), used in variant column names.
    pub fn as_str(&self) -> &'static str {
        match self {
            DataType::Text => "text",
            DataType::Bigint => "bigint",
            DataType::Double => "double",
            DataType::Bool => "bool",
            DataType::Timestamp => "timestamp",
            DataType::Date => "date",
            DataType::Time => "time",
            DataType::Decimal => "decimal",
            DataType::Wei => "wei",
            DataType::Binary => "binary",
            DataType::Json => "json",
        }
    }

    /// Parse a dlt type name.
    pub fn parse(s: &str) -> Option<DataType> {
        DataType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in DataType::ALL {
            assert_eq!(DataType::parse(t.as_str()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(DataType::parse("complex"), None);
    }
}
