//! The conformance suite against a Snowflake protocol peer (fakesnow in server mode,
//! `SLUICE_TEST_SNOWFLAKE_URL`, set by `make test`).

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

fn target() -> Option<Target> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_SNOWFLAKE_URL",
        "the snowflake conformance suite",
    )?;
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_snowflake::SnowflakeFactory));
    Some(Target {
        registry,
        destination: "snowflake".into(),
        skip: &[(
            "upsert_hard_delete",
            "fakesnow cannot run MERGE inside a transaction (its emulation writes a second DuckDB \
             database) and sluice loads a package in one: upsert on Snowflake is not tested here",
        )],
        config: ConfigProvider::empty().with_env([
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE",
                "SLUICE_CONFORMANCE".to_string(),
            ),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME",
                "loader".to_string(),
            ),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD",
                "not-checked".to_string(),
            ),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST",
                "local".to_string(),
            ),
            ("DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL", url),
        ]),
    })
}

sluice_integration_tests::conformance_tests!(match target() {
    Some(t) => t,
    None => return,
});
