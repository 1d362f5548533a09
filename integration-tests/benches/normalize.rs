//! The normalizer alone on the benchmark's Forter orders (the pages `make bench` loads): a page of
//! 1 000 nested orders as JSON text, parsed and normalized into dlt's relational layout (Arrow
//! batches of the root table and its nested tables). Reports MB/s of JSON and rows/s.
//!
//! `cargo bench --workspace --bench normalize` (part of `make bench`).

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use serde_json::Value;
use sluice_core::{ResourceHints, Schema};
use sluice_integration_tests::forter_server::order;
use sluice_normalize::{Normalizer, NormalizerConfig};

const ORDERS: u64 = 1_000;

fn main() {
    divan::main();
}

/// The page's JSON text.
fn page() -> Vec<u8> {
    let orders: Vec<Value> = (1..=ORDERS).map(order).collect();
    serde_json::to_vec(&orders).expect("JSON")
}

/// Normalize `items`; returns the rows produced (all tables).
fn normalize(items: &[Value]) -> u64 {
    let mut norm = Normalizer::new(Schema::new("bench"), "1", NormalizerConfig::default());
    let root = norm
        .add_resource(&ResourceHints::new("orders"))
        .expect("resource");
    let mut batches = 0;
    for item in items {
        norm.push(&root, item).expect("push");
        batches += norm.take_ready().len();
    }
    batches += norm.flush().expect("flush").len();
    divan::black_box(batches);
    norm.stats().rows.values().sum()
}

/// JSON text to Arrow batches: parsing and normalizing.
#[divan::bench]
fn parse_and_normalize(bencher: Bencher) {
    let text = page();
    let rows = normalize(&serde_json::from_slice::<Vec<Value>>(&text).expect("JSON"));
    bencher
        .counter(BytesCount::new(text.len()))
        .counter(ItemsCount::new(rows))
        .bench(|| {
            let items: Vec<Value> = serde_json::from_slice(&text).expect("JSON");
            normalize(&items)
        });
}

/// Parsed JSON values to Arrow batches.
#[divan::bench]
fn normalize_only(bencher: Bencher) {
    let items: Vec<Value> = serde_json::from_slice(&page()).expect("JSON");
    let rows = normalize(&items);
    bencher
        .counter(ItemsCount::new(rows))
        .bench(|| normalize(&items));
}

/// JSON text to `serde_json::Value`s only.
#[divan::bench]
fn parse_only(bencher: Bencher) {
    let text = page();
    bencher
        .counter(BytesCount::new(text.len()))
        .bench(|| serde_json::from_slice::<Vec<Value>>(&text).expect("JSON"));
}
