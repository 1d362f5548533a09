//! Arrow column builders, one per complete column of a table.

use crate::values::Cell;
use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float64Builder, Int64Builder, StringBuilder, Time64MicrosecondBuilder,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::DataType as ArrowType;
use sluice_core::{DataType, Error, Result};
use std::sync::Arc;

/// A typed Arrow builder.
pub(crate) enum ColBuilder {
    Text(StringBuilder),
    I64(Int64Builder),
    F64(Float64Builder),
    Bool(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
    Dec(Decimal128Builder),
    Date(Date32Builder),
    Time(Time64MicrosecondBuilder),
    Bin(BinaryBuilder),
}

impl ColBuilder {
    /// A builder for `data_type` holding `nulls` leading nulls (back-fill of earlier rows).
    pub(crate) fn new(data_type: DataType, nulls: usize) -> Self {
        let mut b = match data_type {
            DataType::Text | DataType::Json => ColBuilder::Text(StringBuilder::new()),
            DataType::Bigint => ColBuilder::I64(Int64Builder::new()),
            DataType::Double => ColBuilder::F64(Float64Builder::new()),
            DataType::Bool => ColBuilder::Bool(BooleanBuilder::new()),
            DataType::Timestamp => ColBuilder::Micros(TimestampMicrosecondBuilder::new()),
            DataType::Decimal | DataType::Wei => ColBuilder::Dec(Decimal128Builder::new()),
            DataType::Date => ColBuilder::Date(Date32Builder::new()),
            DataType::Time => ColBuilder::Time(Time64MicrosecondBuilder::new()),
            DataType::Binary => ColBuilder::Bin(BinaryBuilder::new()),
        };
        for _ in 0..nulls {
            b.append_null();
        }
        b
    }

    /// Number of values appended since the last finish.
    pub(crate) fn len(&self) -> usize {
        match self {
            ColBuilder::Text(b) => b.len(),
            ColBuilder::I64(b) => b.len(),
            ColBuilder::F64(b) => b.len(),
            ColBuilder::Bool(b) => b.len(),
            ColBuilder::Micros(b) => b.len(),
            ColBuilder::Dec(b) => b.len(),
            ColBuilder::Date(b) => b.len(),
            ColBuilder::Time(b) => b.len(),
            ColBuilder::Bin(b) => b.len(),
        }
    }

    /// Append a NULL.
    pub(crate) fn append_null(&mut self) {
        match self {
            ColBuilder::Text(b) => b.append_null(),
            ColBuilder::I64(b) => b.append_null(),
            ColBuilder::F64(b) => b.append_null(),
            ColBuilder::Bool(b) => b.append_null(),
            ColBuilder::Micros(b) => b.append_null(),
            ColBuilder::Dec(b) => b.append_null(),
            ColBuilder::Date(b) => b.append_null(),
            ColBuilder::Time(b) => b.append_null(),
            ColBuilder::Bin(b) => b.append_null(),
        }
    }

    /// Append a text value.
    pub(crate) fn append_str(&mut self, s: &str) -> Result<()> {
        match self {
            ColBuilder::Text(b) => {
                b.append_value(s);
                Ok(())
            }
            _ => Err(Error::internal(
                "normalizer: text value for a non-text column",
            )),
        }
    }

    /// Append a bigint value.
    pub(crate) fn append_i64(&mut self, v: i64) -> Result<()> {
        match self {
            ColBuilder::I64(b) => {
                b.append_value(v);
                Ok(())
            }
            _ => Err(Error::internal(
                "normalizer: bigint value for a non-bigint column",
            )),
        }
    }

    /// Append a cell; `scratch` is a reusable buffer for JSON serialization.
    pub(crate) fn append(&mut self, cell: &Cell<'_>, scratch: &mut Vec<u8>) -> Result<()> {
        match (self, cell) {
            (ColBuilder::Text(b), Cell::Str(s)) => b.append_value(s),
            (ColBuilder::Text(b), Cell::Json(v)) => {
                scratch.clear();
                serde_json::to_writer(&mut *scratch, v)?;
                let s = std::str::from_utf8(scratch)
                    .map_err(|e| Error::internal("JSON text is not UTF-8").with_source(e))?;
                b.append_value(s)
            }
            (ColBuilder::I64(b), Cell::I64(v)) => b.append_value(*v),
            (ColBuilder::F64(b), Cell::F64(v)) => b.append_value(*v),
            (ColBuilder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (ColBuilder::Micros(b), Cell::Micros(v)) => b.append_value(*v),
            (ColBuilder::Dec(b), Cell::Dec(v)) => b.append_value(*v),
            (ColBuilder::Date(b), Cell::Date(v)) => b.append_value(*v),
            (ColBuilder::Time(b), Cell::Time(v)) => b.append_value(*v),
            (ColBuilder::Bin(b), Cell::Bytes(v)) => b.append_value(v),
            (_, cell) => {
                return Err(Error::internal(format!(
                    "normalizer: value {cell:?} does not match its column builder"
                )));
            }
        }
        Ok(())
    }

    /// Finish the array (the builder is reset) with the exact Arrow type of its field.
    pub(crate) fn finish(&mut self, field_type: &ArrowType) -> Result<ArrayRef> {
        Ok(match self {
            ColBuilder::Text(b) => Arc::new(b.finish()),
            ColBuilder::I64(b) => Arc::new(b.finish()),
            ColBuilder::F64(b) => Arc::new(b.finish()),
            ColBuilder::Bool(b) => Arc::new(b.finish()),
            ColBuilder::Micros(b) => {
                let tz = match field_type {
                    ArrowType::Timestamp(_, tz) => tz.clone(),
                    _ => None,
                };
                Arc::new(b.finish().with_timezone_opt(tz))
            }
            ColBuilder::Dec(b) => {
                let (p, s) = match field_type {
                    ArrowType::Decimal128(p, s) => (*p, *s),
                    _ => (38, 0),
                };
                Arc::new(b.finish().with_precision_and_scale(p, s)?)
            }
            ColBuilder::Date(b) => Arc::new(b.finish()),
            ColBuilder::Time(b) => Arc::new(b.finish()),
            ColBuilder::Bin(b) => Arc::new(b.finish()),
        })
    }
}
