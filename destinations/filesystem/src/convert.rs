//! Package Parquet files converted to JSONL or CSV, batch by batch, into an upload (Parquet
//! files are copied as they are).

use crate::upload::Upload;
use arrow::record_batch::RecordBatch;
use sluice_core::capabilities::FileFormat;
use sluice_core::{Error, Result};
use std::path::Path;

/// Convert a package Parquet file to JSONL or CSV, batch by batch, into an upload.
pub(crate) async fn convert_into(file: &Path, format: FileFormat, up: &mut Upload) -> Result<()> {
    let reader = sluice_core::parquet_io::read_parquet(file, 8192)?;
    let mut first = true;
    for batch in reader {
        let batch = batch?;
        let buf = encode_batch(&batch, format, first)?;
        first = false;
        up.write(&buf).await?;
    }
    if first && format == FileFormat::Csv {
        // An empty file still gets its header.
        let schema = parquet_schema(file)?;
        let buf = encode_batch(&RecordBatch::new_empty(schema), format, true)?;
        up.write(&buf).await?;
    }
    Ok(())
}

fn parquet_schema(file: &Path) -> Result<arrow::datatypes::SchemaRef> {
    let f = std::fs::File::open(file).map_err(|e| {
        Error::storage(format!("cannot open the load file {}", file.display())).with_source(e)
    })?;
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)?;
    Ok(b.schema().clone())
}

fn encode_batch(batch: &RecordBatch, format: FileFormat, header: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        FileFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(batch)?;
            w.finish()?;
        }
        FileFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(&mut buf);
            w.write(batch)?;
        }
        FileFormat::Parquet => {
            return Err(Error::internal("Parquet files are copied, not converted"));
        }
    }
    Ok(buf)
}
