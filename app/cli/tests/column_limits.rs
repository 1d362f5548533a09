//! A table wider than the destination allows fails the run before its package is committed,
//! naming the table, the count and the limit; nothing is left pending to fail every later run.

use std::process::Command;

#[test]
fn a_table_wider_than_postgres_allows_fails_before_the_package_is_committed() {
    let Some(url) =
        sluice_core::test_support::service_url("SLUICE_TEST_POSTGRES_URL", "the column limit test")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let wide: serde_json::Map<String, serde_json::Value> = (0..2000)
        .map(|i| (format!("k{i}"), serde_json::json!(i)))
        .collect();
    let rows = serde_json::json!([{"id": 1, "attrs": wide}]);
    let file = tmp.path().join("wide.json");
    std::fs::write(&file, serde_json::to_vec(&rows).unwrap()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(tmp.path())
        .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("DESTINATION__POSTGRES__CREDENTIALS", &url)
        .args([
            "load-file",
            "--table",
            "wide_limit",
            "--destination",
            "postgres",
        ])
        .args([
            "--pipeline-name",
            "column_limit",
            "--dataset",
            "column_limit_data",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "table wide_limit would have 2003 columns, more than the 1600 a postgres table can hold"
        ),
        "{stderr}"
    );
    let pending = tmp
        .path()
        .join("pipelines/column_limit/packages/normalized");
    let n = std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 0, "no package is left pending");
}

/// Orders that each carry one object of 10 000 keys, as a file.
fn wide_orders(dir: &std::path::Path, orders: usize) -> std::path::PathBuf {
    let rows: Vec<serde_json::Value> = (0..orders)
        .map(|o| {
            let attrs: serde_json::Map<String, serde_json::Value> = (0..10_000)
                .map(|i| (format!("k{i}"), serde_json::json!(o * 10_000 + i)))
                .collect();
            serde_json::json!({"id": o, "attrs": attrs})
        })
        .collect();
    let file = dir.join("wide.json");
    std::fs::write(&file, serde_json::to_vec(&rows).unwrap()).unwrap();
    file
}

/// 10 000 columns load into DuckDB and into Parquet files (the speed is shown by `make bench`
/// and the README; this proves the rows and columns arrive), and BigQuery's limit of 10 000
/// refuses the table before anything is committed.
#[test]
fn ten_thousand_columns_load_into_duckdb_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let file = wide_orders(tmp.path(), 2);
    let lake = tmp.path().join("lake");
    for (destination, extra) in [
        ("duckdb", None),
        (
            "filesystem",
            Some((
                "DESTINATION__FILESYSTEM__BUCKET_URL",
                lake.to_str().unwrap(),
            )),
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.current_dir(tmp.path())
            .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
            .env_remove("SLUICE_FAILPOINT")
            .args(["load-file", "--table", "wide", "--destination", destination])
            .args(["--pipeline-name", &format!("wide_{destination}")])
            .arg(&file);
        if let Some((k, v)) = extra {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{destination}: {stderr}");
        let count = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .current_dir(tmp.path())
            .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
            .env_remove("SLUICE_FAILPOINT")
            .args(["query", &format!("wide_{destination}")])
            .arg(
                "SELECT COUNT(*) AS n, SUM(attrs__k9999) AS s, SUM(attrs__k0) AS z FROM {dataset}.wide",
            )
            .args(["--format", "csv"])
            .env("DESTINATION__FILESYSTEM__BUCKET_URL", lake.to_str().unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&count.stdout);
        assert!(
            count.status.success(),
            "{destination}: {}",
            String::from_utf8_lossy(&count.stderr)
        );
        // 2 rows; k9999 holds 9 999 and 19 999; k0 holds 0 and 10 000.
        assert!(stdout.contains("2,29998,10000"), "{destination}: {stdout}");
    }
}

#[test]
fn ten_thousand_columns_exceed_bigquerys_limit_before_anything_is_committed() {
    let Some(endpoint) = sluice_core::test_support::service_url(
        "SLUICE_TEST_BIGQUERY_ENDPOINT",
        "the bigquery column limit test",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = wide_orders(tmp.path(), 1);
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(tmp.path())
        .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .env("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint)
        .env(
            "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
            "test-project",
        )
        .args(["load-file", "--table", "wide", "--destination", "bigquery"])
        .args(["--pipeline-name", "wide_bq"])
        .args(["--dataset", &format!("wide_bq_{}", std::process::id())])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "table wide would have 10003 columns, more than the 10000 a bigquery table can hold"
        ),
        "{stderr}"
    );
    let pending = tmp.path().join("pipelines/wide_bq/packages/normalized");
    let n = std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0);
    assert_eq!(n, 0, "no package is left pending");
}
