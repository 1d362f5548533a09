//! The destination contract suite (trait level) against the Databricks destination on its local
//! stand-in, MiniLake (`SLUICE_TEST_DATABRICKS_STANDIN_URL`, set by `make test`): the Statement
//! Execution API for real, with DuckDB running the SQL. MiniLake cannot run `COPY INTO`, so the
//! suite loads with `loader_file_format = "insert_values"` (rows as `INSERT … VALUES`); the
//! staged Parquet path is checked in `destinations/databricks/tests/minilake.rs`. The cases
//! about rolled back loads are skipped by the capabilities (Databricks has no multi-statement
//! transactions).

use sluice_core::ConfigProvider;
use sluice_integration_tests::contract::ContractTarget;
use std::sync::Arc;

/// The catalog the suite loads into.
const CATALOG: &str = "sluice_contract";

async fn target() -> Option<ContractTarget> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_DATABRICKS_STANDIN_URL",
        "the databricks contract suite (on MiniLake)",
    )?;
    let warehouse = sluice_databricks::stand_in::warehouse(&url)
        .await
        .expect("a warehouse on the stand-in");
    sluice_databricks::stand_in::catalog(&url, CATALOG)
        .await
        .expect("a catalog on the stand-in");
    let section = ConfigProvider::empty()
        .with_env([
            (
                "DESTINATION__DATABRICKS__LOADER_FILE_FORMAT",
                "insert_values".to_string(),
            ),
            ("DESTINATION__DATABRICKS__CREDENTIALS__SERVER_HOSTNAME", url),
            (
                "DESTINATION__DATABRICKS__CREDENTIALS__WAREHOUSE_ID",
                warehouse,
            ),
            (
                "DESTINATION__DATABRICKS__CREDENTIALS__CATALOG",
                CATALOG.to_string(),
            ),
            (
                "DESTINATION__DATABRICKS__CREDENTIALS__ACCESS_TOKEN",
                "not-checked-by-minilake".to_string(),
            ),
        ])
        .section(&["destination", "databricks"]);
    Some(
        ContractTarget::new(Arc::new(sluice_databricks::DatabricksFactory), section)
            .with_label("databricks (MiniLake, insert_values)"),
    )
}

sluice_integration_tests::contract_tests!(match target().await {
    Some(t) => t,
    None => return,
});
