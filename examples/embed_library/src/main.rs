//! `cargo run -p embed_library -- [ORDERS.json]`: see the library docs.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let input = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../data/orders.json").into());
    let summary = embed_library::run(input.as_ref(), &std::env::current_dir()?).await?;
    println!(
        "loaded {} rows: {} orders, {} cart items; the largest order is {}",
        summary.rows_loaded, summary.orders, summary.cart_items, summary.top_order
    );
    Ok(())
}
