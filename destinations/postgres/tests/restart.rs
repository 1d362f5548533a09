//! A Postgres server restart in the middle of a load: nothing is committed, the error is
//! transient, and the rerun loads the package exactly once. Uses a private server (started with
//! `scripts/services/postgres.sh` in its own folder) so restarting it does not disturb other tests.

mod common;

use arrow::array::{ArrayRef, Int64Array, StringArray};
use common::*;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{Column, DataType, ErrorKind, MergeStrategy, Schema, Table, WriteDisposition};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/services/postgres.sh"
);

fn script(services_dir: &Path, command: &str) -> String {
    let out = Command::new("bash")
        .arg(SCRIPT)
        .arg(command)
        .env("SLUICE_SERVICES_DIR", services_dir)
        .env_remove("SLUICE_TEST_POSTGRES_URL")
        .output()
        .expect("run postgres.sh");
    assert!(
        out.status.success(),
        "postgres.sh {command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Stops the private server when the test ends, also on failure.
struct PrivateServer(tempfile::TempDir);

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(SCRIPT)
            .arg("stop")
            .env("SLUICE_SERVICES_DIR", self.0.path())
            .env_remove("SLUICE_TEST_POSTGRES_URL")
            .output();
    }
}

#[tokio::test]
async fn server_restart_mid_load_then_rerun_loads_exactly_once() {
    // Runs where the test services run (`make test` sets the shared server's URL).
    if pg_url("server_restart_mid_load_then_rerun_loads_exactly_once").is_none() {
        return;
    }
    let server = PrivateServer(tempfile::tempdir().unwrap());
    let export = script(server.0.path(), "start");
    let url = export
        .trim()
        .strip_prefix("export SLUICE_TEST_POSTGRES_URL=")
        .expect("the script prints the URL")
        .to_string();

    let mut schema = Schema::new("shop");
    schema.tables.insert(
        "items".into(),
        Table::new("items")
            .with_column(Column::new("id", DataType::Bigint).not_null())
            .with_column(Column::new("name", DataType::Text))
            .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
            .with_column(Column::new(C_DLT_ID, DataType::Text).not_null()),
    );
    schema.bump_version();
    let table = schema.table("items").unwrap().clone();
    let n: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..n).map(|x| format!("name {x}")).collect();
    let file = parquet(
        dir.path(),
        "big",
        &table,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)) as ArrayRef,
            Arc::new(StringArray::from(names.clone())),
            Arc::new(StringArray::from(vec!["R1"; n as usize])),
            Arc::new(StringArray::from(names)),
        ],
    );
    let c = chain(
        "R1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![file], n as u64),
        vec![],
    );

    let ds = unique_dataset("restart");
    let mut dest = connect(&url, &ds).await;
    dest.initialize().await.unwrap();
    dest.begin_load("R1").await.unwrap();
    dest.apply_schema_changes(&schema.changes_since(&Schema::new("shop")))
        .await
        .unwrap();
    assert_eq!(dest.write_chain(&c).await.unwrap(), n as u64);

    // The server restarts while the package's transaction is open and uncommitted.
    script(server.0.path(), "restart");

    let err = dest
        .commit_load(&sluice_core::LoadCommit {
            load_id: "R1".into(),
            schema: schema.clone(),
            state: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    let _ = dest.abort_load().await;

    let mut admin = connect(&url, &ds).await;
    assert!(!admin.is_loaded("R1").await.unwrap());
    // The rerun loads the package exactly once, and a second attempt writes nothing.
    let loaded = load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "R1",
        std::slice::from_ref(&c),
        None,
    )
    .await
    .unwrap();
    assert_eq!(loaded, n as u64);
    let again = load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "R1",
        &[c],
        None,
    )
    .await
    .unwrap();
    assert_eq!(again, 0);
    assert_eq!(
        scalar(
            admin.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\".items")
        )
        .await,
        n.to_string()
    );
    assert_eq!(
        scalar(
            admin.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\"._dlt_loads")
        )
        .await,
        "1"
    );
}
