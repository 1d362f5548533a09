//! The Forter pipeline file and `sluice check` end to end, against the in-process
//! Forter-compatible server (`sluice_integration_tests::forter_server`).

use sluice_integration_tests::forter_server::{
    self as fs, ForterServer, ForterServerConfig, cart_item_count, payment_count,
    recommendation_count,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `examples/forter_order_v3_pipeline.toml` of the repository.
fn example_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/forter_order_v3_pipeline.toml")
}

/// `sluice` in `dir` with the Forter credentials of the environment pointing at `url`.
fn sluice(dir: &Path, url: &str, key: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY", key)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID", fs::SITE_ID)
        .env("SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL", url);
    c
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_pipeline_file_loads_exact_row_counts() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut cmd = sluice(tmp.path(), &server.url(), fs::API_KEY);
    cmd.arg("run").arg(example_file());
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "1 load package(s) were loaded to destination duckdb and into dataset forter_order_v3_data"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains(fs::API_KEY) && !stderr.contains(fs::API_KEY));
    // A GET per order, then a POST per order for its decision and one for its status.
    assert_eq!(server.requests(), 15);
    assert_eq!(server.received("/v3/orders/").len(), 5);
    assert_eq!(server.received("/v2/status/").len(), 5);

    // The same counts as the Rust example (examples/forter_order_v3_pipeline/tests/example.rs).
    let sum = |f: fn(u64) -> u64| (1..=5).map(f).sum::<u64>() as i64;
    assert_eq!(
        (
            sum(cart_item_count),
            sum(payment_count),
            sum(recommendation_count)
        ),
        (11, 6, 4)
    );
    let conn =
        duckdb::Connection::open(tmp.path().join("forter_order_v3_pipeline.duckdb")).unwrap();
    for (table, rows) in [
        ("orders", 5),
        ("orders__cart_items", 11),
        ("orders__payment", 6),
        ("orders__primary_recipient__phone", 5),
        ("orders__recommendations", 4),
        ("order_status", 5),
        ("decisions", 5),
    ] {
        let n: i64 = conn
            .query_row(
                &format!("SELECT COUNT(*) FROM forter_order_v3_data.{table}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, rows, "{table}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_validates_credentials() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();

    let mut cmd = sluice(tmp.path(), &server.url(), fs::API_KEY);
    cmd.arg("check").arg(example_file());
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Credentials OK for source forter_order_v3_source"),
        "{stdout}"
    );
    assert!(stdout.contains("Destination duckdb OK"), "{stdout}");
    // Only the credentials test was requested: no orders were read.
    assert_eq!(server.requests(), 1);

    let wrong = "wrong-forter-key-123";
    let mut cmd = sluice(tmp.path(), &server.url(), wrong);
    cmd.arg("check").arg(example_file());
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(
        stderr.contains("forter_order_v3_source"),
        "the error names the source: {stderr}"
    );
    assert!(!stdout.contains("Credentials OK"), "{stdout}");
    assert!(
        !stdout.contains(wrong) && !stderr.contains(wrong),
        "the key must not be printed: {stdout}\n{stderr}"
    );

    // Missing credentials: says where to put them, and no request is made.
    let before = server.requests();
    let mut cmd = sluice(tmp.path(), &server.url(), "");
    cmd.arg("check")
        .arg(example_file())
        .env_remove("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY");
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
        "{stderr}"
    );
    assert_eq!(server.requests(), before);
}

/// `pipeline NAME show --rows 0` as `table -> rows`.
fn shown_counts(stdout: &str) -> std::collections::BTreeMap<String, u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_suffix(" row(s)"))
        .filter_map(|l| l.rsplit_once(": "))
        .map(|(t, n)| (t.to_string(), n.parse().unwrap()))
        .collect()
}

