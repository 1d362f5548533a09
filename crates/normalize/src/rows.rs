//! Rows: one item becomes a root row and the rows of its nested tables. Objects are flattened
//! into columns (`a__b`) down to the nesting budget, lists become rows of nested tables linked
//! by `_dlt_parent_id` / `_dlt_list_idx`, and every row gets its `_dlt_id`.

use crate::Normalizer;
use crate::state::{Content, Fate, Node, PendingRow, is_system_name};
use crate::values::Cell;
use base64::Engine;
use rand::RngCore;
use serde_json::Value;
use sha3::Shake128;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sluice_core::schema::C_DLT_ID;
use sluice_core::{DataType, Error, Result};

impl Normalizer {
    pub(crate) fn normalize_row<'a>(
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
        let version =
            (link.is_none() && self.tables[tid].row_hash).then(|| crate::scd2::row_hash(&content));
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
            _ => match (link, version) {
                (None, Some(hash)) => hash,
                (None, None) if rt.key_hash.is_some() => {
                    let key = rt.key_hash.as_deref().unwrap_or_default();
                    key_row_id(key, &row.cells)
                }
                (None, None) => {
                    let mut bytes = [0u8; 10];
                    self.rng.fill_bytes(&mut bytes);
                    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
                }
                (Some((p, idx)), _) => nested_row_id(&pending[p].row_id, &rt.name, idx),
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
    pub(crate) fn child_node(&mut self, tid: usize, parent: usize, pos: usize, key: &str) -> usize {
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
    pub(crate) fn flatten_entry<'a>(
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
    pub(crate) fn raw_path(&self, tid: usize, mut node: usize) -> Vec<String> {
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
    pub(crate) fn keeps_json(&mut self, tid: usize, node: usize) -> bool {
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
