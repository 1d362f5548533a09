//! SQL text shared by the SQL destinations: identifiers, DDL, replace and merge statements,
//! and the rows of the system tables. What differs between dialects comes from
//! [`Capabilities`] (quoting, case folding, type names).

use crate::capabilities::Capabilities;
use crate::destination::{ChainJob, StateRecord};
use crate::schema::{C_DLT_ID, C_DLT_LOAD_ID, Column, Schema, SchemaChange, Table};
use crate::types::DataType;

mod merge;
mod scd2;

pub use scd2::load_id_time;

/// SQL generation for one dataset of one destination.
#[derive(Debug, Clone)]
pub struct SqlDialect<'a> {
    caps: &'a Capabilities,
    dataset: String,
    backslash_escapes: bool,
}

/// What a statement is, for logs and error messages: its first words up to the first quoted
/// name, literal, parenthesis or stage reference (never names or values, which may be data).
pub fn statement_kind(sql: &str) -> String {
    sql.split_whitespace()
        .take_while(|w| !w.starts_with(['"', '\'', '(', '`', '@']))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A timestamp as a warehouse prints it as text (`2026-01-01 10:00:00.123+00`,
/// `2026-01-01 10:00:00.123 +0000`, RFC 3339), in RFC 3339 in UTC; other text as it is.
pub fn timestamp_to_rfc3339(text: &str) -> String {
    let t = text.trim();
    for fmt in [
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f %z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f %#z",
    ] {
        if let Ok(d) = chrono::DateTime::parse_from_str(t, fmt) {
            return d
                .with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
        }
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| {
            d.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .unwrap_or_else(|_| t.to_string())
}

/// A string literal: single quotes, inner quotes doubled.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A string literal for dialects where a backslash inside a string starts an escape sequence
/// (Snowflake, MySQL): backslashes are doubled as well as single quotes.
pub fn literal_backslash_escaped(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

impl<'a> SqlDialect<'a> {
    /// SQL for `dataset` under `caps`.
    pub fn new(caps: &'a Capabilities, dataset: impl Into<String>) -> Self {
        Self {
            caps,
            dataset: dataset.into(),
            backslash_escapes: false,
        }
    }

    /// String literals in generated statements escape backslashes too (for dialects where a
    /// backslash in a string literal starts an escape sequence, such as Snowflake).
    pub fn with_backslash_escapes(mut self) -> Self {
        self.backslash_escapes = true;
        self
    }

    /// A string literal in this dialect.
    pub fn literal(&self, value: &str) -> String {
        if self.backslash_escapes {
            literal_backslash_escaped(value)
        } else {
            literal(value)
        }
    }

    /// Quote an identifier after case folding; the quote character inside is escaped.
    pub fn quote(&self, ident: &str) -> String {
        let q = self.caps.identifier_quote;
        let folded = self.caps.casefold.apply(ident);
        let escaped = if self.caps.escape_quote_with_backslash {
            folded.replace('\\', "\\\\").replace(q, &format!("\\{q}"))
        } else {
            folded.replace(q, &format!("{q}{q}"))
        };
        format!("{q}{escaped}{q}")
    }

    /// The quoted dataset name.
    pub fn dataset(&self) -> String {
        self.quote(&self.dataset)
    }

    /// The dataset name as given (before folding).
    pub fn dataset_name(&self) -> &str {
        &self.dataset
    }

    /// A qualified, quoted table name.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{}", self.dataset(), self.quote(name))
    }

    /// `name TYPE [NOT NULL]`.
    pub fn column_def(&self, column: &Column) -> String {
        format!(
            "{} {}{}",
            self.quote(&column.name),
            self.caps.sql_type(column),
            if column.nullable { "" } else { " NOT NULL" }
        )
    }

    /// Quoted, comma separated names of the table's complete columns.
    pub fn column_list(&self, table: &Table) -> String {
        table
            .complete_columns()
            .map(|c| self.quote(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `CREATE TABLE IF NOT EXISTS` with the complete columns.
    pub fn create_table(&self, table: &Table) -> String {
        let cols: Vec<String> = table
            .complete_columns()
            .map(|c| self.column_def(c))
            .collect();
        format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.table(&table.name),
            cols.join(", ")
        )
    }

    /// A staging copy of `table` in this dialect's dataset (a merge's staging dataset): its
    /// qualified name, the statement that drops it and the one that creates it again with
    /// every column nullable.
    pub fn staging_table(&self, table: &Table) -> (String, String, String) {
        let mut copy = table.clone();
        for c in copy.columns.values_mut() {
            c.nullable = true;
        }
        let name = self.table(&table.name);
        let drop = format!("DROP TABLE IF EXISTS {name}");
        (name, drop, self.create_table(&copy))
    }

    /// `ALTER TABLE … ADD COLUMN IF NOT EXISTS`. Added columns are always nullable: existing
    /// rows have no value for them.
    pub fn add_column(&self, table: &str, column: &Column) -> String {
        let mut c = column.clone();
        c.nullable = true;
        format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {}",
            self.table(table),
            self.column_def(&c)
        )
    }

    /// Statements for one schema change.
    pub fn schema_change(&self, change: &SchemaChange) -> Vec<String> {
        match change {
            SchemaChange::CreateTable { table } => {
                let mut v = vec![self.create_table(table)];
                // The table may exist already with fewer columns (a re-applied change).
                v.extend(
                    table
                        .complete_columns()
                        .map(|c| self.add_column(&table.name, c)),
                );
                v
            }
            SchemaChange::AddColumns { table, columns } => {
                columns.iter().map(|c| self.add_column(table, c)).collect()
            }
        }
    }

    /// What `initialize` runs: create the dataset, then the system tables (`_dlt_loads`,
    /// `_dlt_version`, `_dlt_pipeline_state`), each only when missing.
    pub fn initialize_statements(&self) -> Vec<String> {
        let mut statements = vec![self.create_dataset()];
        statements.extend(
            crate::schema::system_tables()
                .iter()
                .map(|t| self.create_table(t)),
        );
        statements
    }

    /// `CREATE SCHEMA IF NOT EXISTS`.
    pub fn create_dataset(&self) -> String {
        format!("CREATE SCHEMA IF NOT EXISTS {}", self.dataset())
    }

    /// Delete every row of the chain's tables (replace disposition), children first.
    pub fn delete_chain(&self, job: &ChainJob) -> Vec<String> {
        job.nested
            .iter()
            .rev()
            .chain(std::iter::once(&job.root))
            .filter(|t| t.table.complete_columns().next().is_some())
            .map(|t| format!("DELETE FROM {}", self.table(&t.table.name)))
            .collect()
    }

    /// `INSERT INTO final (cols) SELECT cols FROM staging [WHERE …]`.
    pub fn insert_from(&self, table: &Table, staging: &str, filter: Option<&str>) -> String {
        let cols = self.column_list(table);
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {staging}{}",
            self.table(&table.name),
            filter.map(|f| format!(" WHERE {f}")).unwrap_or_default()
        )
    }

    fn timestamp_literal(&self, rfc3339: &str) -> String {
        let ty = self.caps.sql_type(&Column::new("t", DataType::Timestamp));
        format!("CAST({} AS {ty})", self.literal(rfc3339))
    }

    /// What `commit_load` writes with the data, in this order: the schema version (when its
    /// hash is new), the pipeline state (when it changed) and the `_dlt_loads` row, last. The
    /// state row's `_dlt_id` comes from pipeline, load id and state hash, so a retried commit
    /// writes the same row. `inserted_at` is RFC 3339.
    pub fn commit_statements(
        &self,
        commit: &crate::LoadCommit,
        inserted_at: &str,
    ) -> crate::Result<Vec<String>> {
        let schema_json = commit.schema.to_json()?;
        let mut statements = vec![self.insert_version(&commit.schema, &schema_json, inserted_at)];
        if let Some(state) = &commit.state {
            let dlt_id = crate::naming::digest128(
                &format!(
                    "{}:{}:{}",
                    state.pipeline_name, commit.load_id, state.version_hash
                ),
                10,
            );
            statements.push(self.insert_state(state, &commit.load_id, &dlt_id));
        }
        statements.push(self.insert_load(&commit.load_id, &commit.schema, inserted_at));
        Ok(statements)
    }

    /// Record a completed load in `_dlt_loads` (status 0).
    pub fn insert_load(&self, load_id: &str, schema: &Schema, inserted_at: &str) -> String {
        format!(
            "INSERT INTO {} ({}, {}, {}, {}, {}) VALUES ({}, {}, 0, {}, {})",
            self.table(crate::LOADS_TABLE),
            self.quote("load_id"),
            self.quote("schema_name"),
            self.quote("status"),
            self.quote("inserted_at"),
            self.quote("schema_version_hash"),
            self.literal(load_id),
            self.literal(&schema.name),
            self.timestamp_literal(inserted_at),
            self.literal(&schema.version_hash),
        )
    }

    /// Store a schema version in `_dlt_version` unless its hash is there already.
    pub fn insert_version(&self, schema: &Schema, schema_json: &str, inserted_at: &str) -> String {
        let t = self.table(crate::VERSION_TABLE);
        format!(
            "INSERT INTO {t} ({}, {}, {}, {}, {}, {}) SELECT {}, {}, {}, {}, {}, {} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {} = {})",
            self.quote("version"),
            self.quote("engine_version"),
            self.quote("inserted_at"),
            self.quote("schema_name"),
            self.quote("version_hash"),
            self.quote("schema"),
            schema.version,
            schema.engine_version,
            self.timestamp_literal(inserted_at),
            self.literal(&schema.name),
            self.literal(&schema.version_hash),
            self.literal(schema_json),
            self.quote("version_hash"),
            self.literal(&schema.version_hash),
        )
    }

    /// Store a state snapshot in `_dlt_pipeline_state` for `load_id`.
    pub fn insert_state(&self, record: &StateRecord, load_id: &str, dlt_id: &str) -> String {
        format!(
            "INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            self.table(crate::STATE_TABLE),
            self.quote("version"),
            self.quote("engine_version"),
            self.quote("pipeline_name"),
            self.quote("state"),
            self.quote("created_at"),
            self.quote("version_hash"),
            self.quote(C_DLT_LOAD_ID),
            self.quote(C_DLT_ID),
            record.version,
            crate::schema::ENGINE_VERSION,
            self.literal(&record.pipeline_name),
            self.literal(&crate::state::compress_state(&record.state)),
            self.timestamp_literal(&record.created_at),
            self.literal(&record.version_hash),
            self.literal(load_id),
            self.literal(dlt_id),
        )
    }

    /// Count of `_dlt_loads` rows for `load_id` with status 0.
    pub fn select_load(&self, load_id: &str) -> String {
        format!(
            "SELECT COUNT(*) FROM {} WHERE {} = {} AND {} = 0",
            self.table(crate::LOADS_TABLE),
            self.quote("load_id"),
            self.literal(load_id),
            self.quote("status")
        )
    }

    /// The newest stored schema JSON named `schema_name`.
    pub fn select_schema(&self, schema_name: &str) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} = {} ORDER BY {} DESC, {} DESC LIMIT 1",
            self.quote("schema"),
            self.table(crate::VERSION_TABLE),
            self.quote("schema_name"),
            self.literal(schema_name),
            self.quote("version"),
            self.quote("inserted_at"),
        )
    }

    /// The newest state of `pipeline_name` from a completed load: columns version,
    /// version_hash, state, created_at (as text).
    pub fn select_state(&self, pipeline_name: &str) -> String {
        format!(
            "SELECT s.{v}, s.{h}, s.{st}, CAST(s.{c} AS {text}) FROM {state} AS s JOIN {loads} AS l ON l.{lid} = s.{slid} WHERE s.{p} = {name} AND l.{status} = 0 ORDER BY l.{lid} DESC LIMIT 1",
            v = self.quote("version"),
            h = self.quote("version_hash"),
            st = self.quote("state"),
            c = self.quote("created_at"),
            state = self.table(crate::STATE_TABLE),
            loads = self.table(crate::LOADS_TABLE),
            lid = self.quote("load_id"),
            slid = self.quote(C_DLT_LOAD_ID),
            p = self.quote("pipeline_name"),
            name = self.literal(pipeline_name),
            status = self.quote("status"),
            text = self.caps.sql_type(&Column::new("t", DataType::Text)),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn statement_kinds_hide_names_and_literals() {
        use super::statement_kind;
        assert_eq!(
            statement_kind("INSERT INTO \"ds\".\"t\" BY NAME"),
            "INSERT INTO"
        );
        assert_eq!(
            statement_kind("CREATE TABLE IF NOT EXISTS \"x\""),
            "CREATE TABLE IF"
        );
        assert_eq!(statement_kind("SELECT * FROM `p.d.t`"), "SELECT * FROM");
        assert_eq!(statement_kind("PUT file:///x @stage"), "PUT file:///x");
    }

    #[test]
    fn warehouse_timestamps_become_rfc3339() {
        use super::timestamp_to_rfc3339 as t;
        assert_eq!(t("2026-01-02 03:04:05.5+00"), "2026-01-02T03:04:05.500Z");
        assert_eq!(t("2026-01-02 03:04:05+00"), "2026-01-02T03:04:05Z");
        assert_eq!(
            t("2026-01-02 05:04:05.123 +0200"),
            "2026-01-02T03:04:05.123Z"
        );
        assert_eq!(t("2026-01-02T03:04:05Z"), "2026-01-02T03:04:05Z");
        assert_eq!(t(" not a time "), "not a time");
    }

    use super::*;
    use crate::capabilities::{CaseFold, standard_sql_type};
    use crate::schema::MergeStrategy;

    pub(super) fn caps(fold: CaseFold) -> Capabilities {
        Capabilities {
            max_identifier_length: 63,
            max_column_identifier_length: 63,
            casefold: fold,
            identifier_quote: '"',
            escape_quote_with_backslash: false,
            supports_transactions: true,
            merge_strategies: vec![MergeStrategy::DeleteInsert],
            max_decimal_precision: 38,
            max_columns_per_table: None,
            type_mapper: standard_sql_type,
        }
    }

    #[test]
    fn identifiers_are_quoted_escaped_and_folded() {
        let c = caps(CaseFold::None);
        let d = SqlDialect::new(&c, "my data");
        assert_eq!(d.quote("a\"b;c"), "\"a\"\"b;c\"");
        assert_eq!(d.table("t"), "\"my data\".\"t\"");
        let up = caps(CaseFold::Upper);
        assert_eq!(
            SqlDialect::new(&up, "ds").table("orders"),
            "\"DS\".\"ORDERS\""
        );
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal_backslash_escaped("a\\'b"), "'a\\\\''b'");
        let sf = SqlDialect::new(&up, "ds").with_backslash_escapes();
        assert!(sf.select_load("x\\y").contains("'x\\\\y'"));
    }
}