/// The Forter example lands with the same tables and row counts in every destination whose
/// local stand-in is running (`make test` starts them all) as in DuckDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forter_example_loads_the_same_into_every_destination() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut targets: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("duckdb", vec![]),
        (
            "filesystem",
            vec![(
                "DESTINATION__FILESYSTEM__BUCKET_URL",
                tmp.path().join("lake").display().to_string(),
            )],
        ),
    ];
    if let Some(url) = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the forter example into postgres",
    ) {
        targets.push((
            "postgres",
            vec![("DESTINATION__POSTGRES__CREDENTIALS", url)],
        ));
    }
    if let Some(url) = sluice_core::test_support::service_url(
        "SLUICE_TEST_SNOWFLAKE_URL",
        "the forter example into snowflake",
    ) {
        targets.push((
            "snowflake",
            vec![
                ("DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL", url),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE",
                    "sluice_forter".into(),
                ),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME",
                    "sluice".into(),
                ),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD",
                    "unused-by-fakesnow".into(),
                ),
                ("DESTINATION__SNOWFLAKE__CREDENTIALS__HOST", "local".into()),
            ],
        ));
    }
    if let Some(endpoint) = sluice_core::test_support::service_url(
        "SLUICE_TEST_BIGQUERY_ENDPOINT",
        "the forter example into bigquery",
    ) {
        targets.push((
            "bigquery",
            vec![
                ("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint),
                (
                    "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
                    "test-project".into(),
                ),
            ],
        ));
    }
    let mut reference = None;
    for (destination, env) in targets {
        let pipeline = format!("forter_{destination}");
        let dataset = format!("forter_{destination}_{}", std::process::id());
        let mut cmd = sluice(tmp.path(), &server.url(), fs::API_KEY);
        cmd.arg("run")
            .arg(example_file())
            .args([
                "--destination",
                destination,
                "--pipeline-name",
                &pipeline,
                "--dataset",
                &dataset,
            ])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = output(cmd).await;
        assert!(
            out.status.success(),
            "{destination}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cmd = sluice(tmp.path(), &server.url(), fs::API_KEY);
        cmd.args(["pipeline", &pipeline, "show", "--text", "--rows", "0"])
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        let out = output(cmd).await;
        assert!(
            out.status.success(),
            "{destination}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let counts = shown_counts(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(counts.get("orders"), Some(&5), "{destination}: {counts:?}");
        match &reference {
            None => reference = Some(counts),
            Some(r) => assert_eq!(&counts, r, "{destination} differs from duckdb"),
        }
    }
}

/// A second run of a pipeline that is running stops at once with a message naming the run
/// that holds it; the first run is not disturbed, and a run after it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_of_a_running_pipeline_is_refused() {
    let server = ForterServer::start(ForterServerConfig::default())
        .await
        .unwrap();
    // Slow answers (under the example's 2 s timeout) keep the first run going for seconds.
    server
        .faults()
        .delay_ms
        .store(800, std::sync::atomic::Ordering::Relaxed);
    let tmp = tempfile::tempdir().unwrap();
    let mut first = sluice(tmp.path(), &server.url(), fs::API_KEY);
    first
        .arg("run")
        .arg(example_file())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let first = first.spawn().unwrap();
    let lock = tmp.path().join("pipelines/forter_order_v3_pipeline.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&lock).is_ok_and(|s| s.contains("pid")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first run never took the lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut second = sluice(tmp.path(), &server.url(), fs::API_KEY);
    second.arg("run").arg(example_file());
    let out = output(second).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("pipeline forter_order_v3_pipeline is in use by another run (host ")
            && stderr.contains(&format!("pid {}", first.id())),
        "{stderr}"
    );
    let out = tokio::task::spawn_blocking(move || first.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the first run is not disturbed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn =
        duckdb::Connection::open(tmp.path().join("forter_order_v3_pipeline.duckdb")).unwrap();
    let orders: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM forter_order_v3_data.orders",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orders, 5);
    drop(conn);
    // The lock is gone with the first run: the next run works.
    server
        .faults()
        .delay_ms
        .store(0, std::sync::atomic::Ordering::Relaxed);
    let mut third = sluice(tmp.path(), &server.url(), fs::API_KEY);
    third.arg("run").arg(example_file());
    let out = output(third).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
