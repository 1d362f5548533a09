//! Columns: the name of each source key's column (collisions get a stable tagged name), new
//! columns under the `columns` contract, values typed and coerced into them, and variant
//! columns (`<col>__v_<type>`) for values that do not fit under the `data_type` contract.

use crate::Normalizer;
use crate::state::{FastMap, Fate, PendingRow, contract_error, display_path, is_system_name};
use crate::values::{Cell, Target, coerce, infer};
use serde_json::Value;
use sluice_core::naming::{PATH_SEPARATOR, identifier_tag};
use sluice_core::{Column, ContractMode, DataType, Error, Result};

impl Normalizer {
    /// Resolve the column name of `node`: the column already recorded for this source path, the
    /// plain normalized name when free, or a tagged name when another source path has it.
    pub(crate) fn resolve_name(&mut self, tid: usize, node: usize) -> String {
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
    pub(crate) fn add_column(&mut self, tid: usize, column: Column) -> usize {
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
    pub(crate) fn new_column(name: String, t: DataType) -> Column {
        let mut c = Column::new(name, t);
        if t == DataType::Decimal {
            c.precision = Some(38);
            c.scale = Some(0);
        }
        c
    }

    /// Store one scalar (or kept-in-place json) value of a row.
    pub(crate) fn put_value<'a>(
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
    pub(crate) fn put_variant<'a>(
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
}

/// A value as a cell of a column: as is when the types match, else coerced.
fn fit<'a>(v: &'a Value, t: DataType, cell: &Cell<'a>, target: Target) -> Option<Cell<'a>> {
    if target.data_type == t && t != DataType::Decimal {
        Some(cell.clone())
    } else {
        coerce(v, t, cell, target)
    }
}
