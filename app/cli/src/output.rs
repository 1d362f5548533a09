//! Printing Arrow batches as a table, CSV or JSON lines.

use arrow::record_batch::RecordBatch;
use clap::ValueEnum;
use std::io::Write;

/// Output formats for query results.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// A pretty table.
    Table,
    /// CSV with a header.
    Csv,
    /// One JSON object per line.
    Json,
}

/// Print `batches` to stdout in `format`.
pub fn print_batches(batches: &[RecordBatch], format: Format) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            if batches.iter().all(|b| b.num_rows() == 0) {
                let cols: Vec<String> = batches
                    .first()
                    .map(|b| {
                        b.schema()
                            .fields()
                            .iter()
                            .map(|f| f.name().clone())
                            .collect()
                    })
                    .unwrap_or_default();
                writeln!(out, "(no rows) columns: {}", cols.join(", "))?;
            } else {
                writeln!(
                    out,
                    "{}",
                    arrow::util::pretty::pretty_format_batches(batches)?
                )?;
            }
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}
