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
