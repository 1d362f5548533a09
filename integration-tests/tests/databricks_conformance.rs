//! The conformance suite (whole pipelines) against the Databricks destination on its local
//! stand-in, MiniLake (`SLUICE_TEST_DATABRICKS_STANDIN_URL`, set by `make test`). MiniLake runs
//! the SQL on DuckDB and cannot run `COPY INTO`, so the pipelines load with
//! `loader_file_format = "insert_values"`; the staged Parquet path is checked in
//! `destinations/databricks/tests/minilake.rs`.

use sluice_core::{ConfigProvider, Registry};
use sluice_integration_tests::conformance::Target;
use std::sync::Arc;

/// The catalog the suite loads into.
const CATALOG: &str = "sluice_conformance";

async fn target() -> Option<Target> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_DATABRICKS_STANDIN_URL",
        "the databricks conformance suite (on MiniLake)",
    )?;
    let warehouse = sluice_databricks::stand_in::warehouse(&url)
        .await
        .expect("a warehouse on the stand-in");
    sluice_databricks::stand_in::catalog(&url, CATALOG)
        .await
        .expect("a catalog on the stand-in");
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_databricks::DatabricksFactory));
    Some(Target {
        registry,
        destination: "databricks".into(),
        skip: &[],
        config: ConfigProvider::empty().with_env([
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
        ]),
    })
}

sluice_integration_tests::conformance_tests!(match target().await {
    Some(t) => t,
    None => return,
});
