//! A Redshift load killed in the middle (the process aborts, as with `kill -9`) is completed
//! by the next run without duplicates, on the Redshift stand-in (a fresh database of the
//! Postgres server `make test` starts, prepared by `sluice::redshift::stand_in`). The file is
//! appended, so a package loaded twice would show as duplicate rows.
#![cfg(feature = "redshift")]

use std::path::Path;
use std::process::{Command, Output};

fn orders_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/orders.json")
}

/// `sluice args…` in `dir` against the stand-in at `url`, with `SLUICE_FAILPOINT` = `failpoint`.
fn sluice(dir: &Path, url: &str, failpoint: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env("DESTINATION__REDSHIFT__CREDENTIALS", url)
        .env_remove("SLUICE_FAILPOINT")
        .args(args);
    if let Some(f) = failpoint {
        c.env("SLUICE_FAILPOINT", f);
    }
    c.output().unwrap()
}

/// The single number a `sluice query` of one count prints.
fn count(dir: &Path, url: &str, sql: &str) -> u64 {
    let out = sluice(dir, url, None, &["query", "crash", sql]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter_map(|l| l.trim().trim_matches('|').trim().parse().ok())
        .next()
        .unwrap_or_else(|| panic!("no count in {text}"))
}

#[test]
fn a_killed_load_is_completed_by_the_rerun_without_duplicates() {
    let Some(admin) = sluice_core::test_support::service_url(
        "SLUICE_TEST_POSTGRES_URL",
        "the redshift crash test (on its Postgres stand-in)",
    ) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let name = format!("sluice_rs_crash_{}", std::process::id());
    let url = rt
        .block_on(sluice::redshift::stand_in::prepare_database(&admin, &name))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let file = orders_file();
    let load = [
        "load-file",
        file.to_str().unwrap(),
        "--table",
        "orders",
        "--destination",
        "redshift",
        "--pipeline-name",
        "crash",
        "--dataset",
        "crash_data",
    ];
    // Killed after the first table chain was sent, inside the load's transaction.
    let out = sluice(tmp.path(), &url, Some("after_write_chain"), &load);
    assert!(!out.status.success(), "the fail point aborts the run");
    // The rerun loads the pending package and is killed after Redshift committed it, before
    // the package is marked loaded locally.
    let out = sluice(tmp.path(), &url, Some("after_load_commit"), &load);
    assert!(!out.status.success(), "the fail point aborts the run");
    // The next run finds the package recorded in _dlt_loads and does not load it again.
    let out = sluice(tmp.path(), &url, None, &load);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // And one more ordinary run appends one more copy.
    let out = sluice(tmp.path(), &url, None, &load);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let loads = count(
        tmp.path(),
        &url,
        "SELECT COUNT(*) FROM {dataset}._dlt_loads",
    );
    let distinct = count(
        tmp.path(),
        &url,
        "SELECT COUNT(DISTINCT load_id) FROM {dataset}._dlt_loads",
    );
    let rows = count(tmp.path(), &url, "SELECT COUNT(*) FROM {dataset}.orders");
    assert_eq!(loads, distinct, "a load id is recorded once");
    assert!(loads >= 2, "{loads} loads");
    assert_eq!(
        rows,
        50 * loads,
        "each completed load holds exactly one copy"
    );
    rt.block_on(sluice::redshift::stand_in::drop_database(&admin, &name))
        .unwrap();
}
