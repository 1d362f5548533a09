//! The public face of the crate: [`Normalizer`], its settings and stats, and its entry points
//! (resource hints in, items in, batches and the grown schema out).

use crate::state::{Content, PendingRow, TableRt};
use arrow::record_batch::RecordBatch;
use indexmap::IndexMap;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;
use sluice_core::naming::PATH_SEPARATOR;
use sluice_core::{
    Column, DataType, Error, NamingConvention, ResourceHints, Result, Schema, Table,
};
use std::collections::HashMap;

/// Settings of a [`Normalizer`].
#[derive(Debug, Clone)]
pub struct NormalizerConfig {
    /// Rows per emitted batch (a table's batch is emitted when it reaches this many rows).
    pub batch_size: usize,
    /// Naming convention for table names.
    pub table_naming: NamingConvention,
    /// Naming convention for column names.
    pub column_naming: NamingConvention,
    /// Nesting budget of a root table that does not set `max_nesting` (dlt's default 1000).
    pub default_max_nesting: u32,
}

impl Default for NormalizerConfig {
    fn default() -> Self {
        Self {
            batch_size: 10_000,
            table_naming: NamingConvention::snake_case(usize::MAX),
            column_naming: NamingConvention::snake_case(usize::MAX),
            default_max_nesting: 1000,
        }
    }
}

/// What a [`Normalizer`] did: rows per table, discarded data, warnings.
#[derive(Debug, Clone, Default)]
pub struct NormalizeStats {
    /// Rows written per table, in the order tables first received rows.
    pub rows: IndexMap<String, u64>,
    /// Rows dropped by a `discard_row` / `discard_value` contract (nested rows of a dropped
    /// row are not processed and not counted).
    pub discarded_rows: u64,
    /// Values dropped by a `discard_value` contract.
    pub discarded_values: u64,
    /// Warnings (key collisions), also emitted with `tracing::warn!`.
    pub warnings: Vec<String>,
}

/// Normalizes JSON items into dlt's relational layout and Arrow record batches.
///
/// Call [`Normalizer::add_resource`] for each resource, then [`Normalizer::push`] items, collect
/// full batches with [`Normalizer::take_ready`] and the rest with [`Normalizer::flush`]. The grown
/// schema is available from [`Normalizer::schema`] / [`Normalizer::into_schema`].
pub struct Normalizer {
    pub(crate) schema: Schema,
    pub(crate) load_id: String,
    pub(crate) config: NormalizerConfig,
    pub(crate) tables: Vec<TableRt>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) stats: NormalizeStats,
    pub(crate) ready: Vec<(String, RecordBatch)>,
    pub(crate) rng: StdRng,
    pub(crate) scratch: Vec<u8>,
}

