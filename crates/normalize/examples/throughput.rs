//! Rough normalizer throughput: `cargo run --release -p sluice-normalize --example throughput [N]`.

use serde_json::json;
use sluice_core::{ResourceHints, Schema};
use sluice_normalize::{Normalizer, NormalizerConfig};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500_000);
    let items: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            json!({
                "id": i,
                "orderId": format!("ord-{i}"),
                "createdAt": "2024-05-01T12:00:00Z",
                "amount": 12.5 + i as f64,
                "status": "approved",
                "customer": {"email": "a@example.com", "country": "NO", "vip": i % 7 == 0},
                "items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]
            })
        })
        .collect();
    let mut norm = Normalizer::new(Schema::new("bench"), "1", NormalizerConfig::default());
    let root = norm.add_resource(&ResourceHints::new("orders")).unwrap();
    let start = Instant::now();
    let mut batches = 0usize;
    for item in &items {
        norm.push(&root, item).unwrap();
        batches += norm.take_ready().len();
    }
    batches += norm.flush().unwrap().len();
    let secs = start.elapsed().as_secs_f64();
    let rows: u64 = norm.stats().rows.values().sum();
    println!(
        "{n} items, {rows} rows, {batches} batches in {secs:.3}s: {:.0} items/s, {:.0} rows/s",
        n as f64 / secs,
        rows as f64 / secs
    );
}
