//! Dataset access from code (dlt's `pipeline.dataset().orders.arrow()`) and `sluice query`
//! exports, against DuckDB and Postgres: a table read with a column selection and a limit,
//! a stream of Arrow batches that reads the table a chunk at a time, and `sluice query
//! --format parquet|jsonl --output FILE`.

mod support;

use arrow::array::{Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use sluice_core::ConfigProvider;
use sluice_pipeline::{FileSource, Pipeline, PipelineOptions};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use support::{destinations, unique_dataset};

const ORDERS: u64 = 2_500;

/// `orders.jsonl` with [`ORDERS`] orders of two items each.
fn write_orders(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("orders.jsonl");
    let mut text = String::new();
    for i in 1..=ORDERS {
        let order = serde_json::json!({
            "id": i, "status": format!("s{}", i % 4),
            "items": [{"sku": format!("a{i}")}, {"sku": format!("b{i}")}]
        });
        text.push_str(&order.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// A pipeline named `name` with its DuckDB file and working dir in `dir`.
async fn loaded_pipeline(
    dir: &Path,
    name: &str,
    destination: &str,
    env: &[(String, String)],
    dataset: &str,
) -> Pipeline {
    let mut options = PipelineOptions::new(name, destination);
    options.pipelines_dir = Some(dir.join("pipelines"));
    options.working_dir = Some(dir.to_path_buf());
    options.dataset_name = Some(dataset.to_string());
    options.config = Some(ConfigProvider::empty().with_env(env.iter().cloned()));
    let mut pipeline = Pipeline::new(&sluice::registry(), options).unwrap();
    let source = FileSource::new("orders", vec![write_orders(dir)]);
    pipeline.run(Box::new(source)).await.unwrap();
    pipeline
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out = Vec::new();
    for b in batches {
        let col = cast(b.column_by_name("id").unwrap(), &DataType::Int64).unwrap();
        let col = col.as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..col.len()).map(|i| col.value(i)));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_read_with_selection_limit_and_as_a_stream_of_chunks() {
    for (destination, env) in destinations("dataset access from code") {
        let tmp = tempfile::tempdir().unwrap();
        let dataset = unique_dataset("dataset_access");
        let pipeline = loaded_pipeline(tmp.path(), "reader", destination, &env, &dataset).await;
        let mut ds = pipeline.dataset().await.unwrap();
        let label = destination;

        // A column selection and a limit.
        let first = ds
            .table("orders")
            .select(&["id", "status"])
            .limit(10)
            .arrow()
            .await
            .unwrap();
        let schema = first[0].schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "status"], "{label}");
        assert_eq!(ids(&first).len(), 10, "{label}");

        // The whole table as a stream, 700 rows per query: every row once, never more than a
        // chunk in one batch.
        let mut batches = ds.table("orders").chunk_rows(700).batches();
        let mut seen = Vec::new();
        let mut count = 0;
        while let Some(batch) = batches.next().await {
            let batch = batch.unwrap();
            assert!(batch.num_rows() <= 700, "{label}: {}", batch.num_rows());
            assert!(batch.column_by_name("_sluice_row_key").is_none(), "{label}");
            assert!(batch.column_by_name("_dlt_id").is_some(), "{label}");
            seen.extend(ids(&[batch]));
            count += 1;
        }
        drop(batches);
        assert_eq!(seen.len() as u64, ORDERS, "{label}");
        assert_eq!(
            seen.iter().collect::<BTreeSet<_>>().len() as u64,
            ORDERS,
            "{label}"
        );
        assert!(count >= 4, "{label}: {count} batches");

        // A limit over several chunks; a nested table; a system table; an empty selection.
        let some = ds
            .table("orders")
            .select(&["id"])
            .chunk_rows(300)
            .limit(1_000)
            .arrow()
            .await
            .unwrap();
        let some_ids = ids(&some);
        assert_eq!(some_ids.len(), 1_000, "{label}");
        assert_eq!(
            some_ids.iter().collect::<BTreeSet<_>>().len(),
            1_000,
            "{label}"
        );
        let items = ds.table("orders__items").arrow().await.unwrap();
        let rows: usize = items.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows as u64, 2 * ORDERS, "{label}");
        let loads = ds.table("_dlt_loads").arrow().await.unwrap();
        assert_eq!(
            loads.iter().map(RecordBatch::num_rows).sum::<usize>(),
            1,
            "{label}"
        );
        let none = ds.table("orders").limit(0).arrow().await.unwrap();
        assert_eq!(
            none.iter().map(RecordBatch::num_rows).sum::<usize>(),
            0,
            "{label}"
        );

        // An unknown column: the destination's error, naming the table.
        let err = ds
            .table("orders")
            .select(&["no_such_column"])
            .arrow()
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("table orders") && err.contains("no_such_column"),
            "{label}: {err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_exports_parquet_and_jsonl() {
    for (destination, env) in destinations("sluice query exports") {
        let tmp = tempfile::tempdir().unwrap();
        let dataset = unique_dataset("query_export");
        let pipeline = loaded_pipeline(tmp.path(), "exporter", destination, &env, &dataset).await;
        drop(pipeline);
        let label = destination;
        let sluice = |args: &[&str]| {
            let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
            c.current_dir(tmp.path())
                .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
                .args(args);
            for (k, v) in &env {
                c.env(k, v);
            }
            c.output().unwrap()
        };
        let sql = "SELECT id, status FROM {dataset}.orders WHERE id <= 100 ORDER BY id";

        let parquet = tmp.path().join("out.parquet");
        let out = sluice(&[
            "query",
            "exporter",
            sql,
            "--format",
            "parquet",
            "--output",
            parquet.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Wrote 100 row(s)"),
            "{label}"
        );
        let batches: Vec<RecordBatch> = sluice_core::parquet_io::read_parquet(&parquet, 1024)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(ids(&batches), (1..=100).collect::<Vec<i64>>(), "{label}");

        let jsonl = tmp.path().join("out.jsonl");
        let out = sluice(&[
            "query",
            "exporter",
            sql,
            "--format",
            "jsonl",
            "--output",
            jsonl.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 100, "{label}");
        assert_eq!(lines[41]["status"], "s2", "{label}");

        // Parquet is binary: it needs a file.
        let out = sluice(&["query", "exporter", sql, "--format", "parquet"]);
        assert!(!out.status.success(), "{label}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pass --output FILE"),
            "{label}"
        );
    }
}
