//! The destination contract suite (trait level) against a Snowflake protocol peer (fakesnow in
//! server mode, `SLUICE_TEST_SNOWFLAKE_URL`, set by `make test`). Without the variable every
//! case prints a notice and passes without running.

use sluice_core::ConfigProvider;
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

fn target() -> Option<ContractTarget> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_SNOWFLAKE_URL",
        "the snowflake contract suite",
    )?;
    let section = ConfigProvider::empty()
        .with_env([
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE",
                "SLUICE_CONTRACT",
            ),
            ("DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME", "loader"),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD",
                "not-checked",
            ),
            ("DESTINATION__SNOWFLAKE__CREDENTIALS__HOST", "local"),
            (
                "DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL",
                url.as_str(),
            ),
        ])
        .section(&["destination", "snowflake"]);
    Some(
        ContractTarget::new(Arc::new(sluice_snowflake::SnowflakeFactory), section).skip(
            "merge_upsert",
            "fakesnow cannot run MERGE inside a transaction (its emulation writes a second \
             DuckDB database) and sluice loads a package in one: upsert on Snowflake is not \
             tested here",
        ),
    )
}

sluice_integration_tests::contract_tests!(match target() {
    Some(t) => t,
    None => return,
});
