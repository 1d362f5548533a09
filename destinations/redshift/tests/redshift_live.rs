//! The Redshift destination against a real cluster, when `SLUICE_TEST_REDSHIFT_URL` is set
//! (`redshift://USER:PASSWORD@HOST:5439/DATABASE`). Optional everywhere, CI included: without
//! it the test prints a SKIPPED line and passes (a cluster is not something `make test` can
//! start; the stand-in suites always run).
//!
//! It runs the stand-in's scenario (`scenario/mod.rs`) in a fresh schema — every sluice type
//! loaded with merge (nested table, duplicate key), an added column and a replace cut into many
//! INSERTs, read back, every statement parsed with the Redshift dialect — and drops the schema.
//! This is what only a cluster shows: that Redshift itself accepts the DDL (`super`,
//! `varbinary`, `varchar(65535)`), the `JSON_PARSE` / `FROM_HEX` literals, the backslash
//! escapes, the merge statements, `LOCK` and the temp tables.

mod scenario;

use sluice_core::Destination;

#[tokio::test]
async fn the_scenario_runs_on_a_real_cluster() {
    let Some(url) = std::env::var("SLUICE_TEST_REDSHIFT_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    else {
        eprintln!(
            "SKIPPED the redshift live suite: SLUICE_TEST_REDSHIFT_URL is not set (optional: a real cluster)"
        );
        return;
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let dataset = format!("Sluice_Live_{}_{stamp}", std::process::id());
    scenario::every_type(&url, &dataset).await;
    let log = sluice_redshift::StatementLog::new();
    let mut dest = scenario::connect(&url, &dataset, &log).await;
    dest.query(&format!(
        "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
        dataset.to_lowercase()
    ))
    .await
    .unwrap();
}
