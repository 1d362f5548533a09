//! Postgres binary `COPY` encoding from Arrow arrays.
//!
//! Rows are encoded straight from Arrow columns into the binary COPY format (a signature
//! header, then per row a field count and length-prefixed fields, then a trailer) and sent in
//! chunks of about a megabyte, so memory stays bounded whatever the table size. Columns are
//! matched by name: a column of the table that a file lacks (added later) is sent as NULL.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float64Array, Int64Array, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::datatypes::DataType as ArrowType;
use arrow::record_batch::RecordBatch;
use bytes::{BufMut, BytesMut};
use sluice_core::schema::{Column, Table};
use sluice_core::types::DataType;
use sluice_core::{Error, Result};
use std::fmt::Write as _;

/// Signature, flags and header extension length of the binary COPY format.
pub(crate) const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The file trailer: a field count of -1.
pub(crate) const TRAILER: &[u8] = &[0xff, 0xff];
/// Microseconds between the Unix epoch and the Postgres epoch (2000-01-01).
pub(crate) const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;
/// Days between the Unix epoch and the Postgres epoch.
pub(crate) const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;
/// Send a chunk to the server once the buffer holds this many bytes.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;

/// One typed column of a batch, ready to encode.
enum Col<'a> {
    Null,
    Text(&'a StringArray),
    Json(&'a StringArray),
    Bigint(&'a Int64Array),
    Double(&'a Float64Array),
    Bool(&'a BooleanArray),
    Timestamp(&'a TimestampMicrosecondArray),
    Date(&'a Date32Array),
    Time(&'a Time64MicrosecondArray),
    Decimal(&'a Decimal128Array, i8),
    Binary(&'a BinaryArray),
}

/// Encodes batches of one table into binary COPY rows.
pub(crate) struct CopyEncoder<'t> {
    table: &'t Table,
    columns: Vec<&'t Column>,
    scratch: String,
}

impl<'t> CopyEncoder<'t> {
    /// An encoder for the complete columns of `table`, in order.
    pub(crate) fn new(table: &'t Table) -> Self {
        Self {
            table,
            columns: table.complete_columns().collect(),
            scratch: String::new(),
        }
    }

    /// The target columns, in COPY order.
    pub(crate) fn columns(&self) -> &[&'t Column] {
        &self.columns
    }

    /// Arrays of `batch` aligned with the target columns (see
    /// [`align_batch`](sluice_core::arrow_types::align_batch)).
    fn align(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
        sluice_core::arrow_types::align_batch(batch, self.table, &self.columns)
    }

    /// Append the rows of `batch` to `buf`.
    pub(crate) fn encode(&mut self, batch: &RecordBatch, buf: &mut BytesMut) -> Result<()> {
        let arrays = self.align(batch)?;
        let cols: Vec<Col<'_>> = arrays
            .iter()
            .zip(&self.columns)
            .map(|(a, c)| typed(a, c))
            .collect::<Result<_>>()?;
        let n = i16::try_from(cols.len()).map_err(|_| {
            Error::destination(format!("table {} has too many columns", self.table.name))
        })?;
        for row in 0..batch.num_rows() {
            buf.put_i16(n);
            for col in &cols {
                encode_value(col, row, buf, &mut self.scratch);
            }
        }
        Ok(())
    }
}

fn typed<'a>(array: &'a ArrayRef, column: &Column) -> Result<Col<'a>> {
    if array.null_count() == array.len() {
        return Ok(Col::Null);
    }
    let dt = column.data_type.unwrap_or(DataType::Text);
    Ok(match (dt, array.data_type()) {
        (DataType::Text, _) => Col::Text(array.as_string::<i32>()),
        (DataType::Json, _) => Col::Json(array.as_string::<i32>()),
        (DataType::Bigint, _) => Col::Bigint(array.as_primitive()),
        (DataType::Double, _) => Col::Double(array.as_primitive()),
        (DataType::Bool, _) => Col::Bool(array.as_boolean()),
        (DataType::Timestamp, _) => Col::Timestamp(array.as_primitive()),
        (DataType::Date, _) => Col::Date(array.as_primitive()),
        (DataType::Time, _) => Col::Time(array.as_primitive()),
        (DataType::Decimal | DataType::Wei, ArrowType::Decimal128(_, s)) => {
            Col::Decimal(array.as_primitive(), *s)
        }
        (DataType::Binary, _) => Col::Binary(array.as_binary::<i32>()),
        (_, other) => {
            return Err(Error::internal(format!(
                "column {} of type {dt} arrived as Arrow {other}",
                column.name
            )));
        }
    })
}

#[inline]
fn put_len(buf: &mut BytesMut, len: usize) {
    buf.put_i32(len as i32);
}

fn encode_value(col: &Col<'_>, row: usize, buf: &mut BytesMut, scratch: &mut String) {
    macro_rules! null_or {
        ($a:expr) => {
            if $a.is_null(row) {
                buf.put_i32(-1);
                return;
            }
        };
    }
    match col {
        Col::Null => buf.put_i32(-1),
        Col::Text(a) => {
            null_or!(a);
            let v = a.value(row).as_bytes();
            put_len(buf, v.len());
            buf.put_slice(v);
        }
        Col::Json(a) => {
            null_or!(a);
            let v = a.value(row).as_bytes();
            put_len(buf, v.len() + 1);
            buf.put_u8(1); // jsonb binary format version
            buf.put_slice(v);
        }
        Col::Bigint(a) => {
            null_or!(a);
            buf.put_i32(8);
            buf.put_i64(a.value(row));
        }
        Col::Double(a) => {
            null_or!(a);
            buf.put_i32(8);
            buf.put_f64(a.value(row));
        }
        Col::Bool(a) => {
            null_or!(a);
            buf.put_i32(1);
            buf.put_u8(a.value(row) as u8);
        }
        Col::Timestamp(a) => {
            null_or!(a);
            buf.put_i32(8);
            buf.put_i64(a.value(row).saturating_sub(PG_EPOCH_OFFSET_US));
        }
        Col::Date(a) => {
            null_or!(a);
            buf.put_i32(4);
            buf.put_i32(a.value(row).saturating_sub(PG_EPOCH_OFFSET_DAYS));
        }
        Col::Time(a) => {
            null_or!(a);
            buf.put_i32(8);
            buf.put_i64(a.value(row));
        }
        Col::Decimal(a, scale) => {
            null_or!(a);
            encode_numeric(a.value(row), *scale, buf, scratch);
        }
        Col::Binary(a) => {
            null_or!(a);
            let v = a.value(row);
            put_len(buf, v.len());
            buf.put_slice(v);
        }
    }
}

/// Encode a scaled integer (`value / 10^scale`) as a Postgres binary `numeric`, length included.
pub(crate) fn encode_numeric(value: i128, scale: i8, buf: &mut BytesMut, scratch: &mut String) {
    scratch.clear();
    let _ = write!(scratch, "{}", value.unsigned_abs());
    if scale < 0 {
        scratch.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
    }
    let s = scale.max(0) as usize;
    let digits = scratch.as_bytes();
    let (int_part, frac_part): (&[u8], &[u8]) = if digits.len() > s {
        digits.split_at(digits.len() - s)
    } else {
        (&[], digits)
    };
    // Base-10000 groups aligned on the decimal point.
    let mut groups: [i16; 16] = [0; 16];
    let mut n = 0usize;
    let int_groups = int_part.len().div_ceil(4);
    let lead = int_groups * 4 - int_part.len();
    let mut acc = 0i16;
    let mut k = lead;
    for &d in int_part {
        acc = acc * 10 + (d - b'0') as i16;
        k += 1;
        if k.is_multiple_of(4) {
            groups[n] = acc;
            n += 1;
            acc = 0;
        }
    }
    // Fractional digits: `s` of them, of which the value shows the last `frac_part.len()`.
    let frac_zeros = s - frac_part.len();
    let mut k = 0usize;
    acc = 0;
    for d in std::iter::repeat_n(0u8, frac_zeros).chain(frac_part.iter().map(|d| d - b'0')) {
        acc = acc * 10 + d as i16;
        k += 1;
        if k.is_multiple_of(4) {
            groups[n] = acc;
            n += 1;
            acc = 0;
        }
    }
    if !k.is_multiple_of(4) {
        for _ in k % 4..4 {
            acc *= 10;
        }
        groups[n] = acc;
        n += 1;
    }
    let mut weight = int_groups as i16 - 1;
    let mut start = 0;
    while start < n && groups[start] == 0 {
        start += 1;
        weight -= 1;
    }
    let mut end = n;
    while end > start && groups[end - 1] == 0 {
        end -= 1;
    }
    let ndigits = end - start;
    let (weight, sign) = if ndigits == 0 {
        (0, 0x0000u16)
    } else if value < 0 {
        (weight, 0x4000)
    } else {
        (weight, 0x0000)
    };
    buf.put_i32(8 + 2 * ndigits as i32);
    buf.put_i16(ndigits as i16);
    buf.put_i16(weight);
    buf.put_u16(sign);
    buf.put_i16(s as i16);
    for g in &groups[start..end] {
        buf.put_i16(*g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(value: i128, scale: i8) -> Vec<i16> {
        let mut buf = BytesMut::new();
        encode_numeric(value, scale, &mut buf, &mut String::new());
        buf[4..]
            .chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect()
    }

    #[test]
    fn numeric_encoding_matches_postgres() {
        // 12345.678 at scale 3: groups 1 2345 6780, weight 1.
        assert_eq!(numeric(12_345_678, 3), vec![3, 1, 0, 3, 1, 2345, 6780]);
        // -0.5 at scale 9: one group 5000, weight -1.
        assert_eq!(numeric(-500_000_000, 9), vec![1, -1, 0x4000, 9, 5000]);
        // 0 at scale 9.
        assert_eq!(numeric(0, 9), vec![0, 0, 0, 9]);
        // 10000 at scale 0: group 1, weight 1 (trailing zero group stripped).
        assert_eq!(numeric(10_000, 0), vec![1, 1, 0, 0, 1]);
        // 0.0001 at scale 4.
        assert_eq!(numeric(1, 4), vec![1, -1, 0, 4, 1]);
        // 0.00000001 at scale 9: groups 0000 0001 0000 -> weight -2, group 1.
        assert_eq!(numeric(10, 9), vec![1, -2, 0, 9, 1]);
    }
}
