//! Output: the rows of a committed item are appended to the tables' Arrow builders, and a
//! table's builders become a `RecordBatch` when it reaches `batch_size` rows or on flush.

use crate::Normalizer;
use crate::builders::ColBuilder;
use crate::state::{
    PendingRow, SYS_ID, SYS_LIST_IDX, SYS_LOAD_ID, SYS_PARENT_ID, SYS_ROOT_ID, TableRt,
};
use arrow::record_batch::RecordBatch;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::{Error, Result};

impl Normalizer {
    /// Append the rows of one item to the builders, emitting batches that become full.
    pub(crate) fn commit(&mut self, pending: &[PendingRow<'_>]) -> Result<()> {
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
    pub(crate) fn emit(&mut self, tid: usize) -> Result<()> {
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

fn builder(rt: &mut TableRt, pos: usize) -> Result<&mut ColBuilder> {
    rt.cols
        .get_mut(pos)
        .and_then(|c| c.builder.as_mut())
        .ok_or_else(|| Error::internal(format!("table `{}`: column without builder", rt.name)))
}
