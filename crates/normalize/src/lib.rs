//! JSON items → dlt's relational layout → Arrow `RecordBatch`es.
//!
//! A [`Normalizer`] takes the JSON items of one or more resources and turns each item into rows
//! of a root table and of nested tables, exactly as dlt's relational normalizer lays them out
//! (`orders`, `orders__items`, `a__b` for nested objects, `value` for lists of scalars, `list`
//! for lists of lists, `_dlt_id` / `_dlt_parent_id` / `_dlt_list_idx` / `_dlt_load_id` /
//! `_dlt_root_id` system columns, `<col>__v_<type>` variant columns on type conflicts).
//! Types are inferred and coerced against the schema, which grows under its schema contract.
//! Rows are appended straight into Arrow builders and leave as batches of bounded size.
//!
//! Two things differ from dlt on purpose:
//! - distinct source keys that normalize to the same name (`"Order ID"`, `"orderId"`,
//!   `"order_id"`) are never merged into one column: the first keeps the name, the others get a
//!   stable tagged name recorded in the schema, and a warning is emitted;
//! - integers that do not fit a 64-bit integer never fail: they become `decimal` (up to 38
//!   digits) or `text`.

mod builders;
mod values;

use crate::builders::ColBuilder;
use crate::values::{Cell, Target, coerce, infer};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use indexmap::IndexMap;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use serde_json::{Map, Value};
use sha3::Shake128;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sluice_core::arrow_types::{arrow_schema, decimal_precision};
use sluice_core::naming::{PATH_SEPARATOR, identifier_tag};
use sluice_core::schema::{
    C_DLT_ID, C_DLT_LIST_IDX, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID,
};
use sluice_core::{
    Column, ContractMode, DataType, Error, MergeStrategy, NamingConvention, ResourceHints, Result,
    Schema, SchemaContract, Table, WriteDisposition,
};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

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

// ---------------------------------------------------------------------------------------------
// internal state

/// FxHash: a fast non-cryptographic hash for the key caches.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

const SYSTEM_COLUMNS: [&str; 5] = [
    C_DLT_ID,
    C_DLT_LOAD_ID,
    C_DLT_PARENT_ID,
    C_DLT_LIST_IDX,
    C_DLT_ROOT_ID,
];
const SYS_ID: usize = 0;
const SYS_LOAD_ID: usize = 1;
const SYS_PARENT_ID: usize = 2;
const SYS_LIST_IDX: usize = 3;
const SYS_ROOT_ID: usize = 4;

fn is_system_name(name: &str) -> bool {
    SYSTEM_COLUMNS.contains(&name)
}

/// One key of the key cache: a position in the flattened structure of a table's rows.
struct Node {
    /// The raw key.
    key: Box<str>,
    /// Parent node (the row itself is node 0, its own parent).
    parent: usize,
    /// Children by raw key.
    children: FastMap<Box<str>, usize>,
    /// Children in first-seen order: objects usually repeat their key order, so the i-th key
    /// of an object is looked up here first.
    order: Vec<usize>,
    /// Normalized keys from the row down to this node.
    norm_path: Vec<String>,
    /// The column name before collision handling (`a__b`).
    name: String,
    /// The column name after collision handling, once resolved.
    claimed: Option<String>,
    /// Position of the column in the schema table, once it exists.
    col: Option<usize>,
    /// Variant columns of this column: (type, position).
    variants: Vec<(DataType, usize)>,
    /// The nested table a list at this position goes to.
    child_table: Option<usize>,
    /// Whether the existing column says "keep objects/lists here as json".
    keep_json: Option<bool>,
}

impl Node {
    fn new(key: &str, parent: usize, norm_path: Vec<String>, name: String) -> Self {
        Self {
            key: key.into(),
            parent,
            children: FastMap::default(),
            order: Vec::new(),
            norm_path,
            name,
            claimed: None,
            col: None,
            variants: Vec::new(),
            child_table: None,
            keep_json: None,
        }
    }
}

/// Runtime state of one schema column.
struct ColRt {
    target: Option<Target>,
    builder: Option<ColBuilder>,
}

/// Runtime state of one table.
struct TableRt {
    name: String,
    /// Table name fragments (for the names of nested tables).
    fragments: Vec<String>,
    parent: Option<usize>,
    /// Of a nested table: the path of its list in the parent's rows.
    source_path: Option<String>,
    root: usize,
    /// Had no complete column when first seen in this run: grows freely.
    is_new: bool,
    /// Rows may be written (the `tables` contract was checked).
    accepted: bool,
    contract: SchemaContract,
    /// Aligned with the schema table's columns (positions never change).
    cols: Vec<ColRt>,
    /// Column name → the source path that owns it (`None`: a column nobody claimed yet).
    claims: FastMap<String, Option<Vec<String>>>,
    /// Source path → the first non-variant column recorded for it (`x-source-path`).
    by_path: FastMap<Vec<String>, usize>,
    nodes: Vec<Node>,
    /// Non-nullable data columns (must get a value in every row).
    required: Vec<usize>,
    sys: [Option<usize>; 5],
    sys_ready: bool,
    /// Rows in the builders (current batch).
    rows: usize,
    stats_idx: Option<usize>,
    /// Root tables: nesting budget and whether `_dlt_root_id` is propagated.
    max_nesting: u32,
    merge: bool,
    /// Root tables merged by upsert or insert-only: the primary key's column positions, whose
    /// values make the row's `_dlt_id` (dlt's `key_hash`), so that a row keeps its id, and its
    /// nested rows theirs, from one load to the next.
    key_hash: Option<Vec<usize>>,
}

