//! A handle on a pipeline's dataset at its destination: query tables or SQL as Arrow batches.

use crate::table_query::TableQuery;
use arrow::record_batch::RecordBatch;
use sluice_core::sql::SqlDialect;
use sluice_core::{Destination, Result};

/// The loaded data of a pipeline, at its destination.
pub struct Dataset {
    destination: Box<dyn Destination>,
    dataset_name: String,
}

impl Dataset {
    /// Wrap a connected destination.
    pub fn new(destination: Box<dyn Destination>, dataset_name: String) -> Self {
        Self {
            destination,
            dataset_name,
        }
    }

    /// The dataset name.
    pub fn name(&self) -> &str {
        &self.dataset_name
    }

    /// Quote a column (or any) identifier the way the destination needs it.
    pub fn quote(&self, ident: &str) -> String {
        SqlDialect::new(self.destination.capabilities(), &self.dataset_name).quote(ident)
    }

    /// The quoted dataset name, for use in SQL.
    pub fn quoted_name(&self) -> String {
        SqlDialect::new(self.destination.capabilities(), &self.dataset_name).dataset()
    }

    /// The qualified, quoted name of a table, for use in SQL.
    pub fn qualified_table(&self, table: &str) -> String {
        SqlDialect::new(self.destination.capabilities(), &self.dataset_name).table(table)
    }

    /// A table of the dataset, to read with a column selection and a limit, all at once or as
    /// a stream of Arrow batches (dlt's `dataset().orders`):
    ///
    /// ```no_run
    /// # async fn demo(pipeline: &sluice_pipeline::Pipeline) -> sluice_core::Result<()> {
    /// let mut dataset = pipeline.dataset().await?;
    /// let first = dataset.table("orders").select(&["id", "status"]).limit(10).arrow().await?;
    /// let mut batches = dataset.table("orders").batches();
    /// while let Some(batch) = batches.next().await {
    ///     println!("{} rows", batch?.num_rows());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn table(&mut self, table: &str) -> TableQuery<'_> {
        TableQuery::new(self, table)
    }

    /// Run SQL and return the result.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.destination.query(sql).await
    }

    /// Number of rows in a table.
    pub async fn row_count(&mut self, table: &str) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", self.qualified_table(table));
        let batches = self.destination.query(&sql).await?;
        first_u64(&batches)
    }

    /// The destination behind the dataset.
    pub fn destination(&mut self) -> &mut dyn Destination {
        self.destination.as_mut()
    }
}

/// The first column of the first row as an unsigned integer (counts).
pub fn first_u64(batches: &[RecordBatch]) -> Result<u64> {
    use arrow::array::Array;
    use arrow::compute::cast;
    use arrow::datatypes::DataType;
    let b = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .ok_or_else(|| sluice_core::Error::internal("query returned no rows"))?;
    let col = cast(b.column(0), &DataType::Int64)?;
    let col = col
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("cast to Int64");
    if col.is_null(0) {
        return Ok(0);
    }
    Ok(col.value(0) as u64)
}
