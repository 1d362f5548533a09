//! The BigQuery destination against bqemulator (`SLUICE_TEST_BIGQUERY_ENDPOINT`, started by
//! `scripts/services/bqemulator.sh`; `make test` sets it). Each test uses its own dataset. What
//! is here is BigQuery's own (load jobs per file, staging tables, error reasons); the load
//! contract every destination shares is checked by integration-tests/tests/bigquery_contract.rs.

use arrow::array::{Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use sluice_bigquery::{BigQueryDestination, BigQuerySettings};
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{
    ChainJob, Column, ConfigProvider, DataType, Destination, DestinationConfig, ErrorKind,
    LoadCommit, MergeStrategy, Schema, SchemaChange, Table, TableJob, WriteDisposition,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

static N: AtomicU32 = AtomicU32::new(0);

fn endpoint() -> Option<String> {
    sluice_core::test_support::service_url("SLUICE_TEST_BIGQUERY_ENDPOINT", "the bigquery tests")
}

async fn connect(endpoint: &str, case: &str) -> BigQueryDestination {
    let dataset = format!(
        "bqt_{case}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let provider = ConfigProvider::empty().with_env([
        ("DESTINATION__BIGQUERY__API_ENDPOINT", endpoint.to_string()),
        (
            "DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID",
            "test-project".to_string(),
        ),
        (
            "DESTINATION__BIGQUERY__CREDENTIALS__ACCESS_TOKEN",
            "not-a-real-token".to_string(),
        ),
    ]);
    let config = DestinationConfig {
        destination_name: "bigquery".into(),
        pipeline_name: "p".into(),
        dataset_name: dataset,
        working_dir: std::env::temp_dir(),
        section: provider.section(&["destination", "bigquery"]),
    };
    let settings = BigQuerySettings::resolve(&config).unwrap();
    let mut dest = BigQueryDestination::connect(settings).await.unwrap();
    dest.initialize().await.unwrap();
    dest
}

fn items_table() -> Table {
    let mut t = Table::new("items")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    t.write_disposition = Some(WriteDisposition::Merge);
    t
}

/// Write rows (id, name) of `table` to a Parquet file in `dir`.
fn write_file(
    dir: &Path,
    name: &str,
    table: &Table,
    load_id: &str,
    rows: &[(i64, &str)],
) -> PathBuf {
    let schema = arrow_schema(table);
    let ids: Vec<String> = (0..rows.len())
        .map(|i| format!("{load_id}_{i}_{name}"))
        .collect();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec![load_id; rows.len()])),
            Arc::new(StringArray::from(
                ids.iter().map(String::as_str).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    let path = dir.join(format!("{name}.parquet"));
    let mut w = ParquetFileWriter::create(&path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path
}

async fn count(dest: &mut BigQueryDestination, table: &str) -> i64 {
    let sql = format!(
        "SELECT COUNT(*) AS n FROM `{}`.`{table}`",
        dest.settings().dataset
    );
    let b = dest.query(&sql).await.unwrap();
    b[0].column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

fn job(
    load_id: &str,
    table: &Table,
    files: Vec<PathBuf>,
    rows: u64,
    wd: WriteDisposition,
) -> ChainJob {
    let scratch_dir = files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(std::env::temp_dir, |d| d.join(".scratch"));
    ChainJob {
        load_id: load_id.into(),
        disposition: sluice_core::ChainDisposition::of(wd).expect("a written disposition"),
        merge_strategy: MergeStrategy::DeleteInsert,
        root: TableJob {
            table: table.clone(),
            files,
            rows,
        },
        nested: vec![],
        schema_name: "test".into(),
        scratch_dir,
    }
}

#[tokio::test]
async fn load_job_is_idempotent_per_load_id_and_file() {
    let Some(ep) = endpoint() else { return };
    let mut dest = connect(&ep, "idem").await;
    let table = items_table();
    dest.apply_schema_changes(&[SchemaChange::CreateTable {
        table: table.clone(),
    }])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "f1",
        &table,
        "100.1",
        &[(1, "a"), (2, "b"), (3, "c")],
    );
    let first = dest
        .load_file(
            "100.1",
            &table,
            "items",
            &file,
            &dir.path().join(".scratch"),
        )
        .await
        .unwrap();
    assert_eq!(first, 3);
    // The same file of the same load again (a retried load): not submitted a second time.
    let second = dest
        .load_file(
            "100.1",
            &table,
            "items",
            &file,
            &dir.path().join(".scratch"),
        )
        .await
        .unwrap();
    assert_eq!(second, 3, "the earlier job's row count is reported");
    assert_eq!(count(&mut dest, "items").await, 3);
    // A whole chain written twice for one load id (append): rows once.
    let f2 = write_file(dir.path(), "f2", &table, "100.2", &[(4, "d")]);
    let j = job("100.2", &table, vec![f2], 1, WriteDisposition::Append);
    dest.write_chain(&j).await.unwrap();
    dest.write_chain(&j).await.unwrap();
    assert_eq!(count(&mut dest, "items").await, 4);
}

#[tokio::test]
async fn merge_replaces_rows_by_primary_key_and_commit_is_recorded_last() {
    let Some(ep) = endpoint() else { return };
    let mut dest = connect(&ep, "merge").await;
    let table = items_table();
    let mut schema = Schema::new("shop");
    schema.tables.insert("items".into(), table.clone());
    schema.bump_version();
    dest.apply_schema_changes(&[SchemaChange::CreateTable {
        table: table.clone(),
    }])
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f1 = write_file(dir.path(), "f1", &table, "300.1", &[(1, "a"), (2, "b")]);
    assert!(!dest.is_loaded("300.1").await.unwrap());
    dest.begin_load("300.1").await.unwrap();
    dest.write_chain(&job("300.1", &table, vec![f1], 2, WriteDisposition::Merge))
        .await
        .unwrap();
    assert!(
        !dest.is_loaded("300.1").await.unwrap(),
        "not recorded before commit"
    );
    dest.commit_load(&LoadCommit {
        load_id: "300.1".into(),
        schema: schema.clone(),
        state: None,
    })
    .await
    .unwrap();
    assert!(dest.is_loaded("300.1").await.unwrap());
    // Second load: id 2 updated, id 3 new, id 3 twice (deduplicated); written twice (a retry).
    let f2 = write_file(
        dir.path(),
        "f2",
        &table,
        "300.2",
        &[(2, "B"), (3, "c"), (3, "c")],
    );
    let j = job("300.2", &table, vec![f2], 3, WriteDisposition::Merge);
    dest.begin_load("300.2").await.unwrap();
    dest.write_chain(&j).await.unwrap();
    dest.abort_load().await.unwrap();
    dest.begin_load("300.2").await.unwrap();
    dest.write_chain(&j).await.unwrap();
    dest.commit_load(&LoadCommit {
        load_id: "300.2".into(),
        schema: schema.clone(),
        state: None,
    })
    .await
    .unwrap();
    let sql = format!(
        "SELECT `id`, `name` FROM `{}`.`items` ORDER BY `id`",
        dest.settings().dataset
    );
    let rows = sluice_core_cells(&dest.query(&sql).await.unwrap());
    assert_eq!(rows, vec![vec!["1", "a"], vec!["2", "B"], vec!["3", "c"]]);
    let stored = dest
        .stored_schema("shop")
        .await
        .unwrap()
        .expect("schema stored");
    assert_eq!(stored.version_hash, schema.version_hash);
    // Staging tables are gone after the commit.
    let sql = format!(
        "SELECT COUNT(*) FROM `{}`.INFORMATION_SCHEMA.TABLES WHERE STARTS_WITH(table_name, '_sluice_stg_')",
        dest.settings().dataset
    );
    let n = sluice_core_cells(&dest.query(&sql).await.unwrap());
    assert_eq!(n, vec![vec!["0"]]);
}

#[tokio::test]
async fn query_errors_carry_bigquerys_reason_and_message() {
    let Some(ep) = endpoint() else { return };
    let mut dest = connect(&ep, "qerr").await;
    let e = dest
        .query(&format!(
            "SELECT * FROM `{}`.`no_such_table`",
            dest.settings().dataset
        ))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), ErrorKind::Destination);
    assert!(text.contains("notFound"), "{text}");
    assert!(text.contains("no_such_table"), "{text}");
    assert!(!text.contains("not-a-real-token"), "{text}");
    let e = dest.query("SELEC 1").await.unwrap_err().to_string();
    assert!(e.contains("invalidQuery"), "{e}");
    assert!(!format!("{dest:?}").contains("not-a-real-token"));
    assert!(!dest.location().contains("not-a-real-token"));
}

fn sluice_core_cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    use arrow::array::Array;
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(row) {
                            "null".into()
                        } else {
                            arrow::util::display::array_value_to_string(c, row).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}
