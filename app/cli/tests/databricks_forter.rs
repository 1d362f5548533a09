//! The Forter example (`examples/forter_order_v3_pipeline.toml`) run by `sluice run
//! --destination databricks` against the Databricks stand-in (MiniLake, started by `make test`)
//! and against DuckDB. MiniLake cannot run `COPY INTO` or `CREATE VOLUME`, so:
//! - with `loader_file_format = "insert_values"` (dlt's path without staging) the example loads
//!   all its tables, with the same row counts and rows as DuckDB, twice (the second run merges
//!   the same orders and must not duplicate them);
//! - with the default staged Parquet path the run gets as far as MiniLake allows and stops with
//!   MiniLake's error for the staging volume, non-zero, without recording a load.
#![cfg(feature = "databricks")]

mod forter_example;

use forter_example::{example_file, load, run};
use sluice_integration_tests::forter_server::{ForterServer, ForterServerConfig};

/// The catalog the test loads into.
const CATALOG: &str = "sluice_cli_forter";

/// The stand-in's connection settings as environment variables.
async fn standin_env(url: &str) -> Vec<(&'static str, String)> {
    let warehouse = sluice::databricks::stand_in::warehouse(url)
        .await
        .expect("a warehouse on the stand-in");
    sluice::databricks::stand_in::catalog(url, CATALOG)
        .await
        .expect("a catalog on the stand-in");
    vec![
        (
            "DESTINATION__DATABRICKS__CREDENTIALS__SERVER_HOSTNAME",
            url.to_string(),
        ),
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
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forter_example_loads_into_databricks_as_far_as_the_stand_in_allows() {
    let Some(url) = sluice_core::test_support::service_url(
        "SLUICE_TEST_DATABRICKS_STANDIN_URL",
        "the forter example into databricks (on MiniLake)",
    ) else {
        return;
    };
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (reference, reference_rows) = load(tmp.path(), &server.url(), "duckdb", &[], 1).await;
    assert_eq!(reference.get("orders"), Some(&5), "{reference:?}");

    // insert_values: everything MiniLake can run, the same as DuckDB, twice without duplicates.
    let mut env = standin_env(&url).await;
    env.push((
        "DESTINATION__DATABRICKS__LOADER_FILE_FORMAT",
        "insert_values".to_string(),
    ));
    let (counts, rows) = load(tmp.path(), &server.url(), "databricks", &env, 2).await;
    assert_eq!(counts, reference, "databricks differs from duckdb");
    assert_eq!(rows, reference_rows, "databricks differs from duckdb");

    // The default staged Parquet path: MiniLake stops at the staging volume. The run fails
    // with that error, names the destination, and records no load.
    let env = standin_env(&url).await;
    let dataset = format!("forter_staged_{}", std::process::id());
    let example = example_file();
    let out = run(
        tmp.path(),
        &server.url(),
        &env,
        &[
            "run",
            example.to_str().unwrap(),
            "--destination",
            "databricks",
            "--pipeline-name",
            "forter_staged",
            "--dataset",
            &dataset,
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("destination databricks") && stderr.contains("VOLUME"),
        "{stderr}"
    );
    assert!(
        stderr.contains("stays pending"),
        "the package is kept for the next run: {stderr}"
    );
}
