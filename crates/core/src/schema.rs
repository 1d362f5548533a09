//! The versioned schema: tables, columns and their hints, in dlt's stored layout.
//!
//! A [`Schema`] is a value. The normalizer grows it (new tables, new columns, variant
//! columns); [`Schema::bump_version`] recomputes its content hash and bumps the version when the
//! content changed. [`Schema::changes_since`] lists what a destination must apply to go from an
//! older schema to this one. Columns are only ever added, never changed or removed.

use crate::error::{Error, Result};
use crate::types::DataType;
use base64::Engine;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the stored schema layout (dlt's engine version).
pub const ENGINE_VERSION: u32 = 11;
/// Prefix of dlt's system tables and columns.
pub const DLT_PREFIX: &str = "_dlt_";
/// Row key column of every table.
pub const C_DLT_ID: &str = "_dlt_id";
/// Load id column of root tables.
pub const C_DLT_LOAD_ID: &str = "_dlt_load_id";
/// Parent row key column of nested tables.
pub const C_DLT_PARENT_ID: &str = "_dlt_parent_id";
/// Position in the parent list, in nested tables.
pub const C_DLT_LIST_IDX: &str = "_dlt_list_idx";
/// Root row key column of nested tables, present when a merge needs it.
pub const C_DLT_ROOT_ID: &str = "_dlt_root_id";

mod disposition;
pub use disposition::{
    DEFAULT_VALIDITY_COLUMN_NAMES, MergeStrategy, Scd2Settings, WriteDisposition,
    parse_timestamp_setting,
};

/// What happens when data does not fit the schema (dlt's schema contract modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContractMode {
    /// Accept the change and grow the schema.
    #[default]
    Evolve,
    /// Fail the run with an error naming table, column and mode.
    Freeze,
    /// Drop the row that carries the change.
    DiscardRow,
    /// Drop the value that carries the change, keep the rest of the row.
    DiscardValue,
}

impl ContractMode {
    /// Parse `evolve`, `freeze`, `discard_row` or `discard_value`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "evolve" => Ok(Self::Evolve),
            "freeze" => Ok(Self::Freeze),
            "discard_row" => Ok(Self::DiscardRow),
            "discard_value" => Ok(Self::DiscardValue),
            other => Err(Error::config(format!(
                "unknown schema contract mode '{other}': use evolve, freeze, discard_row or discard_value"
            ))),
        }
    }

    /// The name as written in config.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Evolve => "evolve",
            Self::Freeze => "freeze",
            Self::DiscardRow => "discard_row",
            Self::DiscardValue => "discard_value",
        }
    }
}

/// A schema contract: one mode per entity (new tables, new columns, new data types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SchemaContract {
    /// Mode for new tables.
    #[serde(default)]
    pub tables: ContractMode,
    /// Mode for new columns on existing tables.
    #[serde(default)]
    pub columns: ContractMode,
    /// Mode for variant columns (a value whose type does not fit the column).
    #[serde(default)]
    pub data_type: ContractMode,
}

impl SchemaContract {
    /// The same mode for all three entities (dlt's shorthand).
    pub fn all(mode: ContractMode) -> Self {
        Self {
            tables: mode,
            columns: mode,
            data_type: mode,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}
fn default_true() -> bool {
    true
}

/// A column and its hints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// Normalized column name.
    pub name: String,
    /// Data type; `None` while a declared column has not received data (incomplete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    /// Whether the column accepts NULL.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub nullable: bool,
    /// Part of the primary key.
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    /// Part of the merge key.
    #[serde(default, skip_serializing_if = "is_false")]
    pub merge_key: bool,
    /// Values are unique.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// The row key (`_dlt_id`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub row_key: bool,
    /// The parent key (`_dlt_parent_id`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub parent_key: bool,
    /// The root key (`_dlt_root_id`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub root_key: bool,
    /// A variant column created on a type conflict.
    #[serde(default, skip_serializing_if = "is_false")]
    pub variant: bool,
    /// A non-null (or true) value deletes the row on merge.
    #[serde(default, skip_serializing_if = "is_false")]
    pub hard_delete: bool,
    /// Precision: decimal digits, text length, or fractional second digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<u32>,
    /// Scale of a decimal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// Whether a timestamp keeps its time zone (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<bool>,
    /// Sort order used to pick one row among duplicates on merge (`asc` or `desc`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedup_sort: Option<String>,
    /// Of an scd2 root table: the column holding when a row version became valid.
    #[serde(default, rename = "x-valid-from", skip_serializing_if = "is_false")]
    pub valid_from: bool,
    /// Of an scd2 root table: the column holding when a row version was retired.
    #[serde(default, rename = "x-valid-to", skip_serializing_if = "is_false")]
    pub valid_to: bool,
    /// Of the valid-to column: the value (RFC 3339) that marks an active row instead of NULL.
    #[serde(
        default,
        rename = "x-active-record-timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_record_timestamp: Option<String>,
    /// Of an scd2 root table: the column holding the row version hash.
    #[serde(default, rename = "x-row-version", skip_serializing_if = "is_false")]
    pub row_version: bool,
    /// The source keys this column was made from (one per nesting level). Recorded so that
    /// two distinct source keys that normalize to the same name keep distinct, stable columns.
    #[serde(
        default,
        rename = "x-source-path",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_path: Option<Vec<String>>,
}

impl Column {
    /// A nullable column of a type with no hints.
    pub fn new(name: impl Into<String>, data_type: DataType) -> Self {
        Self {
            name: name.into(),
            data_type: Some(data_type),
            nullable: true,
            primary_key: false,
            merge_key: false,
            unique: false,
            row_key: false,
            parent_key: false,
            root_key: false,
            variant: false,
            hard_delete: false,
            precision: None,
            scale: None,
            timezone: None,
            dedup_sort: None,
            valid_from: false,
            valid_to: false,
            active_record_timestamp: None,
            row_version: false,
            source_path: None,
        }
    }

