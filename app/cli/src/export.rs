//! Writing a query result to a file (`sluice query --output FILE`): Parquet, JSON lines, CSV or
//! a text table. The file is written under a temporary name and renamed when complete, so a
//! reader never sees half a file.

use crate::args::QueryFormat;
use anyhow::Context;
use arrow::record_batch::RecordBatch;
use sluice_core::parquet_io::ParquetFileWriter;
use std::io::Write;
use std::path::Path;

/// Write `batches` to `path` in `format`; returns the rows written.
pub fn write(batches: &[RecordBatch], format: QueryFormat, path: &Path) -> anyhow::Result<u64> {
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    if format == QueryFormat::Parquet {
        let schema = batches
            .first()
            .map(RecordBatch::schema)
            .context("the query returned no columns: there is nothing to write as Parquet")?;
        let mut writer = ParquetFileWriter::create(path, schema)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for b in batches {
            writer
                .write(b)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        writer.finish()?;
        return Ok(rows);
    }
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    match format {
        QueryFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        QueryFormat::Json | QueryFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        QueryFormat::Table | QueryFormat::Parquet => {
            writeln!(
                out,
                "{}",
                arrow::util::pretty::pretty_format_batches(batches)?
            )?;
        }
    }
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(rows)
}
