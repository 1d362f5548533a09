//! Embedding sluice in a Rust program: run a source into a destination picked by name, then
//! query the loaded dataset as Arrow batches. `cargo run -p embed_library -- [ORDERS.json]`
//! loads `examples/data/orders.json` (50 Forter-style orders) into DuckDB in the current folder.

use anyhow::Context;
use arrow::util::display::array_value_to_string;
use sluice::core::{ResourceHints, WriteDisposition};
use sluice::pipeline::{FileSource, Pipeline, PipelineOptions};
use std::path::Path;

/// What one run loaded and what the dataset holds afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Rows written by this run, over all tables.
    pub rows_loaded: u64,
    /// Rows in the `orders` table.
    pub orders: u64,
    /// Rows in the nested `orders__cart_items` table.
    pub cart_items: u64,
    /// The most expensive order's id (a query over the loaded data).
    pub top_order: String,
}

/// Load `orders_json` into DuckDB under `workdir` (pipeline `embedded_orders`, merged on
/// `order_id`, so a second run updates instead of duplicating), then query it.
pub async fn run(orders_json: &Path, workdir: &Path) -> anyhow::Result<Summary> {
    let mut options = PipelineOptions::new("embedded_orders", "duckdb");
    options.pipelines_dir = Some(workdir.join("pipelines"));
    options.working_dir = Some(workdir.to_path_buf());

    // The destination is chosen by name from the registry of built-in destinations; a
    // program may register its own factories into this registry first.
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;

    let mut hints = ResourceHints::new("orders");
    hints.write_disposition = WriteDisposition::Merge;
    hints.primary_key = vec!["orderId".into()]; // as the API names it, like dlt
    let source = FileSource::new("orders", vec![orders_json.to_path_buf()]).with_hints(hints);
    let info = pipeline
        .run(Box::new(source))
        .await
        .with_context(|| format!("loading {}", orders_json.display()))?;

    let mut dataset = pipeline.dataset().await?;
    let orders = dataset.row_count("orders").await?;
    let cart_items = dataset.row_count("orders__cart_items").await?;
    let sql = format!(
        "SELECT {id} FROM {t} ORDER BY CAST({amount} AS DOUBLE) DESC LIMIT 1",
        id = dataset.quote("order_id"),
        amount = dataset.quote("total_amount__amount_usd"),
        t = dataset.qualified_table("orders"),
    );
    let batches = dataset.query(&sql).await?;
    let top_order = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| array_value_to_string(b.column(0), 0))
        .transpose()?
        .context("the orders table is empty")?;
    Ok(Summary {
        rows_loaded: info.rows_per_table().values().sum(),
        orders,
        cart_items,
        top_order,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loads_queries_and_merges_on_a_second_run() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/orders.json");
        let dir = tempfile::tempdir().unwrap();
        let first = run(&data, dir.path()).await.unwrap();
        assert_eq!(first.orders, 50);
        assert!(first.cart_items >= 50, "{first:?}");
        assert!(first.top_order.starts_with("ORD-"), "{first:?}");
        assert!(first.rows_loaded > first.orders);
        // Merged on order_id: the same file again updates the rows, it does not add any.
        let second = run(&data, dir.path()).await.unwrap();
        assert_eq!((second.orders, second.cart_items), (50, first.cart_items));
        assert_eq!(second.top_order, first.top_order);
        assert!(dir.path().join("embedded_orders.duckdb").exists());
    }
}
