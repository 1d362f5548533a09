//! The REST fan-out benchmark of issue 3: N child requests (default 10 000) against an endpoint
//! with a fixed latency (default 20 ms) under a rate limit (default 500 req/s). Prints the wall
//! time, the time the rate limit alone implies, requests/s and the peak RSS of this process.
//!
//! `cargo run -p sluice-integration-tests --bin rest-bench -- [N] [LATENCY_MS] [RATE]` (`make bench-rest`)

use futures::StreamExt;
use serde_json::json;
use sluice_core::{ConfigSection, Source, SourceEvent};
use sluice_integration_tests::rest_server::RestServer;
use sluice_rest::{RestApiConfig, RestApiSource};
use std::sync::atomic::Ordering;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() -> sluice_core::Result<()> {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric arguments: N LATENCY_MS RATE"))
        .collect();
    let n = args.first().copied().unwrap_or(10_000);
    let latency = args.get(1).copied().unwrap_or(20);
    let rate = args.get(2).copied().unwrap_or(500);
    let server = RestServer::start().await;
    server.state.latency_ms.store(latency, Ordering::Relaxed);
    let config = RestApiConfig::from_json(&json!({
        "client": {"base_url": server.url()},
        "rate_limit": rate,
        "max_concurrency": 64,
        "resources": [
            {"name": "ids", "endpoint": {"path": "bench/ids", "params": {"count": n},
                "data_selector": "data", "paginator": {"type": "json_link", "next_url_path": "next"}}},
            {"name": "items", "endpoint": {"path": "slow_items/{resources.ids.id}"}}
        ]
    }))?;
    let source = Box::new(RestApiSource::new(
        "bench",
        config,
        &ConfigSection::default(),
    )?);
    let started = Instant::now();
    let mut stream = source.extract(serde_json::Value::Null);
    let mut items = 0u64;
    let mut rss_samples = Vec::new();
    while let Some(event) = stream.next().await {
        if let SourceEvent::Page {
            resource,
            items: page,
        } = event?
            && resource == "items"
        {
            items += page.len() as u64;
            if items.is_multiple_of(1000) {
                rss_samples.push(peak_rss_mb());
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests = server.requests();
    println!("child items        {items} (expected {n})");
    println!("requests           {requests}");
    println!("wall time          {elapsed:.2} s");
    println!(
        "rate-limit bound   {:.2} s ({requests} requests at {rate} req/s)",
        requests as f64 / rate as f64
    );
    println!("throughput         {:.0} req/s", requests as f64 / elapsed);
    println!(
        "peak RSS           {:.1} MB (samples every 1000 items: {:?})",
        peak_rss_mb(),
        rss_samples
            .iter()
            .map(|v| format!("{v:.1}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(items, n, "every child item arrives exactly once");
    Ok(())
}