/// A row waiting for its item to finish normalizing.
struct PendingRow<'a> {
    tid: usize,
    cells: Vec<(usize, Cell<'a>)>,
    row_id: String,
    parent: Option<usize>,
    list_idx: i64,
}

/// The data of a row: an object, or one synthetic key (`value` / `list`).
enum Content<'a> {
    Obj(&'a Map<String, Value>),
    One(&'static str, &'a Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    DiscardRow,
}

/// Normalizes JSON items into dlt's relational layout and Arrow record batches.
///
/// Call [`Normalizer::add_resource`] for each resource, then [`Normalizer::push`] items, collect
/// full batches with [`Normalizer::take_ready`] and the rest with [`Normalizer::flush`]. The grown
/// schema is available from [`Normalizer::schema`] / [`Normalizer::into_schema`].
pub struct Normalizer {
    schema: Schema,
    load_id: String,
    config: NormalizerConfig,
    tables: Vec<TableRt>,
    by_name: HashMap<String, usize>,
    stats: NormalizeStats,
    ready: Vec<(String, RecordBatch)>,
    rng: StdRng,
    scratch: Vec<u8>,
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

fn contract_error(what: String, entity: &str) -> Error {
    let verb = if entity == "data_type" { "is" } else { "are" };
    Error::schema(format!(
        "schema contract: cannot add {what} because `{entity}` {verb} frozen"
    ))
}

fn display_path(path: &[String]) -> String {
    path.join(".")
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
    /// declared columns). Returns the normalized root table name.
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

    // -----------------------------------------------------------------------------------------
    // tables

    fn create_table_rt(
        &mut self,
        name: String,
        parent: Option<(usize, Vec<String>, String)>,
    ) -> usize {
        let tid = self.tables.len();
        let existing = self.schema.tables.get(&name);
        let is_new = existing.is_none_or(|t| !t.columns.values().any(|c| c.is_complete()));
        let (parent_tid, root, fragments, contract, source_path) = match parent {
            Some((p, fragments, path)) => {
                let root = self.tables[p].root;
                (
                    Some(p),
                    root,
                    fragments,
                    self.tables[root].contract,
                    Some(path),
                )
            }
            None => (
                None,
                tid,
                vec![name.clone()],
                self.schema.contract_for(&name),
                None,
            ),
        };
        let mut root_node = Node::new("", 0, Vec::new(), String::new());
        root_node.keep_json = Some(false);
        self.tables.push(TableRt {
            name: name.clone(),
            fragments,
            parent: parent_tid,
            source_path,
            root,
            is_new,
            accepted: false,
            contract,
            cols: Vec::new(),
            claims: FastMap::default(),
            by_path: FastMap::default(),
            nodes: vec![root_node],
            required: Vec::new(),
            sys: [None; 5],
            sys_ready: false,
            rows: 0,
            stats_idx: None,
            max_nesting: self.config.default_max_nesting,
            merge: false,
            key_hash: None,
        });
        self.by_name.insert(name, tid);
        if parent_tid.is_none() {
            self.refresh_root(tid);
        }
        self.sync_table(tid);
        tid
    }

    /// Re-read a root table's hints (nesting, disposition, contract) from the schema.
    fn refresh_root(&mut self, tid: usize) {
        let name = self.tables[tid].name.clone();
        let contract = self.schema.contract_for(&name);
        let (max_nesting, merge, key_hash) = match self.schema.tables.get(&name) {
            Some(t) => {
                let merge = t.write_disposition == Some(WriteDisposition::Merge);
                let by_key = merge
                    && matches!(
                        t.merge_strategy,
                        Some(MergeStrategy::Upsert | MergeStrategy::InsertOnly)
                    );
                let pk: Vec<usize> = t
                    .primary_key()
                    .iter()
                    .filter_map(|c| t.columns.get_index_of(*c))
                    .collect();
                (
                    t.max_nesting.unwrap_or(self.config.default_max_nesting),
                    merge,
                    (by_key && !pk.is_empty()).then_some(pk),
                )
            }
            None => (self.config.default_max_nesting, false, None),
        };
        for rt in self.tables.iter_mut().filter(|rt| rt.root == tid) {
            rt.contract = contract;
            rt.sys_ready = false;
        }
        let rt = &mut self.tables[tid];
        rt.max_nesting = max_nesting;
        rt.merge = merge;
        rt.key_hash = key_hash;
    }

    /// Bring a table's runtime columns in line with its schema table: new columns get a
    /// builder back-filled with nulls, claims and required columns are recomputed.
    fn sync_table(&mut self, tid: usize) {
        self.sync_columns_from(tid, 0);
    }

    /// Like [`Self::sync_table`] for columns appended since the last sync only: each new
    /// column costs the same however wide the table is (a table of 10 000 columns would
    /// otherwise rescan all of them 10 000 times).
    fn sync_new_columns(&mut self, tid: usize) {
        let start = self.tables[tid].cols.len();
        self.sync_columns_from(tid, start);
    }

    fn sync_columns_from(&mut self, tid: usize, start: usize) {
        let rt = &mut self.tables[tid];
        let Some(table) = self.schema.tables.get(&rt.name) else {
            return;
        };
        if start == 0 {
            rt.required.clear();
            rt.by_path.clear();
        }
        for (pos, col) in table.columns.values().enumerate().skip(start) {
            if pos == rt.cols.len() {
                rt.cols.push(ColRt {
                    target: None,
                    builder: None,
                });
            }
            let c = &mut rt.cols[pos];
            if let Some(dt) = col.data_type {
                if c.target.is_none() {
                    let (precision, scale) = match dt {
                        DataType::Decimal => decimal_precision(col),
                        DataType::Wei => (38, 0),
                        _ => (0, 0),
                    };
                    c.target = Some(Target {
                        data_type: dt,
                        precision,
                        scale,
                    });
                }
                if c.builder.is_none() {
                    c.builder = Some(ColBuilder::new(dt, rt.rows));
                }
            }
            if let Some(i) = SYSTEM_COLUMNS.iter().position(|s| *s == col.name) {
                rt.sys[i] = Some(pos);
            } else {
                if !col.nullable {
                    rt.required.push(pos);
                }
                if !col.variant && !rt.claims.contains_key(&col.name) {
                    rt.claims.insert(col.name.clone(), col.source_path.clone());
                }
                if !col.variant
                    && let Some(path) = &col.source_path
                {
                    rt.by_path.entry(path.clone()).or_insert(pos);
                }
            }
        }
    }

    /// Check the `tables` contract for a table's first row; creates the schema table.
    /// Returns false when the row must be dropped.
    fn accept_table(&mut self, tid: usize) -> Result<bool> {
        let rt = &self.tables[tid];
        if rt.is_new {
            match rt.contract.tables {
                ContractMode::Evolve => {}
                ContractMode::Freeze => {
                    return Err(contract_error(format!("table `{}`", rt.name), "tables"));
                }
                ContractMode::DiscardRow | ContractMode::DiscardValue => return Ok(false),
            }
        }
        if !self.schema.tables.contains_key(&rt.name) {
            let table = match rt.parent {
                Some(p) => {
                    let mut t = Table::nested(rt.name.clone(), self.tables[p].name.clone());
                    t.source_path = rt.source_path.clone();
                    t
                }
                None => Table::new(rt.name.clone()),
            };
            self.schema.tables.insert(rt.name.clone(), table);
        }
        self.tables[tid].accepted = true;
        Ok(true)
    }

    /// Create the system columns a table needs (`_dlt_load_id` + `_dlt_id` on root tables,
    /// `[_dlt_root_id] _dlt_parent_id _dlt_list_idx _dlt_id` on nested tables).
    fn ensure_system_columns(&mut self, tid: usize) {
        let rt = &self.tables[tid];
        if rt.sys_ready {
            return;
        }
        let wanted: &[usize] = if rt.parent.is_none() {
            &[SYS_LOAD_ID, SYS_ID]
        } else if self.tables[rt.root].merge {
            &[SYS_ROOT_ID, SYS_PARENT_ID, SYS_LIST_IDX, SYS_ID]
        } else {
            &[SYS_PARENT_ID, SYS_LIST_IDX, SYS_ID]
        };
        // Missing, or declared by a hint without a type yet (`primary_key = "_dlt_id"`): such
        // a column gets its type and system role here, keeping the hint.
        let declared = self.schema.tables.get(&rt.name);
        let missing: Vec<usize> = wanted
            .iter()
            .copied()
            .filter(|&i| {
                rt.sys[i].is_none()
                    || declared
                        .and_then(|t| t.columns.get(SYSTEM_COLUMNS[i]))
                        .is_none_or(|c| !c.is_complete())
            })
            .collect();
        if !missing.is_empty() {
            let table = self
                .schema
                .tables
                .get_mut(&rt.name)
                .expect("accepted tables are in the schema");
            for i in missing {
                let name = SYSTEM_COLUMNS[i];
                let mut c = Column::new(
                    name,
                    if i == SYS_LIST_IDX {
                        DataType::Bigint
                    } else {
                        DataType::Text
                    },
                )
                .not_null();
                match i {
                    SYS_ID => {
                        c.row_key = true;
                        c.unique = true;
                    }
                    SYS_PARENT_ID => c.parent_key = true,
                    SYS_ROOT_ID => c.root_key = true,
                    _ => {}
                }
                match table.columns.get_mut(name) {
                    Some(declared) => {
                        declared.data_type = c.data_type;
                        declared.nullable = false;
                        declared.row_key |= c.row_key;
                        declared.unique |= c.unique;
                        declared.parent_key |= c.parent_key;
                        declared.root_key |= c.root_key;
                    }
                    None => {
                        table.columns.insert(name.to_string(), c);
                    }
                }
            }
            self.sync_table(tid);
        }
        self.tables[tid].sys_ready = true;
    }

    /// The nested table for a list at `node` of table `tid`.
    fn child_table(&mut self, tid: usize, node: usize) -> usize {
        if let Some(c) = self.tables[tid].nodes[node].child_table {
            return c;
        }
        let rt = &self.tables[tid];
        let n = &rt.nodes[node];
        let parent_name = rt.name.clone();
        let mut fragments = rt.fragments.clone();
        fragments.extend(n.norm_path[..n.norm_path.len() - 1].iter().cloned());
        fragments.push(self.config.table_naming.normalize_identifier(&n.key));
        let mut name = self.config.table_naming.shorten_fragments(&fragments);
        // Two lists can name the same table: keys that normalize alike (`Items`, `items`), or
        // a list inside an object (`a.b` → `t__a__b`, a child of `t`) and one inside a list's
        // items (`a[].b` → `t__a__b`, a child of `t__a`). dlt mixes their rows in one table;
        // here the second gets its own table, named with a stable tag of its path, and a
        // warning. The path that owns a table is recorded in the schema (`x-source-path`).
        let path = self.raw_path(tid, node).join(".");
        let owned_by_other = |this: &Self, name: &str| match this.by_name.get(name) {
            Some(&c) => {
                this.tables[c].parent != Some(tid)
                    || this.tables[c].source_path.as_deref() != Some(path.as_str())
            }
            None => this.schema.tables.get(name).is_some_and(|t| {
                t.parent.as_deref().is_some_and(|p| p != parent_name)
                    || t.source_path.as_deref().is_some_and(|p| p != path)
            }),
        };
        if owned_by_other(self, &name) {
            let base = name.clone();
            let mut i = 0usize;
            name = loop {
                let tag = identifier_tag(&if i == 0 {
                    format!("{parent_name}:{path}")
                } else {
                    format!("{parent_name}:{path}#{i}")
                });
                let mut tagged = fragments.clone();
                tagged.push(tag);
                let cand = self.config.table_naming.shorten_fragments(&tagged);
                if !owned_by_other(self, &cand) {
                    fragments = tagged;
                    break cand;
                }
                i += 1;
            };
            let msg = format!(
                "table `{parent_name}`: the list at `{path}` would be nested table `{base}`, which \
                 already holds the rows of another path; its rows go to table `{name}`"
            );
            tracing::warn!("{msg}");
            self.stats.warnings.push(msg);
        }
        let child = match self.by_name.get(&name) {
            Some(&c) => c,
            None => self.create_table_rt(name, Some((tid, fragments, path))),
        };
        self.tables[tid].nodes[node].child_table = Some(child);
        child
    }

    // -----------------------------------------------------------------------------------------
    // rows

    fn normalize_row<'a>(
        &mut self,
        tid: usize,
        content: Content<'a>,
        level: i64,
        link: Option<(usize, i64)>,
        pending: &mut Vec<PendingRow<'a>>,
    ) -> Result<()> {
        if !self.tables[tid].accepted && !self.accept_table(tid)? {
            self.stats.discarded_rows += 1;
            return Ok(());
        }
        let mut row = PendingRow {
            tid,
            cells: Vec::with_capacity(self.tables[tid].cols.len()),
            row_id: String::new(),
            parent: link.map(|l| l.0),
            list_idx: link.map_or(0, |l| l.1),
        };
        let mut lists: Vec<(usize, &'a [Value])> = Vec::new();
        let mut given_id: Option<&'a Value> = None;
        let mut fate = Fate::Keep;
        match content {
            Content::Obj(m) => {
                for (i, (k, v)) in m.iter().enumerate() {
                    if k.starts_with("_dlt_") && is_system_name(k) {
                        if k == C_DLT_ID {
                            given_id = Some(v);
                        }
                        continue;
                    }
                    fate = self.flatten_entry(tid, 0, i, k, v, level, &mut row, &mut lists)?;
                    if fate == Fate::DiscardRow {
                        break;
                    }
                }
            }
            Content::One(k, v) => {
                fate = self.flatten_entry(tid, 0, 0, k, v, level, &mut row, &mut lists)?;
            }
        }
        if fate == Fate::DiscardRow {
            self.stats.discarded_rows += 1;
            return Ok(());
        }
        let rt = &self.tables[tid];
        for &r in &rt.required {
            if !row.cells.iter().any(|(c, _)| *c == r) {
                let col = self.schema.tables[&rt.name]
                    .columns
                    .get_index(r)
                    .map(|(n, _)| n.as_str())
                    .unwrap_or("?");
                return Err(Error::schema(format!(
                    "table `{}`: column `{col}` is not nullable (a key or declared not null) but an item has no value for it",
                    rt.name
                )));
            }
        }
        row.row_id = match given_id {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v) if !v.is_null() && !matches!(v, Value::String(_)) => v.to_string(),
            _ => match link {
                None if rt.key_hash.is_some() => {
                    let key = rt.key_hash.as_deref().unwrap_or_default();
                    key_row_id(key, &row.cells)
                }
                None => {
                    let mut bytes = [0u8; 10];
                    self.rng.fill_bytes(&mut bytes);
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
                }
                Some((p, idx)) => nested_row_id(&pending[p].row_id, &rt.name, idx),
            },
        };
        self.ensure_system_columns(tid);
        let me = pending.len();
        pending.push(row);
        for (node, list) in lists {
            let child = self.child_table(tid, node);
            for (idx, v) in list.iter().enumerate() {
                let link = Some((me, idx as i64));
                match v {
                    Value::Object(m) => {
                        self.normalize_row(child, Content::Obj(m), level - 1, link, pending)?
                    }
                    Value::Array(_) => self.normalize_row(
                        child,
                        Content::One("list", v),
                        level - 2,
                        link,
                        pending,
                    )?,
                    _ => self.normalize_row(
                        child,
                        Content::One("value", v),
                        level - 1,
                        link,
                        pending,
                    )?,
                }
            }
        }
        Ok(())
    }

    /// The cache node for `key` under `parent` (`pos`: the key's position in its object).
    fn child_node(&mut self, tid: usize, parent: usize, pos: usize, key: &str) -> usize {
        let nodes = &self.tables[tid].nodes;
        let p = &nodes[parent];
        if let Some(&c) = p.order.get(pos)
            && *nodes[c].key == *key
        {
            return c;
        }
        if let Some(&c) = p.children.get(key) {
            return c;
        }
        let norm_key = self.config.column_naming.normalize_identifier(key);
        let mut norm_path = p.norm_path.clone();
        norm_path.push(norm_key);
        let name = self.config.column_naming.shorten_fragments(&norm_path);
        let nodes = &mut self.tables[tid].nodes;
        let id = nodes.len();
        nodes.push(Node::new(key, parent, norm_path, name));
        let p = &mut nodes[parent];
        p.children.insert(key.into(), id);
        p.order.push(id);
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn flatten_entry<'a>(
        &mut self,
        tid: usize,
        parent: usize,
        pos: usize,
        key: &str,
        v: &'a Value,
        level: i64,
        row: &mut PendingRow<'a>,
        lists: &mut Vec<(usize, &'a [Value])>,
    ) -> Result<Fate> {
        if v.is_null() {
            return Ok(Fate::Keep);
        }
        let node = self.child_node(tid, parent, pos, key);
        match v {
            Value::Object(m) if level > 0 && !self.keeps_json(tid, node) => {
                for (i, (k, v)) in m.iter().enumerate() {
                    if self.flatten_entry(tid, node, i, k, v, level - 1, row, lists)?
                        == Fate::DiscardRow
                    {
                        return Ok(Fate::DiscardRow);
                    }
                }
                Ok(Fate::Keep)
            }
            Value::Array(a) if level > 0 && !self.keeps_json(tid, node) => {
                lists.push((node, a));
                Ok(Fate::Keep)
            }
            _ => self.put_value(tid, node, v, row),
        }
    }

    /// The raw keys from the row down to `node`.
    fn raw_path(&self, tid: usize, mut node: usize) -> Vec<String> {
        let nodes = &self.tables[tid].nodes;
        let mut path = Vec::new();
        while node != 0 {
            path.push(nodes[node].key.to_string());
            node = nodes[node].parent;
        }
        path.reverse();
        path
    }

    /// Whether the column at `node` is typed `json` (objects and lists stay in place).
    fn keeps_json(&mut self, tid: usize, node: usize) -> bool {
        if let Some(k) = self.tables[tid].nodes[node].keep_json {
            return k;
        }
        let path = self.raw_path(tid, node);
        let rt = &self.tables[tid];
        let n = &rt.nodes[node];
        let keep = self.schema.tables.get(&rt.name).is_some_and(|t| {
            t.columns.values().any(|c| {
                !c.variant
                    && c.data_type == Some(DataType::Json)
                    && match &c.source_path {
                        Some(p) => *p == path,
                        None => c.name == n.name,
                    }
            })
        });
        self.tables[tid].nodes[node].keep_json = Some(keep);
        keep
    }

    /// Resolve the column name of `node`: the column already recorded for this source path, the
    /// plain normalized name when free, or a tagged name when another source path has it.
    fn resolve_name(&mut self, tid: usize, node: usize) -> String {
        let path = self.raw_path(tid, node);
        let rt = &mut self.tables[tid];
        let table = self.schema.tables.get_mut(&rt.name);
        if let Some(table) = &table
            && let Some(&pos) = rt.by_path.get(&path)
            && let Some((_, c)) = table.columns.get_index(pos)
        {
            let n = &mut rt.nodes[node];
            n.col = Some(pos);
            n.claimed = Some(c.name.clone());
            return c.name.clone();
        }
        let base = rt.nodes[node].name.clone();
        let owner = |claims: &FastMap<String, Option<Vec<String>>>, name: &str| -> Option<String> {
            if is_system_name(name) {
                return Some("a system column".to_string());
            }
            match claims.get(name) {
                Some(Some(p)) if *p != path => Some(format!("source key `{}`", display_path(p))),
                _ => None,
            }
        };
        let chosen = match owner(&rt.claims, &base) {
            None => base.clone(),
            Some(other) => {
                let joined = path.join(PATH_SEPARATOR);
                let max = self.config.column_naming.max_length;
                let mut i = 0usize;
                let cand = loop {
                    let tag = if i == 0 {
                        identifier_tag(&joined)
                    } else {
                        identifier_tag(&format!("{joined}#{i}"))
                    };
                    let mut stem = base.clone();
                    let room = max.saturating_sub(tag.len() + 1);
                    if stem.chars().count() > room {
                        stem = stem.chars().take(room).collect();
                    }
                    let cand = format!("{stem}_{tag}");
                    if owner(&rt.claims, &cand).is_none() {
                        break cand;
                    }
                    i += 1;
                };
                let msg = format!(
                    "table `{}`: source key `{}` normalizes to column `{base}`, which already holds {other}; its values go to column `{cand}`",
                    rt.name,
                    display_path(&path)
                );
                tracing::warn!("{msg}");
                self.stats.warnings.push(msg);
                cand
            }
        };
        rt.claims.insert(chosen.clone(), Some(path.clone()));
        let n = &mut rt.nodes[node];
        n.claimed = Some(chosen.clone());
        if let Some(table) = table
            && let Some((pos, _, c)) = table.columns.get_full_mut(&chosen)
        {
            if c.source_path.is_none() {
                if !c.variant {
                    rt.by_path.entry(path.clone()).or_insert(pos);
                }
                c.source_path = Some(path);
            }
            n.col = Some(pos);
        }
        chosen
    }

    /// Add a column to a table of the schema; returns its position.
    fn add_column(&mut self, tid: usize, column: Column) -> usize {
        let table = self
            .schema
            .tables
            .get_mut(&self.tables[tid].name)
            .expect("accepted tables are in the schema");
        let (pos, replaced) = table.columns.insert_full(column.name.clone(), column);
        if replaced.is_none() {
            self.sync_new_columns(tid);
        } else {
            self.sync_table(tid);
        }
        pos
    }

    /// A new column (or variant) of type `t`, with its precision when decimal.
    fn new_column(name: String, t: DataType) -> Column {
        let mut c = Column::new(name, t);
        if t == DataType::Decimal {
            c.precision = Some(38);
            c.scale = Some(0);
        }
        c
    }

    /// Store one scalar (or kept-in-place json) value of a row.
    fn put_value<'a>(
        &mut self,
        tid: usize,
        node: usize,
        v: &'a Value,
        row: &mut PendingRow<'a>,
    ) -> Result<Fate> {
        let (t, cell) = infer(v);
        let pos = match self.tables[tid].nodes[node].col {
            Some(pos) => pos,
            None => {
                let name = match &self.tables[tid].nodes[node].claimed {
                    Some(n) => n.clone(),
                    None => self.resolve_name(tid, node),
                };
                match self.tables[tid].nodes[node].col {
                    Some(pos) => pos,
                    None => {
                        let rt = &self.tables[tid];
                        if !rt.is_new {
                            match rt.contract.columns {
                                ContractMode::Evolve => {}
                                ContractMode::Freeze => {
                                    return Err(contract_error(
                                        format!("column `{name}` to table `{}`", rt.name),
                                        "columns",
                                    ));
                                }
                                ContractMode::DiscardRow => return Ok(Fate::DiscardRow),
                                ContractMode::DiscardValue => {
                                    self.stats.discarded_values += 1;
                                    return Ok(Fate::Keep);
                                }
                            }
                        }
                        let path = self.raw_path(tid, node);
                        let mut c = Self::new_column(name, t);
                        c.source_path = Some(path);
                        let pos = self.add_column(tid, c);
                        let n = &mut self.tables[tid].nodes[node];
                        n.col = Some(pos);
                        if t == DataType::Json {
                            n.keep_json = Some(true);
                        }
                        pos
                    }
                }
            }
        };
        let target = match self.tables[tid].cols[pos].target {
            Some(target) => target,
            None => {
                // a declared column without a type: the first value completes it
                let name = self.tables[tid].name.clone();
                let table = self.schema.tables.get_mut(&name).expect("table in schema");
                let c = &mut table.columns[pos];
                c.data_type = Some(t);
                if t == DataType::Decimal && c.precision.is_none() {
                    c.precision = Some(38);
                    c.scale = Some(0);
                }
                self.sync_table(tid);
                self.tables[tid].cols[pos]
                    .target
                    .expect("completed column has a type")
            }
        };
        if let Some(c) = fit(v, t, &cell, target) {
            row.cells.push((pos, c));
            return Ok(Fate::Keep);
        }
        self.put_variant(tid, node, pos, v, t, cell, row)
    }

    /// Store a value that does not fit its column in the variant column `<col>__v_<type>`.
    #[allow(clippy::too_many_arguments)]
    fn put_variant<'a>(
        &mut self,
        tid: usize,
        node: usize,
        pos: usize,
        v: &'a Value,
        t: DataType,
        cell: Cell<'a>,
        row: &mut PendingRow<'a>,
    ) -> Result<Fate> {
        let known = self.tables[tid].nodes[node]
            .variants
            .iter()
            .find(|(vt, _)| *vt == t)
            .map(|(_, p)| *p);
        let vpos = match known {
            Some(p) => p,
            None => {
                let rt = &self.tables[tid];
                let table = &self.schema.tables[&rt.name];
                let base = table.columns[pos].name.clone();
                let vname = self
                    .config
                    .column_naming
                    .shorten_fragments(&[base.as_str(), &format!("v_{t}")]);
                let vpos = match table.columns.get_index_of(&vname) {
                    Some(p) => p,
                    None => {
                        match rt.contract.data_type {
                            ContractMode::Evolve => {}
                            ContractMode::Freeze => {
                                let ct = table.columns[pos].data_type.map_or("?", |d| d.as_str());
                                return Err(contract_error(
                                    format!(
                                        "variant column `{vname}` to table `{}` (a `{t}` value does not fit column `{base}` of type `{ct}`)",
                                        rt.name
                                    ),
                                    "data_type",
                                ));
                            }
                            ContractMode::DiscardRow => return Ok(Fate::DiscardRow),
                            ContractMode::DiscardValue => {
                                self.stats.discarded_values += 1;
                                return Ok(Fate::Keep);
                            }
                        }
                        let mut c = Self::new_column(vname, t);
                        c.variant = true;
                        self.add_column(tid, c)
                    }
                };
                self.tables[tid].nodes[node].variants.push((t, vpos));
                vpos
            }
        };
        let target = self.tables[tid].cols[vpos].target;
        match target.and_then(|target| fit(v, t, &cell, target)) {
            Some(c) => {
                row.cells.push((vpos, c));
                Ok(Fate::Keep)
            }
            None => {
                let rt = &self.tables[tid];
                let table = &self.schema.tables[&rt.name];
                Err(Error::schema(format!(
                    "table `{}`: cannot store a `{t}` value in variant column `{}`",
                    rt.name, table.columns[vpos].name
                )))
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // output

    /// Append the rows of one item to the builders, emitting batches that become full.
    fn commit(&mut self, pending: &[PendingRow<'_>]) -> Result<()> {
        for row in pending {
            let tid = row.tid;
            {
                let Self {
                    tables,
                    scratch,
                    load_id,
                    stats,
                    ..
                } = self;
                let rt = &mut tables[tid];
                for (pos, cell) in &row.cells {
                    builder(rt, *pos)?.append(cell, scratch)?;
                }
                if let Some(p) = rt.sys[SYS_ID] {
                    builder(rt, p)?.append_str(&row.row_id)?;
                }
                match row.parent {
                    None => {
                        if let Some(p) = rt.sys[SYS_LOAD_ID] {
                            builder(rt, p)?.append_str(load_id)?;
                        }
                    }
                    Some(parent) => {
                        if let Some(p) = rt.sys[SYS_PARENT_ID] {
                            builder(rt, p)?.append_str(&pending[parent].row_id)?;
                        }
                        if let Some(p) = rt.sys[SYS_LIST_IDX] {
                            builder(rt, p)?.append_i64(row.list_idx)?;
                        }
                        if let Some(p) = rt.sys[SYS_ROOT_ID] {
                            builder(rt, p)?.append_str(&pending[0].row_id)?;
                        }
                    }
                }
                rt.rows += 1;
                for c in rt.cols.iter_mut() {
                    if let Some(b) = &mut c.builder
                        && b.len() < rt.rows
                    {
                        b.append_null();
                    }
                }
                let idx = match rt.stats_idx {
                    Some(i) => i,
                    None => {
                        let (i, _) = stats.rows.insert_full(rt.name.clone(), 0);
                        rt.stats_idx = Some(i);
                        i
                    }
                };
                if let Some((_, n)) = stats.rows.get_index_mut(idx) {
                    *n += 1;
                }
            }
            if self.tables[tid].rows >= self.config.batch_size.max(1) {
                self.emit(tid)?;
            }
        }
        Ok(())
    }

    /// Finish a table's builders into a batch with the table's current Arrow schema.
    fn emit(&mut self, tid: usize) -> Result<()> {
        let rt = &mut self.tables[tid];
        let table =
            self.schema.tables.get(&rt.name).ok_or_else(|| {
                Error::internal(format!("table `{}` is not in the schema", rt.name))
            })?;
        let schema = arrow_schema(table);
        let mut arrays = Vec::with_capacity(schema.fields().len());
        let mut fields = schema.fields().iter();
        for (pos, col) in table.columns.values().enumerate() {
            if !col.is_complete() {
                continue;
            }
            let field = fields
                .next()
                .ok_or_else(|| Error::internal("Arrow schema and table columns differ"))?;
            let b = rt
                .cols
                .get_mut(pos)
                .and_then(|c| c.builder.as_mut())
                .ok_or_else(|| {
                    Error::internal(format!(
                        "table `{}`: column `{}` has no builder",
                        rt.name, col.name
                    ))
                })?;
            arrays.push(b.finish(field.data_type())?);
        }
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| {
            Error::schema(format!("table `{}`: cannot build a record batch", rt.name))
                .with_source(e)
        })?;
        rt.rows = 0;
        self.ready.push((rt.name.clone(), batch));
        Ok(())
    }
}

/// The `_dlt_id` of a root row from its primary key's values (in key order, each written
/// with its type, joined with a unit separator), for upsert and insert-only merges.
fn key_row_id(key: &[usize], cells: &[(usize, Cell<'_>)]) -> String {
    let mut text = String::new();
    for (i, pos) in key.iter().enumerate() {
        if i > 0 {
            text.push('\u{1f}');
        }
        match cells.iter().find(|(c, _)| c == pos).map(|(_, cell)| cell) {
            None => text.push_str("null"),
            Some(Cell::Str(s)) => text.push_str(&format!("s:{s}")),
            Some(Cell::Json(v)) => text.push_str(&format!("j:{v}")),
            Some(Cell::I64(n)) => text.push_str(&format!("i:{n}")),
            Some(Cell::F64(n)) => text.push_str(&format!("f:{n}")),
            Some(Cell::Bool(b)) => text.push_str(&format!("b:{b}")),
            Some(Cell::Dec(n)) => text.push_str(&format!("d:{n}")),
            Some(Cell::Micros(n)) => text.push_str(&format!("t:{n}")),
            Some(Cell::Date(n)) => text.push_str(&format!("D:{n}")),
            Some(Cell::Time(n)) => text.push_str(&format!("T:{n}")),
            Some(Cell::Bytes(b)) => {
                text.push_str("x:");
                for byte in b {
                    text.push_str(&format!("{byte:02x}"));
                }
            }
        }
    }
    sluice_core::naming::digest128(&text, 10)
}

/// dlt's nested row key: `digest128(f"{parent_row_id}_{table}_{list_idx}", 10)`, hashed
/// without building the string.
fn nested_row_id(parent_row_id: &str, table: &str, list_idx: i64) -> String {
    let mut hasher = Shake128::default();
    hasher.update(parent_row_id.as_bytes());
    hasher.update(b"_");
    hasher.update(table.as_bytes());
    hasher.update(b"_");
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = list_idx.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if list_idx < 0 {
        hasher.update(b"-");
    }
    hasher.update(&buf[i..]);
    let mut digest = [0u8; 10];
    hasher.finalize_xof().read(&mut digest);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
}

fn builder(rt: &mut TableRt, pos: usize) -> Result<&mut ColBuilder> {
    rt.cols
        .get_mut(pos)
        .and_then(|c| c.builder.as_mut())
        .ok_or_else(|| Error::internal(format!("table `{}`: column without builder", rt.name)))
}

/// A value as a cell of a column: as is when the types match, else coerced.
fn fit<'a>(v: &'a Value, t: DataType, cell: &Cell<'a>, target: Target) -> Option<Cell<'a>> {
    if target.data_type == t && t != DataType::Decimal {
        Some(cell.clone())
    } else {
        coerce(v, t, cell, target)
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

#[cfg(test)]
mod normalize_fuzz;
#[cfg(test)]
mod tests;
