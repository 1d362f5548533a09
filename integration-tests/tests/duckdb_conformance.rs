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
