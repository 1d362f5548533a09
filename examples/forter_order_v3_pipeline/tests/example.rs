//! The example binary end to end: against the in-process Forter-compatible server, into the
//! embedded DuckDB file of its working directory, with the same row counts as `sluice run
//! examples/forter_order_v3_pipeline.toml` (see `app/cli/tests/forter_cli.rs`).

use sluice_integration_tests::forter_server::{
    self as fs, ForterServer, ForterServerConfig, cart_item_count, payment_count,
    recommendation_count,
};
use std::process::Command;

/// Rows expected per table for the example's five orders (ids 100000001..=100000005).
fn expected() -> Vec<(&'static str, i64)> {
    let sum = |f: fn(u64) -> u64| (1..=5).map(f).sum::<u64>() as i64;
    // Hand-counted: cart items 2+3+1+2+3, payments 1+1+1+2+1, recommendations 1+0+2+0+1.
    assert_eq!(sum(cart_item_count), 11);
    assert_eq!(sum(payment_count), 6);
    assert_eq!(sum(recommendation_count), 4);
    vec![
        ("orders", 5),
        ("orders__cart_items", 11),
        ("orders__payment", 6),
        ("orders__primary_recipient__phone", 5),
        ("orders__recommendations", 4),
        ("order_status", 5),
        ("decisions", 5),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_binary_loads_the_orders_into_duckdb() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_forter_order_v3_pipeline"));
    cmd.current_dir(tmp.path())
        .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", fs::API_KEY)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", fs::SITE_ID)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", server.url());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "1 load package(s) were loaded to destination duckdb and into dataset forter_order_v3_data"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains(fs::API_KEY) && !stderr.contains(fs::API_KEY));
    // One GET per order, then per order one POST for its decision and one for its status.
    assert_eq!(server.requests(), 15);
    // The decisions were asked for with the orders themselves, the statuses with the template.
    let sent = server.received("/v3/orders/");
    assert_eq!(sent.len(), 5);
    for r in &sent {
        let id = r.path.trim_start_matches("/v3/orders/");
        let i: u64 = id.parse::<u64>().unwrap() - fs::FIRST_ORDER_ID;
        assert_eq!(r.body, fs::order(i), "{id}");
    }
    for r in server.received("/v2/status/") {
        let id = r.path.trim_start_matches("/v2/status/");
        let i: u64 = id.parse::<u64>().unwrap() - fs::FIRST_ORDER_ID;
        assert_eq!(
            r.body,
            serde_json::json!({"orderId": id, "eventTime": fs::order(i)["timeSentToForter"], "updatedStatus": "PROCESSING"})
        );
    }

    let conn =
        duckdb::Connection::open(tmp.path().join("forter_order_v3_pipeline.duckdb")).unwrap();
    let keyed: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM forter_order_v3_data.decisions WHERE _orders_order_id = order_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(keyed, 5, "each decision carries its request's key");
    for (table, rows) in expected() {
        let n: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM forter_order_v3_data.{table}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, rows, "{table}");
    }
}
