//! `sluice query`: run SQL on a pipeline's dataset; print the result or export it to a file.

use crate::args::{QueryArgs, QueryFormat};
use crate::output::Format;
use sluice_pipeline::Pipeline;

/// Run SQL on the pipeline's dataset and print it, or write it to `--output`.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    if args.format == QueryFormat::Parquet && args.output.is_none() {
        anyhow::bail!("--format parquet writes a binary file: pass --output FILE");
    }
    let pipeline = Pipeline::open(
        &sluice::registry(),
        &args.pipeline,
        args.pipelines_dir.as_deref(),
    )?;
    let mut dataset = pipeline.dataset().await?;
    let sql = args.sql.replace("{dataset}", &dataset.quoted_name());
    let batches = dataset.query(&sql).await?;
    match &args.output {
        Some(path) => {
            let rows = crate::export::write(&batches, args.format, path)?;
            println!("Wrote {rows} row(s) to {}", path.display());
            Ok(())
        }
        None => {
            let format = match args.format {
                QueryFormat::Table => Format::Table,
                QueryFormat::Csv => Format::Csv,
                QueryFormat::Json | QueryFormat::Jsonl | QueryFormat::Parquet => Format::Json,
            };
            crate::output::print_batches(&batches, format)
        }
    }
}
