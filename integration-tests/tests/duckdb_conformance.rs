//! The conformance suite against the embedded DuckDB destination.

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

fn target() -> Target {
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_duckdb::DuckDbFactory));
    Target {
        registry,
        destination: "duckdb".into(),
        config: ConfigProvider::empty(),
        skip: &[],
    }
}

sluice_integration_tests::conformance_tests!(target());

/// An error a destination returns reaches the user with the destination's name in front,
/// once: the pipeline names it, destinations do not name themselves.
#[tokio::test]
async fn destination_errors_name_the_destination_once() {
    let dir = tempfile::tempdir().unwrap();
    // A folder where the database file should be: DuckDB cannot open it.
    let not_a_file = dir.path().join("a_folder.duckdb");
    std::fs::create_dir_all(&not_a_file).unwrap();
    let mut t = target();
    t.config = ConfigProvider::empty().with_env([(
        "DESTINATION__DUCKDB__CREDENTIALS",
        not_a_file.display().to_string(),
    )]);
    let case = sluice_integration_tests::conformance::Case::new(&t, "named_errors");
    let hints = sluice_core::ResourceHints::new("orders");
    let e = case
        .load(serde_json::json!([{"id": 1}]), hints)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(e.matches("destination duckdb").count(), 1, "{e}");
    assert!(e.starts_with("destination duckdb: "), "{e}");
    assert!(!e.contains("duckdb: duckdb"), "{e}");
}
