//! The Forter example (`examples/forter_order_v3_pipeline.toml`) run by `sluice run
//! --destination databricks` against the Databricks stand-in (MiniLake, started by `make test`)
//! and against DuckDB. MiniLake cannot run `COPY INTO` or `CREATE VOLUME`, so:
//! - with `loader_file_format = "insert_values"` (dlt's path without staging) the example loads
//!   all its tables, with the same row counts and rows as DuckDB, twice (the second run merges
//!   the same orders and must not duplicate them);
//! - with the default staged Parquet path the run gets as far as MiniLake allows and stops with
//!   MiniLake's error for the staging volume, non-zero, without recording a load.
#![cfg(feature = "databricks")]

use sluice_integration_tests::forter_server::{self as fs, ForterServer, ForterServerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The catalog the test loads into.
const CATALOG: &str = "sluice_cli_forter";

fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/forter_order_v3_pipeline.toml")
}

/// Run `sluice args…` in `dir` with the Forter source pointed at `url`; its stdout.
async fn sluice(dir: &Path, url: &str, env: &[(&str, String)], args: &[&str]) -> String {
    let out = run(dir, url, env, args).await;
    assert!(
        out.status.success(),
        "sluice {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Run `sluice args…` in `dir` with the Forter source pointed at `url`.
async fn run(dir: &Path, url: &str, env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", fs::API_KEY)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", fs::SITE_ID)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    c.args(&args);
    tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap()
}

/// `pipeline NAME show --rows 0` as `table -> rows`.
fn shown_counts(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" row(s)"))
        .filter_map(|l| l.rsplit_once(": "))
        .map(|(t, n)| (t.to_string(), n.parse().unwrap()))
        .collect()
}

/// Load the example into `destination` (`runs` times) and return its table counts and the
/// orders with their decision, as `sluice query` prints them.
async fn load(
    dir: &Path,
    url: &str,
    destination: &str,
    env: &[(&str, String)],
    runs: usize,
) -> (BTreeMap<String, u64>, String) {
    let pipeline = format!("forter_{destination}");
    let dataset = format!("forter_{destination}_{}", std::process::id());
    let example = example_file();
    let run = [
        "run",
        example.to_str().unwrap(),
        "--destination",
        destination,
        "--pipeline-name",
        &pipeline,
        "--dataset",
        &dataset,
    ];
    for _ in 0..runs {
        sluice(dir, url, env, &run).await;
    }
    let shown = sluice(
        dir,
        url,
        env,
        &["pipeline", &pipeline, "show", "--text", "--rows", "0"],
    )
    .await;
    let rows = sluice(
        dir,
        url,
        env,
        &[
            "query",
            &pipeline,
            "SELECT o.order_id, d.forter_decision FROM {dataset}.orders o JOIN {dataset}.decisions d ON d.order_id = o.order_id ORDER BY o.order_id",
        ],
    )
    .await;
    (shown_counts(&shown), rows)
}

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
