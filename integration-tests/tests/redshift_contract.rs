//! The destination contract suite (trait level) against the Redshift destination on its
//! Postgres stand-in: a fresh database of the server `make test` starts
//! (`SLUICE_TEST_POSTGRES_URL`), prepared by `sluice_redshift::stand_in` so the SQL the
//! destination sends runs unchanged. Upsert is skipped by the capabilities (not a Redshift
//! strategy in dlt).

use sluice_core::ConfigProvider;
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

/// The stand-in database, created once per test process (each case has its own dataset).
static STAND_IN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn target() -> Option<ContractTarget> {
    let admin = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the redshift contract suite (on its Postgres stand-in)",
    )?;
    let url = STAND_IN
        .get_or_init(|| async {
            let name = format!("sluice_rs_contract_{}", std::process::id());
            sluice_redshift::stand_in::prepare_database(&admin, &name)
                .await
                .expect("the redshift stand-in database")
        })
        .await
        .clone();
    let section = ConfigProvider::empty()
        .with_env([("DESTINATION__REDSHIFT__CREDENTIALS", url)])
        .section(&["destination", "redshift"]);
    Some(ContractTarget::new(
        Arc::new(sluice_redshift::RedshiftFactory::new()),
        section,
    ))
}

sluice_integration_tests::contract_tests!(match target().await {
    Some(t) => t,
    None => return,
});
