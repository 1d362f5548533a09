//! `sluice query`.

use crate::args::QueryArgs;
use sluice_pipeline::Pipeline;

/// Run SQL on the pipeline's dataset and print it.
pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let pipeline = Pipeline::open(
        &sluice::registry(),
        &args.pipeline,
        args.pipelines_dir.as_deref(),
    )?;
    let mut dataset = pipeline.dataset().await?;
    let sql = args.sql.replace("{dataset}", &dataset.quoted_name());
    let batches = dataset.query(&sql).await?;
    crate::output::print_batches(&batches, args.format)
}
