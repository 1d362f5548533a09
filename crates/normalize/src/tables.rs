//! Tables: the runtime state of each table kept in line with its schema table (columns,
//! claims, required and system columns), root-table hints, the `tables` contract, and the
//! naming of nested tables.

use crate::Normalizer;
use crate::builders::ColBuilder;
use crate::state::{
    ColRt, FastMap, Node, SYS_ID, SYS_LIST_IDX, SYS_LOAD_ID, SYS_PARENT_ID, SYS_ROOT_ID,
    SYSTEM_COLUMNS, TableRt, contract_error,
};
use crate::values::Target;
use sluice_core::arrow_types::decimal_precision;
use sluice_core::naming::identifier_tag;
use sluice_core::{Column, ContractMode, DataType, MergeStrategy, Result, Table, WriteDisposition};

impl Normalizer {
    pub(crate) fn create_table_rt(
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
            row_hash: false,
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
    pub(crate) fn refresh_root(&mut self, tid: usize) {
        let name = self.tables[tid].name.clone();
        let contract = self.schema.contract_for(&name);
        let (max_nesting, merge, row_hash, key_hash) = match self.schema.tables.get(&name) {
            Some(t) => {
                let merge = t.write_disposition == Some(WriteDisposition::Merge);
                // scd2 does not propagate the root key (dlt's `requires_root_key`): nested rows
                // are only ever inserted, keyed by their deterministic `_dlt_id`.
                let scd2 = merge && t.merge_strategy == Some(MergeStrategy::Scd2);
                let row_hash = scd2
                    && t.row_version_column()
                        .is_some_and(|c| c.name == sluice_core::schema::C_DLT_ID);
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
                    merge && !scd2,
                    row_hash,
                    (by_key && !pk.is_empty()).then_some(pk),
                )
            }
            None => (self.config.default_max_nesting, false, false, None),
        };
        for rt in self.tables.iter_mut().filter(|rt| rt.root == tid) {
            rt.contract = contract;
            rt.sys_ready = false;
        }
        let rt = &mut self.tables[tid];
        rt.max_nesting = max_nesting;
        rt.merge = merge;
        rt.row_hash = row_hash;
        rt.key_hash = key_hash;
    }

    /// Bring a table's runtime columns in line with its schema table: new columns get a
    /// builder back-filled with nulls, claims and required columns are recomputed.
    pub(crate) fn sync_table(&mut self, tid: usize) {
        self.sync_columns_from(tid, 0);
    }

    /// Like [`Self::sync_table`] for columns appended since the last sync only: each new
    /// column costs the same however wide the table is (a table of 10 000 columns would
    /// otherwise rescan all of them 10 000 times).
    pub(crate) fn sync_new_columns(&mut self, tid: usize) {
        let start = self.tables[tid].cols.len();
        self.sync_columns_from(tid, start);
    }

    pub(crate) fn sync_columns_from(&mut self, tid: usize, start: usize) {
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
    pub(crate) fn accept_table(&mut self, tid: usize) -> Result<bool> {
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
    pub(crate) fn ensure_system_columns(&mut self, tid: usize) {
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
                    // An scd2 row version repeats when a retired version comes back.
                    SYS_ID if rt.row_hash => {}
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
    pub(crate) fn child_table(&mut self, tid: usize, node: usize) -> usize {
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
}
