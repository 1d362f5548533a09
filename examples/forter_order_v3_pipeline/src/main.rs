//! The Forter pipeline of dlt's "Forter Python API" guide, written with sluice's Rust API.
//!
//! It builds the Forter source for a few order ids (read from an order store such as the local
//! server; each is then sent to Forter for its decision, and a status update per order), a
//! pipeline named `forter_order_v3_pipeline`
//! loading into the dataset `forter_order_v3_data` of an embedded DuckDB database
//! (`./forter_order_v3_pipeline.duckdb`), runs it and prints the load info — the same steps as
//! the guide's Python `forter_order_v3_pipeline.py`, and as `sluice run
//! examples/forter_order_v3_pipeline.toml`.
//!
//! Credentials come from `.sluice/secrets.toml` (or `.dlt/secrets.toml`) in the current
//! directory:
//!
//! ```toml
//! [sources.forter_order_v3_source]
//! api_key = "..."   # Forter portal: API key (HTTP Basic user, empty password)
//! site_id = "..."   # Forter portal: site id (x-forter-siteid header)
//! # base_url = "http://127.0.0.1:PORT"   # e.g. the local Forter-compatible server
//! ```
//!
//! or from `SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY`, `…__SITE_ID` (and `…__BASE_URL`).
//! Run it with:
//!
//! ```sh
//! cargo run -p forter_order_v3_pipeline
//! ```
//!
//! Against the local server (`cargo run -p sluice-integration-tests --bin forter-api -- --port 8787`), set
//! `SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL` to its address and use its test key and site id.

use sluice::pipeline::{Pipeline, PipelineOptions};
use sluice_core::ConfigProvider;
use sluice_forter::{ForterConfig, ForterResource, PushConfig, forter_source};

/// The secrets section (`[sources.forter_order_v3_source]`) and source name.
const SOURCE_NAME: &str = "forter_order_v3_source";

/// The orders to load (as in `examples/forter_order_v3_pipeline.toml`).
const ORDER_IDS: [&str; 5] = [
    "100000001",
    "100000002",
    "100000003",
    "100000004",
    "100000005",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Credentials: [sources.forter_order_v3_source] in .sluice/secrets.toml, or the environment.
    let config = ConfigProvider::load(&std::env::current_dir()?)?;
    let secrets = config.section(&["sources", SOURCE_NAME]);

    // The source: orders (with nested cart items and payments); each order sent to Forter
    // (`POST v3/orders/{orderId}`) for its decision; a status update per order
    // (`POST v2/status/{orderId}`) built from the order by a body template.
    let from_orders = |body: Option<toml::Value>| PushConfig {
        from: Some("orders".to_string()),
        body,
        ..PushConfig::default()
    };
    let status_body: toml::Value = toml::from_str::<toml::Table>(
        r#"body = { orderId = "{item.orderId}", eventTime = "{item.timeSentToForter}", updatedStatus = "PROCESSING" }"#,
    )?["body"]
        .clone();
    let source = forter_source(
        SOURCE_NAME,
        ForterConfig {
            order_ids: ORDER_IDS.iter().map(|s| s.to_string()).collect(),
            resources: Some(vec![
                ForterResource::Orders,
                ForterResource::Decisions,
                ForterResource::OrderStatus,
            ]),
            decisions: Some(from_orders(None)),
            order_status: Some(from_orders(Some(status_body))),
            ..ForterConfig::default()
        },
        &secrets,
    )?;

    // The pipeline: dlt.pipeline(pipeline_name=..., destination="duckdb", dataset_name=...).
    let mut options = PipelineOptions::new("forter_order_v3_pipeline", "duckdb");
    options.dataset_name = Some("forter_order_v3_data".to_string());
    options.config = Some(config);
    let mut pipeline = Pipeline::new(&sluice::registry(), options)?;

    // load_info = pipeline.run(source); print(load_info)
    let info = pipeline.run(Box::new(source)).await?;
    println!("{info}");
    Ok(())
}
