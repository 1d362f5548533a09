//! The Databricks destination against a real workspace, when `SLUICE_TEST_DATABRICKS_HOST`
//! (the server hostname), `SLUICE_TEST_DATABRICKS_TOKEN` (a personal access token) and
//! `SLUICE_TEST_DATABRICKS_WAREHOUSE_ID` are set (`SLUICE_TEST_DATABRICKS_CATALOG`, default
//! `main`, names the catalog). Without them the test prints a notice and passes: no workspace is
//! part of `make test`, also not in CI.
//!
//! It runs what MiniLake cannot: the default `parquet` path (the staging volume created with
//! SQL, Files API uploads, `COPY INTO`), with append, replace and upsert, Databricks' own
//! answers for statements that fail (HTTP 200 and state `FAILED`), and the cleanup of staged
//! files. Each run uses its own schema and drops it at the end.

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{
    ChainDisposition, ChainJob, Column, ConfigProvider, DataType, Destination, DestinationConfig,
    LoadCommit, MergeStrategy, Schema, Table, TableJob,
};
use sluice_databricks::error::databricks_error;
use sluice_databricks::{DatabricksDestination, settings};
use std::sync::Arc;

fn live() -> Option<Vec<(String, String)>> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let (Some(host), Some(token), Some(warehouse)) = (
        get("SLUICE_TEST_DATABRICKS_HOST"),
        get("SLUICE_TEST_DATABRICKS_TOKEN"),
        get("SLUICE_TEST_DATABRICKS_WAREHOUSE_ID"),
    ) else {
        eprintln!(
            "SKIPPED the live databricks test: SLUICE_TEST_DATABRICKS_HOST, _TOKEN and \
             _WAREHOUSE_ID are not set (no workspace is part of make test)"
        );
        return None;
    };
    let catalog = get("SLUICE_TEST_DATABRICKS_CATALOG").unwrap_or_else(|| "main".into());
    Some(
        [
            ("SERVER_HOSTNAME", host),
            ("ACCESS_TOKEN", token),
            ("WAREHOUSE_ID", warehouse),
            ("CATALOG", catalog),
        ]
        .into_iter()
        .map(|(k, v)| (format!("DESTINATION__DATABRICKS__CREDENTIALS__{k}"), v))
        .collect(),
    )
}

fn table() -> Table {
    let mut t = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    t.merge_strategy = Some(MergeStrategy::Upsert);
    t
}

fn job(
    dir: &std::path::Path,
    load_id: &str,
    d: ChainDisposition,
    rows: &[(i64, &str)],
) -> ChainJob {
    let t = table();
    let path = dir.join(format!("orders.{load_id}.parquet"));
    let schema = arrow_schema(&t);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(vec![load_id; rows.len()])),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| format!("id{}", r.0))
                .collect::<Vec<_>>(),
        )),
    ];
    let mut w = ParquetFileWriter::create(&path, schema.clone()).unwrap();
    w.write(&RecordBatch::try_new(schema, columns).unwrap())
        .unwrap();
    w.finish().unwrap();
    ChainJob {
        load_id: load_id.into(),
        disposition: d,
        merge_strategy: MergeStrategy::Upsert,
        root: TableJob {
            table: t,
            files: vec![path],
            rows: rows.len() as u64,
        },
        nested: vec![],
        schema_name: "live".into(),
        scratch_dir: dir.join("scratch"),
    }
}

#[tokio::test]
async fn parquet_copy_into_append_replace_upsert_on_a_workspace() {
    let Some(env) = live() else { return };
    let dataset = format!("sluice_live_{}", std::process::id());
    let config = DestinationConfig {
        destination_name: "databricks".into(),
        pipeline_name: "live".into(),
        dataset_name: dataset.clone(),
        working_dir: std::env::temp_dir(),
        section: ConfigProvider::empty()
            .with_env(env)
            .section(&["destination", "databricks"]),
    };
    let mut d = DatabricksDestination::connect(settings(&config).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut schema = Schema::new("live");
    schema.tables.insert("orders".into(), table());
    schema.bump_version();
    let changes = schema.changes_since(&Schema::new("live"));
    d.check().await.unwrap();
    d.initialize().await.unwrap();
    let steps = [
        (
            "1.1",
            ChainDisposition::Append,
            vec![(1, "a"), (2, "it's \\ b")],
        ),
        ("1.2", ChainDisposition::Merge, vec![(2, "b2"), (3, "c")]),
        ("1.3", ChainDisposition::Replace, vec![(4, "d")]),
    ];
    let mut seen = Vec::new();
    for (load_id, disposition, rows) in steps {
        d.begin_load(load_id).await.unwrap();
        d.apply_schema_changes(&changes).await.unwrap();
        d.write_chain(&job(dir.path(), load_id, disposition, &rows))
            .await
            .unwrap();
        d.commit_load(&LoadCommit {
            load_id: load_id.into(),
            schema: schema.clone(),
            state: None,
        })
        .await
        .unwrap();
        assert!(d.is_loaded(load_id).await.unwrap());
        let batches = d
            .query(&format!(
                "SELECT id, name FROM `{dataset}`.orders ORDER BY id"
            ))
            .await
            .unwrap();
        let mut got = Vec::new();
        for b in &batches {
            for r in 0..b.num_rows() {
                got.push(format!(
                    "{}={}",
                    array_value_to_string(b.column(0), r).unwrap(),
                    array_value_to_string(b.column(1), r).unwrap()
                ));
            }
        }
        seen.push(got);
        // Staged files are gone after the commit.
        assert!(
            d.client()
                .list_directory(&d.load_folder(load_id))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(seen[0], ["1=a", "2=it's \\ b"]);
    assert_eq!(seen[1], ["1=a", "2=b2", "3=c"]);
    assert_eq!(seen[2], ["4=d"]);
    // Databricks answers a failing statement with HTTP 200 and state FAILED.
    let e = d.query("SELECT no_such_column").await.unwrap_err();
    assert!(e.to_string().contains("UNRESOLVED_COLUMN"), "{e}");
    let e = d
        .client()
        .execute("SELECT * FROM no_such_table_x")
        .await
        .unwrap_err();
    assert_eq!(databricks_error(&e).unwrap().http_status, 200);
    d.client()
        .execute(&format!("DROP SCHEMA IF EXISTS `{dataset}` CASCADE"))
        .await
        .unwrap();
    d.client()
        .execute(&format!(
            "DROP SCHEMA IF EXISTS `{dataset}_staging` CASCADE"
        ))
        .await
        .unwrap();
}