    /// A non-nullable column.
    pub fn not_null(mut self) -> Self {
        self.nullable = false;
        self
    }

    /// Mark as part of the primary key (which also makes it non-nullable).
    pub fn primary_key(mut self) -> Self {
        self.primary_key = true;
        self.nullable = false;
        self
    }

    /// Set precision and scale.
    pub fn with_precision(mut self, precision: u32, scale: Option<u32>) -> Self {
        self.precision = Some(precision);
        self.scale = scale;
        self
    }

    /// Whether the column has a data type.
    pub fn is_complete(&self) -> bool {
        self.data_type.is_some()
    }

    /// Whether this is one of dlt's system columns (`_dlt_…`).
    pub fn is_system(&self) -> bool {
        self.name.starts_with(DLT_PREFIX)
    }
}

/// A table: a root table (one per resource) or a nested table (from a list in the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Normalized table name.
    pub name: String,
    /// The parent table of a nested table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Write disposition (set on root tables; nested tables follow their root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_disposition: Option<WriteDisposition>,
    /// Merge strategy when the disposition is merge.
    #[serde(
        default,
        rename = "x-merge-strategy",
        skip_serializing_if = "Option::is_none"
    )]
    pub merge_strategy: Option<MergeStrategy>,
    /// The resource that produced the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Of an scd2 root table: the time (RFC 3339) that retires and starts row versions
    /// instead of the load's time.
    #[serde(
        default,
        rename = "x-boundary-timestamp",
        skip_serializing_if = "Option::is_none"
    )]
    pub boundary_timestamp: Option<String>,
    /// Contract that overrides the schema's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<SchemaContract>,
    /// Maximum nesting depth for this resource's data.
    #[serde(
        default,
        rename = "x-max-nesting",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_nesting: Option<u32>,
    /// Human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Of a nested table: the path of the list in its parent's rows whose items fill it
    /// (`items`, `a.b`). Recorded so that two lists whose names normalize alike (`Items` and
    /// `items`, `a.b` in an object and `b` in the items of list `a`) get distinct, stable tables.
    #[serde(
        default,
        rename = "x-source-path",
        skip_serializing_if = "Option::is_none"
    )]
    pub source_path: Option<String>,
    /// Columns in creation order.
    #[serde(default)]
    pub columns: IndexMap<String, Column>,
}

