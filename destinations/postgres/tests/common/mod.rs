//! Helpers for the tests against the Postgres server in `SLUICE_TEST_POSTGRES_URL`.
#![allow(dead_code)]

use arrow::array::{Array, ArrayRef};
use arrow::record_batch::RecordBatch;
use sluice_core::DestinationFactoryExt;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{Schema, Table, WriteDisposition};
use sluice_core::{
    ChainJob, ConfigProvider, Destination, DestinationConfig, LoadCommit, MergeStrategy, Result,
    StateRecord, TableJob,
};
use sluice_postgres::PostgresFactory;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The test server URL, or `None` (with a printed notice) when the variable is unset.
pub fn pg_url(test: &str) -> Option<String> {
    sluice_core::test_support::service_url("SLUICE_TEST_POSTGRES_URL", test)
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A dataset name no other test (or run) uses.
pub fn unique_dataset(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!(
        "t_{name}_{}_{}_{}",
        std::process::id(),
        nanos,
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// A destination config whose credentials are `url`.
pub fn config(url: &str, dataset: &str) -> DestinationConfig {
    let provider = ConfigProvider::empty().with_env([("DESTINATION__POSTGRES__CREDENTIALS", url)]);
    DestinationConfig {
        destination_name: "postgres".into(),
        pipeline_name: "pg_test".into(),
        dataset_name: dataset.into(),
        working_dir: std::env::temp_dir(),
        section: provider.section(&["destination", "postgres"]),
    }
}

/// Connect to `dataset` through the factory.
pub async fn connect(url: &str, dataset: &str) -> Box<dyn Destination> {
    PostgresFactory
        .open(&config(url, dataset))
        .await
        .expect("connect to the test server")
}

/// Write one Parquet file of `table` with `columns` (in the order of the table's columns).
pub fn parquet(dir: &Path, name: &str, table: &Table, columns: Vec<ArrayRef>) -> PathBuf {
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch matches table");
    let path = dir.join(format!("{name}.parquet"));
    let mut w = ParquetFileWriter::create(&path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path
}

/// A table job with files.
pub fn job(schema: &Schema, table: &str, files: Vec<PathBuf>, rows: u64) -> TableJob {
    TableJob {
        table: schema.table(table).expect("table in schema").clone(),
        files,
        rows,
    }
}

/// A chain job.
pub fn chain(
    load_id: &str,
    disposition: WriteDisposition,
    strategy: MergeStrategy,
    root: TableJob,
    nested: Vec<TableJob>,
) -> ChainJob {
    let scratch_dir = root
        .files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(std::env::temp_dir, |d| d.join(".scratch"));
    ChainJob {
        load_id: load_id.into(),
        disposition: sluice_core::ChainDisposition::of(disposition).expect("a written disposition"),
        merge_strategy: strategy,
        root,
        nested,
        schema_name: "test".into(),
        scratch_dir,
    }
}

/// Run the load protocol for one package as the pipeline does; abort on error.
pub async fn load(
    dest: &mut dyn Destination,
    old: &Schema,
    schema: &Schema,
    load_id: &str,
    chains: &[ChainJob],
    state: Option<StateRecord>,
) -> Result<u64> {
    dest.initialize().await?;
    if dest.is_loaded(load_id).await? {
        return Ok(0);
    }
    dest.begin_load(load_id).await?;
    let result = async {
        dest.apply_schema_changes(&schema.changes_since(old))
            .await?;
        let mut rows = 0;
        for c in chains {
            rows += dest.write_chain(c).await?;
        }
        dest.commit_load(&LoadCommit {
            load_id: load_id.into(),
            schema: schema.clone(),
            state,
        })
        .await?;
        Ok(rows)
    }
    .await;
    if result.is_err() {
        dest.abort_load().await.expect("abort");
    }
    result
}

/// A single-value query result as text (`NULL` for null).
pub async fn scalar(dest: &mut dyn Destination, sql: &str) -> String {
    let batches = dest.query(sql).await.expect("query");
    let b = &batches[0];
    assert_eq!(b.num_rows(), 1, "{sql}");
    arrow::util::display::array_value_to_string(b.column(0), 0).unwrap()
}

/// A query result as rows of text values.
pub async fn rows(dest: &mut dyn Destination, sql: &str) -> Vec<Vec<String>> {
    let batches = dest.query(sql).await.expect("query");
    let mut out = Vec::new();
    for b in &batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "NULL".to_string()
                        } else {
                            arrow::util::display::array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

/// Drop the dataset (cleanup at the end of a test).
pub async fn drop_dataset(dest: &mut dyn Destination, dataset: &str) {
    let _ = dest
        .query(&format!("DROP SCHEMA IF EXISTS \"{dataset}\" CASCADE"))
        .await;
}
