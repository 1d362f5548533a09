//! How sluice data types are represented in Arrow (and so in Parquet load files).

use crate::schema::{Column, Table};
use crate::types::DataType;
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// Default decimal precision and scale (dlt's).
pub const DEFAULT_DECIMAL: (u8, i8) = (38, 9);

/// The Arrow type of a column. Timestamps are microseconds in UTC; JSON is UTF-8 text.
pub fn arrow_type(column: &Column) -> ArrowType {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text | DataType::Json => ArrowType::Utf8,
        DataType::Bigint => ArrowType::Int64,
        DataType::Double => ArrowType::Float64,
        DataType::Bool => ArrowType::Boolean,
        DataType::Timestamp => {
            let tz = if column.timezone == Some(false) {
                None
            } else {
                Some(Arc::from("UTC"))
            };
            ArrowType::Timestamp(TimeUnit::Microsecond, tz)
        }
        DataType::Date => ArrowType::Date32,
        DataType::Time => ArrowType::Time64(TimeUnit::Microsecond),
        DataType::Decimal => {
            let (p, s) = decimal_precision(column);
            ArrowType::Decimal128(p, s)
        }
        DataType::Wei => ArrowType::Decimal128(38, 0),
        DataType::Binary => ArrowType::Binary,
    }
}

/// The widest decimal a load package carries (Arrow's `Decimal128`). The pipeline refuses a
/// decimal column declared wider than this or than the destination's
/// [`max_decimal_precision`](crate::Capabilities::max_decimal_precision).
pub const MAX_DECIMAL_PRECISION: u32 = 38;

/// Precision and scale of a decimal column (38, 9 unless hinted; a hinted precision without
/// scale means scale 0).
pub fn decimal_precision(column: &Column) -> (u8, i8) {
    match column.precision {
        Some(p) => (
            p.min(MAX_DECIMAL_PRECISION) as u8,
            column.scale.unwrap_or(0) as i8,
        ),
        None => DEFAULT_DECIMAL,
    }
}

/// The Arrow field of a column.
pub fn arrow_field(column: &Column) -> Field {
    Field::new(&column.name, arrow_type(column), column.nullable)
}

/// The Arrow schema of a table: its complete columns, in order.
pub fn arrow_schema(table: &Table) -> SchemaRef {
    Arc::new(ArrowSchema::new(
        table
            .complete_columns()
            .map(arrow_field)
            .collect::<Vec<_>>(),
    ))
}

/// Arrays of `batch` lined up with `columns` of `table`: matched by name, cast to the
/// column's Arrow type, NULL where the file lacks the column (files written before the column
/// was added). A value that does not convert is an error naming table and column, never a
/// silent NULL.
pub fn align_batch(
    batch: &arrow::record_batch::RecordBatch,
    table: &Table,
    columns: &[&Column],
) -> crate::Result<Vec<arrow::array::ArrayRef>> {
    use arrow::compute::{CastOptions, cast_with_options};
    let schema = batch.schema();
    columns
        .iter()
        .map(|col| {
            let expected = arrow_type(col);
            let Ok(i) = schema.index_of(&col.name) else {
                return Ok(arrow::array::new_null_array(&expected, batch.num_rows()));
            };
            let array = batch.column(i);
            if array.data_type() == &expected {
                return Ok(array.clone());
            }
            let options = CastOptions {
                safe: false,
                ..Default::default()
            };
            cast_with_options(array, &expected, &options).map_err(|e| {
                crate::Error::input(format!(
                    "column {}.{} holds {} values that cannot be loaded as {}",
                    table.name,
                    col.name,
                    array.data_type(),
                    col.data_type.unwrap_or(DataType::Text)
                ))
                .with_source(e)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_to_arrow() {
        let t = Table::new("t")
            .with_column(Column::new("a", DataType::Timestamp))
            .with_column(Column::new("b", DataType::Decimal))
            .with_column(Column {
                data_type: None,
                ..Column::new("incomplete", DataType::Text)
            });
        let s = arrow_schema(&t);
        assert_eq!(s.fields().len(), 2);
        assert_eq!(
            s.field(0).data_type(),
            &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(s.field(1).data_type(), &ArrowType::Decimal128(38, 9));
    }
}
