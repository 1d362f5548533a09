//! The Forter example (`examples/forter_order_v3_pipeline.toml`) run by `sluice run
//! --destination redshift` against the Redshift stand-in (a fresh database of the Postgres
//! server `make test` starts, prepared by `sluice::redshift::stand_in`), and against DuckDB:
//! the same tables, row counts and rows. Runs twice into Redshift: the second run merges the
//! same orders again and must not duplicate them.
#![cfg(feature = "redshift")]

mod forter_example;

use forter_example::load;
use sluice_integration_tests::forter_server::{ForterServer, ForterServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forter_example_loads_the_same_into_redshift_as_into_duckdb() {
    let Some(admin) = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the forter example into redshift (on its Postgres stand-in)",
    ) else {
        return;
    };
    let name = format!("sluice_rs_forter_{}", std::process::id());
    let db = sluice::redshift::stand_in::prepare_database(&admin, &name)
        .await
        .unwrap();
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (reference, reference_rows) = load(tmp.path(), &server.url(), "duckdb", &[], 1).await;
    assert_eq!(reference.get("orders"), Some(&5), "{reference:?}");
    let env = [("DESTINATION__REDSHIFT__CREDENTIALS", db)];
    let (counts, rows) = load(tmp.path(), &server.url(), "redshift", &env, 2).await;
    assert_eq!(counts, reference, "redshift differs from duckdb");
    assert_eq!(rows, reference_rows, "redshift differs from duckdb");
    sluice::redshift::stand_in::drop_database(&admin, &name)
        .await
        .unwrap();
}
