//! The destination contract suite (trait level) against a real Postgres
//! (`SLUICE_TEST_POSTGRES_URL`, set by `make test`). Without the variable every case prints a
//! notice and passes without running.

use sluice_core::ConfigProvider;
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

fn target() -> Option<ContractTarget> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the postgres contract suite",
    )?;
    let section = ConfigProvider::empty()
        .with_env([("DESTINATION__POSTGRES__CREDENTIALS", url)])
        .section(&["destination", "postgres"]);
    Some(ContractTarget::new(
        Arc::new(sluice_postgres::PostgresFactory),
        section,
    ))
}

sluice_integration_tests::contract_tests!(match target() {
    Some(t) => t,
    None => return,
});