impl Table {
    /// An empty root table.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parent: None,
            write_disposition: None,
            merge_strategy: None,
            resource: None,
            boundary_timestamp: None,
            schema_contract: None,
            max_nesting: None,
            description: None,
            source_path: None,
            columns: IndexMap::new(),
        }
    }

    /// A nested table under `parent`.
    pub fn nested(name: impl Into<String>, parent: impl Into<String>) -> Self {
        let mut t = Self::new(name);
        t.parent = Some(parent.into());
        t
    }

    /// Add or replace a column (builder style).
    pub fn with_column(mut self, column: Column) -> Self {
        self.columns.insert(column.name.clone(), column);
        self
    }

    /// Whether this is one of dlt's system tables.
    pub fn is_system(&self) -> bool {
        self.name.starts_with(DLT_PREFIX)
    }

    /// Columns that have a data type, in order.
    pub fn complete_columns(&self) -> impl Iterator<Item = &Column> {
        self.columns.values().filter(|c| c.is_complete())
    }

    /// Names of the primary key columns, in order.
    pub fn primary_key(&self) -> Vec<&str> {
        self.columns
            .values()
            .filter(|c| c.primary_key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Names of the merge key columns, in order.
    pub fn merge_key(&self) -> Vec<&str> {
        self.columns
            .values()
            .filter(|c| c.merge_key)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Of an scd2 root table: the valid-from and valid-to columns.
    pub fn validity_columns(&self) -> Option<(&Column, &Column)> {
        let from = self.columns.values().find(|c| c.valid_from)?;
        let to = self.columns.values().find(|c| c.valid_to)?;
        Some((from, to))
    }

    /// Of an scd2 root table: the column holding the row version hash.
    pub fn row_version_column(&self) -> Option<&Column> {
        self.columns.values().find(|c| c.row_version)
    }
}

/// Schema-wide settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct SchemaSettings {
    /// Default contract for all tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_contract: Option<SchemaContract>,
    /// Type detections (`iso_timestamp` by default).
    #[serde(default = "default_detections")]
    pub detections: Vec<String>,
}

fn default_detections() -> Vec<String> {
    vec!["iso_timestamp".to_string()]
}

/// A change a destination applies to go from one schema version to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SchemaChange {
    /// A new table with its columns.
    CreateTable {
        /// The table as it is now.
        table: Table,
    },
    /// New columns appended to an existing table.
    AddColumns {
        /// Table name.
        table: String,
        /// The new columns, in order.
        columns: Vec<Column>,
    },
}

impl SchemaChange {
    /// The table the change is about.
    pub fn table_name(&self) -> &str {
        match self {
            SchemaChange::CreateTable { table } => &table.name,
            SchemaChange::AddColumns { table, .. } => table,
        }
    }
}

/// A versioned schema in dlt's stored layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// Schema name (the source name).
    pub name: String,
    /// Version, bumped when the content changes.
    pub version: u64,
    /// Base64 SHA-256 of the content.
    pub version_hash: String,
    /// Earlier hashes, newest first (at most 10).
    #[serde(default)]
    pub previous_hashes: Vec<String>,
    /// Layout version.
    pub engine_version: u32,
    /// Tables in creation order; system tables first.
    pub tables: IndexMap<String, Table>,
    /// Settings.
    #[serde(default)]
    pub settings: SchemaSettings,
    /// Naming convention used for identifiers.
    #[serde(default = "default_naming")]
    pub naming: String,
}

fn default_naming() -> String {
    "snake_case".to_string()
}

impl Schema {
    /// A new schema holding only the system tables.
    pub fn new(name: impl Into<String>) -> Self {
        let mut tables = IndexMap::new();
        for t in system_tables() {
            tables.insert(t.name.clone(), t);
        }
        let mut s = Self {
            name: name.into(),
            version: 1,
            version_hash: String::new(),
            previous_hashes: Vec::new(),
            engine_version: ENGINE_VERSION,
            tables,
            settings: SchemaSettings {
                schema_contract: None,
                detections: default_detections(),
            },
            naming: default_naming(),
        };
        s.version_hash = s.content_hash();
        s
    }

    /// The hash of the content: tables, columns in order, settings.
    pub fn content_hash(&self) -> String {
        let content = serde_json::json!({
            "name": self.name,
            "engine_version": self.engine_version,
            "tables": self.tables,
            "settings": self.settings,
            "naming": self.naming,
        });
        let bytes = serde_json::to_vec(&content).expect("schema serializes");
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
    }

    /// Recompute the hash; when the content changed, bump the version and remember the old hash.
    /// Returns whether the version changed.
    pub fn bump_version(&mut self) -> bool {
        let hash = self.content_hash();
        if hash == self.version_hash {
            return false;
        }
        if !self.version_hash.is_empty() {
            self.previous_hashes.insert(0, self.version_hash.clone());
            self.previous_hashes.truncate(10);
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }

    /// A table by name.
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.get(name)
    }

    /// Tables that hold data (not `_dlt_…`), in creation order.
    pub fn data_tables(&self) -> impl Iterator<Item = &Table> {
        self.tables.values().filter(|t| !t.is_system())
    }

