//! The Forter example (`examples/forter_order_v3_pipeline.toml`) run by `sluice run
//! --destination redshift` against the Redshift stand-in (a fresh database of the Postgres
//! server `make test` starts, prepared by `sluice::redshift::stand_in`), and against DuckDB:
//! the same tables, row counts and rows. Runs twice into Redshift: the second run merges the
//! same orders again and must not duplicate them.
#![cfg(feature = "redshift")]

use sluice_integration_tests::forter_server::{self as fs, ForterServer, ForterServerConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/forter_order_v3_pipeline.toml")
}

/// Run `sluice args…` in `dir` with the Forter source pointed at `url`; its stdout.
async fn sluice(dir: &Path, url: &str, env: &[(&str, String)], args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", fs::API_KEY)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", fs::SITE_ID)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .args(args);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "sluice {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
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
