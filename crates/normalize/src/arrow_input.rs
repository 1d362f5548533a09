//! Rows that arrive as Arrow record batches (a library source's `SourceEvent::Batch`, as dlt
//! accepts Arrow tables): loaded as they are, one row per batch row, without nesting.
//!
//! Column names go through the column naming convention; each Arrow type maps to a sluice type
//! (integers to bigint — `UInt64` to a decimal of 20 digits, so no value is lost —, floats to
//! double, decimals, dates, times, timestamps with or without zone, text, binary, booleans);
//! nested Arrow types (lists, structs, maps) are refused with an error naming the column. New
//! columns follow the table's `columns` contract, as JSON items do; values are cast to the
//! column's type where the table has it already, and a value that does not fit is an error
//! naming table and column. Root rows get `_dlt_load_id` and a random `_dlt_id`, like JSON rows.

use crate::Normalizer;
use crate::state::{contract_error, is_system_name};
use arrow::array::{ArrayRef, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use rand::RngCore;
use sluice_core::arrow_types::{align_batch, arrow_schema};
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{Column, ContractMode, DataType, Error, Result};
use std::sync::Arc;

/// The sluice column type of an Arrow type, with precision, scale and zone; `None` for types
/// that do not map to one column (lists, structs, maps, unions, …).
fn column_of(name: String, t: &ArrowType) -> Option<Column> {
    let mut c = Column::new(
        name,
        match t {
            ArrowType::Int8
            | ArrowType::Int16
            | ArrowType::Int32
            | ArrowType::Int64
            | ArrowType::UInt8
            | ArrowType::UInt16
            | ArrowType::UInt32 => DataType::Bigint,
            ArrowType::UInt64 => DataType::Decimal,
            ArrowType::Float16 | ArrowType::Float32 | ArrowType::Float64 => DataType::Double,
            ArrowType::Boolean => DataType::Bool,
            ArrowType::Utf8 | ArrowType::LargeUtf8 | ArrowType::Utf8View => DataType::Text,
            ArrowType::Binary
            | ArrowType::LargeBinary
            | ArrowType::BinaryView
            | ArrowType::FixedSizeBinary(_) => DataType::Binary,
            ArrowType::Date32 | ArrowType::Date64 => DataType::Date,
            ArrowType::Time32(_) | ArrowType::Time64(_) => DataType::Time,
            ArrowType::Timestamp(_, _) => DataType::Timestamp,
            ArrowType::Decimal128(_, _) | ArrowType::Decimal256(_, _) => DataType::Decimal,
            _ => return None,
        },
    );
    match t {
        ArrowType::UInt64 => {
            c.precision = Some(20);
            c.scale = Some(0);
        }
        ArrowType::Decimal128(p, s) | ArrowType::Decimal256(p, s) => {
            c.precision = Some(u32::from(*p));
            c.scale = Some((*s).max(0) as u32);
        }
        ArrowType::Timestamp(_, zone) => c.timezone = Some(zone.is_some()),
        _ => {}
    }
    Some(c)
}

impl Normalizer {
    /// Add the rows of `batch` to the resource whose root table is `root_table` (the name
    /// returned by [`Normalizer::add_resource`]). All or nothing: on error no row of the batch
    /// is written. Rows of JSON items pushed before stay before these.
    pub fn push_batch(&mut self, root_table: &str, batch: &RecordBatch) -> Result<()> {
        let tid = match self.by_name.get(root_table) {
            Some(&tid) => tid,
            None => self.create_table_rt(root_table.to_string(), None),
        };
        if self.tables[tid].row_hash {
            return Err(Error::schema(format!(
                "table `{root_table}`: the scd2 strategy needs a row hash of each item; hand \
                 this resource's rows in as JSON items, not as Arrow batches"
            )));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.accept_table(tid)? {
            self.stats.discarded_rows += batch.num_rows() as u64;
            return Ok(());
        }
        self.ensure_system_columns(tid);
        // JSON rows still in the builders go first.
        if self.tables[tid].rows > 0 {
            self.emit(tid)?;
        }
        let table_name = self.tables[tid].name.clone();
        let mut fields: Vec<Field> = Vec::new();
        let mut arrays: Vec<ArrayRef> = Vec::new();
        let mut new_columns: Vec<Column> = Vec::new();
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let name = self.config.column_naming.normalize_identifier(field.name());
            if is_system_name(&name) {
                return Err(Error::schema(format!(
                    "table `{table_name}`: column `{}` is a name sluice reserves for its own \
                     columns; rename it in the batch",
                    field.name()
                )));
            }
            let column = column_of(name.clone(), field.data_type()).ok_or_else(|| {
                Error::schema(format!(
                    "table `{table_name}`: column `{}` is of Arrow type {}, which sluice cannot \
                     load as one column (flatten it, or turn it into JSON text)",
                    field.name(),
                    field.data_type()
                ))
            })?;
            let table = &self.schema.tables[&table_name];
            match table.columns.get(&name) {
                Some(existing) if existing.is_complete() => {}
                Some(_) => new_columns.push(column),
                None if self.tables[tid].is_new => new_columns.push(column),
                None => match self.tables[tid].contract.columns {
                    ContractMode::Evolve => new_columns.push(column),
                    ContractMode::Freeze => {
                        return Err(contract_error(
                            format!("column `{name}` to table `{table_name}`"),
                            "columns",
                        ));
                    }
                    ContractMode::DiscardRow => {
                        self.stats.discarded_rows += batch.num_rows() as u64;
                        return Ok(());
                    }
                    ContractMode::DiscardValue => {
                        self.stats.discarded_values += batch.num_rows() as u64;
                        continue;
                    }
                },
            }
            fields.push(Field::new(name, array.data_type().clone(), true));
            arrays.push(array.clone());
        }
        // The system columns of root rows.
        let rows = batch.num_rows();
        let load_id: StringArray = std::iter::repeat_n(Some(self.load_id.as_str()), rows).collect();
        let ids: StringArray = (0..rows)
            .map(|_| {
                let mut bytes = [0u8; 10];
                self.rng.fill_bytes(&mut bytes);
                Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
            })
            .collect();
        for (name, array) in [(C_DLT_LOAD_ID, load_id), (C_DLT_ID, ids)] {
            fields.push(Field::new(name, ArrowType::Utf8, false));
            arrays.push(Arc::new(array));
        }
        let named =
            RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays).map_err(|e| {
                Error::schema(format!(
                    "table `{table_name}`: the batch does not hold together"
                ))
                .with_source(e)
            })?;
        // Check everything before the schema grows: a failed batch changes nothing.
        let mut grown = self.schema.tables[&table_name].clone();
        for c in &new_columns {
            merge_type(grown.columns.entry(c.name.clone()).or_insert(c.clone()), c);
        }
        let out = typed_batch(&grown, &named)?;
        for c in new_columns {
            let mut c = match self.schema.tables[&table_name].columns.get(&c.name) {
                Some(declared) => {
                    let mut d = declared.clone();
                    merge_type(&mut d, &c);
                    d
                }
                None => c,
            };
            c.source_path = Some(vec![c.name.clone()]);
            self.add_column(tid, c);
        }
        let stats = self.stats.rows.entry(table_name.clone()).or_insert(0);
        *stats += rows as u64;
        self.ready.push((table_name, out));
        Ok(())
    }
}

