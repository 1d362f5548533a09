//! `sluice run` against an API that misbehaves: whatever the shape of the failure, the run exits
//! non-zero with a message naming the resource and the URL (without the API key), and nothing
//! of the run is loaded or left pending as if it were complete.

use sluice_integration_tests::rest_server::RestServer;
use std::path::Path;
use std::process::Command;

const KEY: &str = "k-hostile-31337";

fn pipeline_file(dir: &Path, base_url: &str, bad_path: &str) -> std::path::PathBuf {
    let p = dir.join("hostile.toml");
    std::fs::write(
        &p,
        format!(
            r#"[pipeline]
name = "hostile"

[source]
type = "rest_api"
name = "hostile"
max_attempts = 1

[source.client]
base_url = "{base_url}"
auth = {{ type = "api_key", name = "api_key", location = "query" }}

[[source.resources]]
name = "good"
endpoint = {{ path = "items/json_link", paginator = {{ type = "json_link", next_url_path = "next" }} }}

[[source.resources]]
name = "bad"
endpoint = {{ path = "{bad_path}", paginator = {{ type = "json_link", next_url_path = "next" }}, data_selector = "data" }}
"#
        ),
    )
    .unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_shape_is_an_error_and_nothing_is_loaded() {
    let server = RestServer::start().await;
    for (bad_path, says) in [
        ("hostile/empty_200", "empty body"),
        ("hostile/loop", "pagination loops"),
        ("hostile/invalid_utf8", "not valid UTF-8"),
        ("hostile/deep?depth=5000", "nested deeper"),
        ("hostile/echo_key", "404"),
        ("status/500", "500"),
        ("html", "not JSON"),
        ("truncated", "truncated"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let file = pipeline_file(tmp.path(), &server.url(), bad_path);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(tmp.path())
            .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
            .env_remove("DESTINATION__DUCKDB__CREDENTIALS")
            .env_remove("SLUICE_FAILPOINT")
            .env("SOURCES__HOSTILE__API_KEY", KEY)
            .args(["run", "--verbose"])
            .arg(&file);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{bad_path}: {stdout}\n{stderr}");
        let first_path = bad_path.split('?').next().unwrap();
        assert!(
            stderr.contains("'bad'") && stderr.contains(first_path) && stderr.contains(says),
            "{bad_path}: {stderr}"
        );
        assert!(
            !stderr.contains(KEY) && !stdout.contains(KEY),
            "{bad_path}: the key leaked: {stderr}"
        );
        let packages = tmp.path().join("pipelines/hostile/packages");
        for sub in ["normalized", "loaded"] {
            let n = std::fs::read_dir(packages.join(sub))
                .map(|d| d.count())
                .unwrap_or(0);
            assert_eq!(n, 0, "{bad_path}: a package in {sub}");
        }
        let db = tmp.path().join("hostile.duckdb");
        if db.exists() {
            let conn = duckdb::Connection::open(&db).unwrap();
            let tables: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_name IN ('good', 'bad')",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(tables, 0, "{bad_path}: rows were loaded");
        }
    }
}
