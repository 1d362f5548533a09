//! Capabilities: everything that differs between destinations, as data.
//!
//! The core never branches on a destination's name. It asks the destination's capabilities
//! instead: how long identifiers may be, how they fold case, how types are spelled in SQL,
//! whether a load can be one transaction, which merges it implements. Load packages are always
//! Parquet: a destination that loads another format (BigQuery's NDJSON) converts on its side.

use crate::naming::NamingConvention;
use crate::schema::{Column, MergeStrategy};
use serde::{Deserialize, Serialize};

/// How a destination folds unquoted identifiers; sluice always quotes, and folds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CaseFold {
    /// Keep identifiers as they are.
    None,
    /// Lower-case identifiers (Postgres).
    Lower,
    /// Upper-case identifiers (Snowflake).
    Upper,
}

impl CaseFold {
    /// Apply the folding.
    pub fn apply(&self, ident: &str) -> String {
        match self {
            CaseFold::None => ident.to_string(),
            CaseFold::Lower => ident.to_lowercase(),
            CaseFold::Upper => ident.to_uppercase(),
        }
    }
}

/// A file format for load files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// JSON lines.
    Jsonl,
    /// Comma separated values with a header.
    Csv,
}

impl FileFormat {
    /// File extension.
    pub fn extension(&self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Jsonl => "jsonl",
            FileFormat::Csv => "csv",
        }
    }
}

/// Maps a column (type plus precision/scale hints) to the destination's SQL type.
pub type TypeMapper = fn(&Column) -> String;

/// What a destination can do and how it differs from others.
#[derive(Debug, Clone)]
pub struct Capabilities {
    /// Longest table (and dataset) identifier.
    pub max_identifier_length: usize,
    /// Longest column identifier.
    pub max_column_identifier_length: usize,
    /// Case folding applied to identifiers before quoting.
    pub casefold: CaseFold,
    /// Character that quotes identifiers in SQL (`"` or `` ` ``). Inside an identifier it is doubled
    /// (or backslash-escaped when [`Capabilities::escape_quote_with_backslash`] is set).
    pub identifier_quote: char,
    /// Escape the quote character inside identifiers with a backslash instead of doubling it.
    pub escape_quote_with_backslash: bool,
    /// Whether schema changes, data and the load record commit in one transaction.
    pub supports_transactions: bool,
    /// Merge strategies the destination implements. The pipeline refuses a merge with any other
    /// strategy before the package is committed, and an upsert without a primary key, so a
    /// destination's `write_chain` only sees strategies it listed here. Empty means the
    /// destination cannot merge and appends the rows of a merge table instead (the filesystem,
    /// as dlt's), with a warning.
    pub merge_strategies: Vec<MergeStrategy>,
    /// Largest decimal precision. The pipeline refuses a decimal column declared wider (or
    /// wider than a package carries, [`MAX_DECIMAL_PRECISION`](crate::arrow_types::MAX_DECIMAL_PRECISION))
    /// before the package is committed, naming table and column.
    pub max_decimal_precision: u32,
    /// Most columns a table may have (Postgres 1 600, BigQuery 10 000); `None` for no limit.
    /// The pipeline checks it before a package is committed, so a table that would exceed it
    /// fails the run with the table's name instead of a failure deep in a `CREATE TABLE`.
    pub max_columns_per_table: Option<usize>,
    /// SQL type for a column (unused by destinations that do not speak SQL).
    pub type_mapper: TypeMapper,
}

impl Default for Capabilities {
    /// A destination that keeps identifiers as they are (of any length, compared by case),
    /// quotes them with `"`, loads Parquet without a transaction, cannot merge (merge tables are
    /// appended), has no column limit and spells types as standard SQL. A destination starts
    /// from this and sets what differs: `Capabilities { casefold: CaseFold::Lower, ..Default::default() }`.
    fn default() -> Self {
        Self {
            max_identifier_length: usize::MAX,
            max_column_identifier_length: usize::MAX,
            casefold: CaseFold::None,
            identifier_quote: '"',
            escape_quote_with_backslash: false,
            supports_transactions: false,
            merge_strategies: Vec::new(),
            max_decimal_precision: 38,
            max_columns_per_table: None,
            type_mapper: standard_sql_type,
        }
    }
}

impl Capabilities {
    /// Naming convention for table names.
    pub fn table_naming(&self) -> NamingConvention {
        NamingConvention::snake_case(self.max_identifier_length)
    }

    /// Naming convention for column names.
    pub fn column_naming(&self) -> NamingConvention {
        NamingConvention::snake_case(self.max_column_identifier_length)
    }

    /// The SQL type of a column.
    pub fn sql_type(&self, column: &Column) -> String {
        (self.type_mapper)(column)
    }

    /// Whether `strategy` is implemented.
    pub fn supports_merge_strategy(&self, strategy: MergeStrategy) -> bool {
        self.merge_strategies.contains(&strategy)
    }
}

/// Standard SQL type names shared by several destinations; destinations override what differs.
pub fn standard_sql_type(column: &Column) -> String {
    use crate::types::DataType::*;
    match column.data_type.unwrap_or(Text) {
        Text => "VARCHAR".into(),
        Bigint => "BIGINT".into(),
        Double => "DOUBLE PRECISION".into(),
        Bool => "BOOLEAN".into(),
        Timestamp => {
            if column.timezone == Some(false) {
                "TIMESTAMP".into()
            } else {
                "TIMESTAMP WITH TIME ZONE".into()
            }
        }
        Date => "DATE".into(),
        Time => "TIME".into(),
        Decimal => format!(
            "DECIMAL({},{})",
            column.precision.unwrap_or(38),
            column
                .scale
                .unwrap_or(if column.precision.is_some() { 0 } else { 9 })
        ),
        Wei => "DECIMAL(38,0)".into(),
        Binary => "BLOB".into(),
        Json => "JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::DataType;

    #[test]
    fn decimal_defaults_follow_dlt() {
        assert_eq!(
            standard_sql_type(&Column::new("a", DataType::Decimal)),
            "DECIMAL(38,9)"
        );
        assert_eq!(
            standard_sql_type(&Column::new("a", DataType::Decimal).with_precision(38, None)),
            "DECIMAL(38,0)"
        );
        assert_eq!(CaseFold::Upper.apply("ab"), "AB");
    }
}
