//! The conformance suite against bqemulator, the local BigQuery stand-in
//! (`SLUICE_TEST_BIGQUERY_ENDPOINT`, started by `scripts/services/bqemulator.sh`; `make test`
//! sets it). Without the variable every case prints a notice and passes without running.

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

fn target() -> Option<Target> {
    let endpoint = sluice_core::test_support::service_url(
        "SLUICE_TEST_BIGQUERY_ENDPOINT",
        "the bigquery conformance suite",
    )?;
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_bigquery::BigQueryFactory));
    let config = ConfigProvider::empty().with_env([
        ("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint),
        (
            "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
            "test-project".to_string(),
        ),
    ]);
    Some(Target {
        registry,
        destination: "bigquery".into(),
        config,
        skip: &[],
    })
}

sluice_integration_tests::conformance_tests!({
    match target() {
        Some(t) => t,
        None => return,
    }
});