impl std::fmt::Debug for Normalizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Normalizer")
            .field("schema", &self.schema.name)
            .field("load_id", &self.load_id)
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Normalizer {
    /// A normalizer that grows `schema`, stamping root rows with `load_id`.
    pub fn new(schema: Schema, load_id: &str, config: NormalizerConfig) -> Self {
        Self {
            schema,
            load_id: load_id.to_string(),
            config,
            tables: Vec::new(),
            by_name: HashMap::new(),
            stats: NormalizeStats::default(),
            ready: Vec::new(),
            rng: StdRng::from_os_rng(),
            scratch: Vec::new(),
        }
    }

    /// Apply resource hints: creates or updates the root table (write disposition, merge
    /// strategy, primary / merge key column hints (non-nullable), max nesting, schema contract,
    /// declared columns, the scd2 strategy's columns). Returns the normalized root table name.
    pub fn add_resource(&mut self, hints: &ResourceHints) -> Result<String> {
        let name = self.config.table_naming.normalize_identifier(hints.table());
        let col_naming = self.config.column_naming;
        let table = self
            .schema
            .tables
            .entry(name.clone())
            .or_insert_with(|| Table::new(name.clone()));
        if table.parent.is_some() {
            return Err(Error::schema(format!(
                "resource `{}`: table `{name}` is a nested table and cannot be a resource's root table",
                hints.name
            )));
        }
        table.write_disposition = Some(hints.write_disposition);
        if hints.merge_strategy.is_some() {
            table.merge_strategy = hints.merge_strategy;
        }
        table.resource = Some(hints.name.clone());
        if hints.max_table_nesting.is_some() {
            table.max_nesting = hints.max_table_nesting;
        }
        if hints.schema_contract.is_some() {
            table.schema_contract = hints.schema_contract;
        }
        for declared in &hints.columns {
            let col_name = col_naming.normalize_identifier(&declared.name);
            let path = declared
                .source_path
                .clone()
                .unwrap_or_else(|| declared_path(&declared.name));
            match table.columns.get_mut(&col_name) {
                Some(existing) => merge_declared(existing, declared),
                None => {
                    let mut c = declared.clone();
                    c.name = col_name.clone();
                    c.source_path = Some(path);
                    table.columns.insert(col_name, c);
                }
            }
        }
        for (keys, is_pk) in [(&hints.primary_key, true), (&hints.merge_key, false)] {
            for key in keys {
                let col_name = col_naming.normalize_identifier(key);
                let col = table.columns.entry(col_name.clone()).or_insert_with(|| {
                    let mut c = Column::new(col_name.clone(), DataType::Text);
                    c.data_type = None;
                    c.source_path = Some(declared_path(key));
                    c
                });
                if is_pk {
                    col.primary_key = true;
                } else {
                    col.merge_key = true;
                }
                col.nullable = false;
            }
        }
        if hints.write_disposition == sluice_core::WriteDisposition::Merge
            && hints.merge_strategy == Some(sluice_core::MergeStrategy::Scd2)
        {
            crate::scd2::apply_hints(table, &hints.scd2, &col_naming, declared_path)?;
        }
        if let Some(&tid) = self.by_name.get(&name) {
            self.refresh_root(tid);
            self.sync_table(tid);
        }
        Ok(name)
    }

    /// Normalize one item of the resource whose root table is `root_table` (the name returned
    /// by [`Normalizer::add_resource`]). The item is all-or-nothing: on error none of its rows
    /// are written.
    pub fn push(&mut self, root_table: &str, item: &Value) -> Result<()> {
        let tid = match self.by_name.get(root_table) {
            Some(&tid) => tid,
            None => self.create_table_rt(root_table.to_string(), None),
        };
        let level = self.tables[tid].max_nesting as i64;
        let content = match item {
            Value::Object(m) => Content::Obj(m),
            other => Content::One("value", other),
        };
        let mut pending: Vec<PendingRow<'_>> = Vec::new();
        self.normalize_row(tid, content, level, None, &mut pending)?;
        self.commit(&pending)
    }

    /// Batches that reached `batch_size` rows since the last call: (table name, batch).
    pub fn take_ready(&mut self) -> Vec<(String, RecordBatch)> {
        std::mem::take(&mut self.ready)
    }

    /// Flush everything left (including ready batches not taken yet); returns the remaining
    /// batches. The schema stays available.
    pub fn flush(&mut self) -> Result<Vec<(String, RecordBatch)>> {
        for tid in 0..self.tables.len() {
            if self.tables[tid].rows > 0 {
                self.emit(tid)?;
            }
        }
        Ok(std::mem::take(&mut self.ready))
    }

    /// The schema as grown so far.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The schema, consuming the normalizer.
    pub fn into_schema(self) -> Schema {
        self.schema
    }

    /// Rows per table, discarded rows and values, warnings.
    pub fn stats(&self) -> &NormalizeStats {
        &self.stats
    }
}

/// The source path of a declared column name (`a__b` addresses the nested key `b` of `a`).
fn declared_path(name: &str) -> Vec<String> {
    let parts: Vec<String> = name
        .split(PATH_SEPARATOR)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if parts.is_empty() {
        vec![name.to_string()]
    } else {
        parts
    }
}

/// Merge declared hints into an existing column. The type of a complete column never changes.
fn merge_declared(existing: &mut Column, declared: &Column) {
    if existing.data_type.is_none() {
        existing.data_type = declared.data_type;
        existing.precision = declared.precision.or(existing.precision);
        existing.scale = declared.scale.or(existing.scale);
        existing.timezone = declared.timezone.or(existing.timezone);
    }
    existing.nullable &= declared.nullable;
    existing.primary_key |= declared.primary_key;
    existing.merge_key |= declared.merge_key;
    existing.unique |= declared.unique;
    existing.hard_delete |= declared.hard_delete;
    if declared.dedup_sort.is_some() {
        existing.dedup_sort = declared.dedup_sort.clone();
    }
}
