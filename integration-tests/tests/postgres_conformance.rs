//! The conformance suite against a real Postgres (`SLUICE_TEST_POSTGRES_URL`, set by `make test`).

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

fn target() -> Option<Target> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the postgres conformance suite",
    )?;
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_postgres::PostgresFactory));
    Some(Target {
        registry,
        destination: "postgres".into(),
        config: ConfigProvider::empty().with_env([("DESTINATION__POSTGRES__CREDENTIALS", url)]),
        skip: &[],
    })
}

sluice_integration_tests::conformance_tests!(match target() {
    Some(t) => t,
    None => return,
});