/// Give a column declared without a type (a hint) the batch's type.
fn merge_type(column: &mut Column, from: &Column) {
    if column.data_type.is_none() {
        column.data_type = from.data_type;
        column.precision = from.precision;
        column.scale = from.scale;
        column.timezone = from.timezone;
    }
}

/// `batch` lined up with the complete columns of `table`, cast to their types.
fn typed_batch(table: &sluice_core::Table, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns: Vec<&Column> = table.complete_columns().collect();
    let arrays = align_batch(batch, table, &columns)?;
    RecordBatch::try_new(arrow_schema(table), arrays).map_err(|e| {
        Error::schema(format!(
            "table `{}`: a required column is missing or NULL in the batch",
            table.name
        ))
        .with_source(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::TimeUnit;

    #[test]
    fn arrow_types_map_to_sluice_types() {
        let c = |t: ArrowType| column_of("c".into(), &t);
        assert_eq!(
            c(ArrowType::Int32).unwrap().data_type,
            Some(DataType::Bigint)
        );
        let u = c(ArrowType::UInt64).unwrap();
        assert_eq!(
            (u.data_type, u.precision, u.scale),
            (Some(DataType::Decimal), Some(20), Some(0))
        );
        let d = c(ArrowType::Decimal128(12, 3)).unwrap();
        assert_eq!((d.precision, d.scale), (Some(12), Some(3)));
        let t = c(ArrowType::Timestamp(TimeUnit::Millisecond, None)).unwrap();
        assert_eq!(
            (t.data_type, t.timezone),
            (Some(DataType::Timestamp), Some(false))
        );
        assert!(
            c(ArrowType::List(Arc::new(Field::new(
                "x",
                ArrowType::Int64,
                true
            ))))
            .is_none()
        );
    }
}
