//! The same file through `sluice load-file --destination X` lands with the same tables and
//! row counts in every destination whose service is available (`make test` starts them all).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn orders_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/orders.json")
}

/// Load the sample orders into `destination` and return `table -> rows` from `pipeline show`.
fn load_and_count(dir: &Path, destination: &str, env: &[(&str, String)]) -> BTreeMap<String, u64> {
    let name = format!("same_{destination}");
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.current_dir(dir)
            .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{destination}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let file = orders_file();
    let dataset = format!("same_{destination}_{}", std::process::id());
    run(&[
        "load-file",
        file.to_str().unwrap(),
        "--table",
        "orders",
        "--destination",
        destination,
        "--pipeline-name",
        &name,
        "--dataset",
        &dataset,
    ]);
    let shown = run(&["pipeline", &name, "show", "--text", "--rows", "0"]);
    shown
        .lines()
        .filter_map(|l| l.strip_suffix(" row(s)"))
        .map(|l| {
            let (t, n) = l.rsplit_once(": ").unwrap();
            (t.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn every_destination_holds_the_same_tables_and_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = load_and_count(tmp.path(), "duckdb", &[]);
    assert_eq!(reference.get("orders"), Some(&50), "{reference:?}");
    assert!(
        reference.get("orders__cart_items").is_some_and(|n| *n > 50),
        "{reference:?}"
    );
    assert!(reference.contains_key("orders__payment"), "{reference:?}");

    let files = tmp.path().join("lake");
    let fs = load_and_count(
        tmp.path(),
        "filesystem",
        &[(
            "DESTINATION__FILESYSTEM__BUCKET_URL",
            files.display().to_string(),
        )],
    );
    assert_eq!(fs, reference, "filesystem");

    if let Some(url) = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the postgres comparison",
    ) {
        let pg = load_and_count(
            tmp.path(),
            "postgres",
            &[("DESTINATION__POSTGRES__CREDENTIALS", url)],
        );
        assert_eq!(pg, reference, "postgres");
    }
    if let Some(url) = sluice_core::test_support::service_url(
        "SLUICE_TEST_SNOWFLAKE_URL",
        "the snowflake comparison",
    ) {
        let sf = load_and_count(
            tmp.path(),
            "snowflake",
            &[
                ("DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL", url),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE",
                    "sluice_test".to_string(),
                ),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME",
                    "sluice".to_string(),
                ),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD",
                    "unused-by-fakesnow".to_string(),
                ),
                (
                    "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST",
                    "local".to_string(),
                ),
            ],
        );
        assert_eq!(sf, reference, "snowflake");
    }
    if let Some(endpoint) = sluice_core::test_support::service_url(
        "SLUICE_TEST_BIGQUERY_ENDPOINT",
        "the bigquery comparison",
    ) {
        let bq = load_and_count(
            tmp.path(),
            "bigquery",
            &[
                ("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint),
                (
                    "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
                    "test-project".to_string(),
                ),
            ],
        );
        assert_eq!(bq, reference, "bigquery");
    }
}
