//! The conformance suite against the Redshift destination on its Postgres stand-in: a fresh
//! database of the server `make test` starts (`SLUICE_TEST_POSTGRES_URL`), prepared by
//! `sluice_redshift::stand_in` (`super` and `varbinary` as domains, `JSON_PARSE`, `FROM_HEX`,
//! backslash escapes in literals as on Redshift), so the SQL the destination sends runs
//! unchanged. What only a real cluster shows is in the README ("Redshift: what was tested
//! against what") and in `destinations/redshift/tests/live.rs`.

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

/// The stand-in database, created once per test process (each case loads its own dataset).
static STAND_IN: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn target() -> Option<Target> {
    let admin = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the redshift conformance suite (on its Postgres stand-in)",
    )?;
    let url = STAND_IN
        .get_or_init(|| async {
            let name = format!("sluice_rs_conformance_{}", std::process::id());
            sluice_redshift::stand_in::prepare_database(&admin, &name)
                .await
                .expect("the redshift stand-in database")
        })
        .await
        .clone();
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_redshift::RedshiftFactory::new()));
    Some(Target {
        registry,
        destination: "redshift".into(),
        config: ConfigProvider::empty().with_env([("DESTINATION__REDSHIFT__CREDENTIALS", url)]),
        skip: &[(
            "upsert_hard_delete",
            "Redshift merges with delete-insert only (dlt supports delete-insert and scd2 there); upsert is not in its capabilities",
        )],
    })
}

sluice_integration_tests::conformance_tests!(match target().await {
    Some(t) => t,
    None => return,
});
