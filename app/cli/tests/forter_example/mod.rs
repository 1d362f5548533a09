//! Running the Forter example (`examples/forter_order_v3_pipeline.toml`) with the `sluice`
//! binary against the local Forter-compatible server, for the tests that compare a warehouse
//! with DuckDB.

#![allow(dead_code)]

use sluice_integration_tests::forter_server as fs;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/forter_order_v3_pipeline.toml")
}

/// Run `sluice args…` in `dir` with the Forter source pointed at `url`; its stdout.
pub async fn sluice(dir: &Path, url: &str, env: &[(&str, String)], args: &[&str]) -> String {
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
pub async fn run(
    dir: &Path,
    url: &str,
    env: &[(&str, String)],
    args: &[&str],
) -> std::process::Output {
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
pub fn shown_counts(stdout: &str) -> BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" row(s)"))
        .filter_map(|l| l.rsplit_once(": "))
        .map(|(t, n)| (t.to_string(), n.parse().unwrap()))
        .collect()
}

/// Load the example into `destination` (`runs` times) and return its table counts and the
/// orders with their decision, as `sluice query` prints them.
pub async fn load(
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