    /// The root table of `name` (itself for a root table).
    pub fn root_of<'a>(&'a self, name: &str) -> Option<&'a Table> {
        let mut t = self.tables.get(name)?;
        while let Some(p) = &t.parent {
            t = self.tables.get(p)?;
        }
        Some(t)
    }

    /// The nested tables under `root`, at any depth, parents before children.
    pub fn nested_tables<'a>(&'a self, root: &str) -> Vec<&'a Table> {
        let mut out: Vec<&Table> = Vec::new();
        let mut frontier = vec![root.to_string()];
        while let Some(parent) = frontier.pop() {
            for t in self.tables.values() {
                if t.parent.as_deref() == Some(parent.as_str()) {
                    out.push(t);
                    frontier.push(t.name.clone());
                }
            }
        }
        out.sort_by_key(|t| self.tables.get_index_of(&t.name));
        out
    }

    /// The write disposition that applies to `table` (its root's), append when unset.
    pub fn write_disposition(&self, table: &str) -> WriteDisposition {
        self.root_of(table)
            .and_then(|t| t.write_disposition)
            .unwrap_or_default()
    }

    /// The contract that applies to `table`: the root table's, else the schema's, else evolve.
    pub fn contract_for(&self, table: &str) -> SchemaContract {
        self.root_of(table)
            .and_then(|t| t.schema_contract)
            .or(self.settings.schema_contract)
            .unwrap_or_default()
    }

    /// The changes that turn `old` into `self`: new tables and new columns, in order.
    pub fn changes_since(&self, old: &Schema) -> Vec<SchemaChange> {
        let mut changes = Vec::new();
        for table in self.data_tables() {
            match old.tables.get(&table.name) {
                None => {
                    let mut t = table.clone();
                    t.columns.retain(|_, c| c.is_complete());
                    if !t.columns.is_empty() {
                        changes.push(SchemaChange::CreateTable { table: t });
                    }
                }
                Some(prev) => {
                    let prev_complete =
                        |name: &str| prev.columns.get(name).is_some_and(|c| c.is_complete());
                    let prev_has_any = prev.columns.values().any(|c| c.is_complete());
                    let new: Vec<Column> = table
                        .complete_columns()
                        .filter(|c| !prev_complete(&c.name))
                        .cloned()
                        .collect();
                    if new.is_empty() {
                        continue;
                    }
                    if prev_has_any {
                        changes.push(SchemaChange::AddColumns {
                            table: table.name.clone(),
                            columns: new,
                        });
                    } else {
                        let mut t = table.clone();
                        t.columns.retain(|_, c| c.is_complete());
                        changes.push(SchemaChange::CreateTable { table: t });
                    }
                }
            }
        }
        changes
    }

    /// Serialize as YAML (the format `sluice pipeline NAME schema` prints).
    pub fn to_yaml(&self) -> Result<String> {
        serde_yaml::to_string(self)
            .map_err(|e| Error::internal("cannot serialize schema as YAML").with_source(e))
    }

    /// Serialize as pretty JSON (the stored format).
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parse a stored JSON or YAML schema.
    pub fn from_json(text: &str) -> Result<Schema> {
        serde_json::from_str(text).map_err(|e| Error::input("invalid stored schema").with_source(e))
    }

    /// Parse a schema as stored in `_dlt_version.schema`: JSON, or (as dlt stores large
    /// schemas) base64 of zlib-compressed JSON.
    pub fn from_stored(text: &str) -> Result<Schema> {
        if text.trim_start().starts_with('{') {
            return Self::from_json(text);
        }
        let value = crate::state::decompress_state(text)?;
        serde_json::from_value(value)
            .map_err(|e| Error::input("invalid stored schema").with_source(e))
    }
}

/// dlt's three system tables with their columns.
pub fn system_tables() -> Vec<Table> {
    use DataType::*;
    let mut version = Table::new(crate::VERSION_TABLE)
        .with_column(Column::new("version", Bigint).not_null())
        .with_column(Column::new("engine_version", Bigint).not_null())
        .with_column(Column::new("inserted_at", Timestamp).not_null())
        .with_column(Column::new("schema_name", Text).not_null())
        .with_column(Column::new("version_hash", Text).not_null())
        .with_column(Column::new("schema", Text).not_null());
    version.write_disposition = Some(WriteDisposition::Skip);
    let mut loads = Table::new(crate::LOADS_TABLE)
        .with_column(Column::new("load_id", Text).not_null())
        .with_column(Column::new("schema_name", Text))
        .with_column(Column::new("status", Bigint).not_null())
        .with_column(Column::new("inserted_at", Timestamp).not_null())
        .with_column(Column::new("schema_version_hash", Text));
    loads.write_disposition = Some(WriteDisposition::Skip);
    let mut state = Table::new(crate::STATE_TABLE)
        .with_column(Column::new("version", Bigint).not_null())
        .with_column(Column::new("engine_version", Bigint).not_null())
        .with_column(Column::new("pipeline_name", Text).not_null())
        .with_column(Column::new("state", Text).not_null())
        .with_column(Column::new("created_at", Timestamp).not_null())
        .with_column(Column::new("version_hash", Text))
        .with_column(Column::new(C_DLT_LOAD_ID, Text).not_null())
        .with_column(Column::new(C_DLT_ID, Text).not_null());
    state.write_disposition = Some(WriteDisposition::Append);
    vec![version, loads, state]
}

#[cfg(test)]
mod tests;
