//! The normalizer's runtime state: per-table and per-column state aligned with the schema,
//! the key cache (one [`Node`] per position in the flattened rows), and the rows of an item
//! waiting to be committed.

use crate::builders::ColBuilder;
use crate::values::{Cell, Target};
use serde_json::{Map, Value};
use sluice_core::schema::{
    C_DLT_ID, C_DLT_LIST_IDX, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID,
};
use sluice_core::{DataType, Error, SchemaContract};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash: a fast non-cryptographic hash for the key caches.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
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

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

pub(crate) const SYSTEM_COLUMNS: [&str; 5] = [
    C_DLT_ID,
    C_DLT_LOAD_ID,
    C_DLT_PARENT_ID,
    C_DLT_LIST_IDX,
    C_DLT_ROOT_ID,
];
pub(crate) const SYS_ID: usize = 0;
pub(crate) const SYS_LOAD_ID: usize = 1;
pub(crate) const SYS_PARENT_ID: usize = 2;
pub(crate) const SYS_LIST_IDX: usize = 3;
pub(crate) const SYS_ROOT_ID: usize = 4;

pub(crate) fn is_system_name(name: &str) -> bool {
    SYSTEM_COLUMNS.contains(&name)
}

/// One key of the key cache: a position in the flattened structure of a table's rows.
pub(crate) struct Node {
    /// The raw key.
    pub(crate) key: Box<str>,
    /// Parent node (the row itself is node 0, its own parent).
    pub(crate) parent: usize,
    /// Children by raw key.
    pub(crate) children: FastMap<Box<str>, usize>,
    /// Children in first-seen order: objects usually repeat their key order, so the i-th key
    /// of an object is looked up here first.
    pub(crate) order: Vec<usize>,
    /// Normalized keys from the row down to this node.
    pub(crate) norm_path: Vec<String>,
    /// The column name before collision handling (`a__b`).
    pub(crate) name: String,
    /// The column name after collision handling, once resolved.
    pub(crate) claimed: Option<String>,
    /// Position of the column in the schema table, once it exists.
    pub(crate) col: Option<usize>,
    /// Variant columns of this column: (type, position).
    pub(crate) variants: Vec<(DataType, usize)>,
    /// The nested table a list at this position goes to.
    pub(crate) child_table: Option<usize>,
    /// Whether the existing column says "keep objects/lists here as json".
    pub(crate) keep_json: Option<bool>,
}

impl Node {
    pub(crate) fn new(key: &str, parent: usize, norm_path: Vec<String>, name: String) -> Self {
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
pub(crate) struct ColRt {
    pub(crate) target: Option<Target>,
    pub(crate) builder: Option<ColBuilder>,
}

/// Runtime state of one table.
pub(crate) struct TableRt {
    pub(crate) name: String,
    /// Table name fragments (for the names of nested tables).
    pub(crate) fragments: Vec<String>,
    pub(crate) parent: Option<usize>,
    /// Of a nested table: the path of its list in the parent's rows.
    pub(crate) source_path: Option<String>,
    pub(crate) root: usize,
    /// Had no complete column when first seen in this run: grows freely.
    pub(crate) is_new: bool,
    /// Rows may be written (the `tables` contract was checked).
    pub(crate) accepted: bool,
    pub(crate) contract: SchemaContract,
    /// Aligned with the schema table's columns (positions never change).
    pub(crate) cols: Vec<ColRt>,
    /// Column name → the source path that owns it (`None`: a column nobody claimed yet).
    pub(crate) claims: FastMap<String, Option<Vec<String>>>,
    /// Source path → the first non-variant column recorded for it (`x-source-path`).
    pub(crate) by_path: FastMap<Vec<String>, usize>,
    pub(crate) nodes: Vec<Node>,
    /// Non-nullable data columns (must get a value in every row).
    pub(crate) required: Vec<usize>,
    pub(crate) sys: [Option<usize>; 5],
    pub(crate) sys_ready: bool,
    /// Rows in the builders (current batch).
    pub(crate) rows: usize,
    pub(crate) stats_idx: Option<usize>,
    /// Root tables: nesting budget and whether `_dlt_root_id` is propagated.
    pub(crate) max_nesting: u32,
    pub(crate) merge: bool,
    /// Root tables merged by scd2 whose row version is `_dlt_id`: a row's `_dlt_id` is the
    /// hash of its item (dlt's `row_hash`), and it is neither unique nor a row key.
    pub(crate) row_hash: bool,
    /// Root tables merged by upsert or insert-only: the primary key's column positions, whose
    /// values make the row's `_dlt_id` (dlt's `key_hash`), so that a row keeps its id, and its
    /// nested rows theirs, from one load to the next.
    pub(crate) key_hash: Option<Vec<usize>>,
}

/// A row waiting for its item to finish normalizing.
pub(crate) struct PendingRow<'a> {
    pub(crate) tid: usize,
    pub(crate) cells: Vec<(usize, Cell<'a>)>,
    pub(crate) row_id: String,
    pub(crate) parent: Option<usize>,
    pub(crate) list_idx: i64,
}

/// The data of a row: an object, or one synthetic key (`value` / `list`).
pub(crate) enum Content<'a> {
    Obj(&'a Map<String, Value>),
    One(&'static str, &'a Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Keep,
    DiscardRow,
}

pub(crate) fn contract_error(what: String, entity: &str) -> Error {
    let verb = if entity == "data_type" { "is" } else { "are" };
    Error::schema(format!(
        "schema contract: cannot add {what} because `{entity}` {verb} frozen"
    ))
}

pub(crate) fn display_path(path: &[String]) -> String {
    path.join(".")
}
