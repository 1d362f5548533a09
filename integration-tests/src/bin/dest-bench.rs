//! Bulk-write benchmark of the destinations: one Parquet package file of N rows (default
//! 1 000 000; bigint, double, text, timestamp, bool, decimal columns) written through each
//! destination's bulk path (DuckDB `read_parquet`, Postgres binary COPY, …) with the real
//! `Destination` API: begin, create table, write, commit. Prints rows/s per destination.
//!
//! `cargo run -p sluice-integration-tests --bin dest-bench -- [ROWS]` (`make bench-destinations`).
//! DuckDB always runs (into a temporary file); Postgres runs when `SLUICE_TEST_POSTGRES_URL` is set.

use arrow::array::{
    BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{
    ChainJob, Column, ConfigProvider, DataType, DestinationConfig, LoadCommit, MergeStrategy,
    Registry, Schema, SchemaChange, Table, TableJob, WriteDisposition,
};
use std::sync::Arc;
use std::time::Instant;

fn table() -> Table {
    Table::new("bench_rows")
        .with_column(Column::new("id", DataType::Bigint))
        .with_column(Column::new("amount", DataType::Double))
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new("created_at", DataType::Timestamp))
        .with_column(Column::new("active", DataType::Bool))
        .with_column(Column::new("price", DataType::Decimal))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

fn write_file(path: &std::path::Path, rows: usize, load_id: &str) -> sluice_core::Result<u64> {
    let t = table();
    let schema = sluice_core::arrow_types::arrow_schema(&t);
    let mut w = ParquetFileWriter::create(path, schema.clone())?;
    let chunk = 100_000;
    let mut start = 0;
    while start < rows {
        let n = chunk.min(rows - start);
        let ids: Vec<i64> = (start as i64..(start + n) as i64).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Float64Array::from_iter_values(
                    ids.iter().map(|i| *i as f64 * 1.5),
                )),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| format!("customer {i}")),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(
                        ids.iter().map(|i| 1_767_225_600_000_000 + i * 1_000_000),
                    )
                    .with_timezone("UTC"),
                ),
                Arc::new(BooleanArray::from_iter(
                    ids.iter().map(|i| Some(i % 2 == 0)),
                )),
                Arc::new(
                    Decimal128Array::from_iter_values(
                        ids.iter()
                            .map(|i| (*i as i128) * 1_000_000_000 + 990_000_000),
                    )
                    .with_precision_and_scale(38, 9)?,
                ),
                Arc::new(StringArray::from_iter_values(std::iter::repeat_n(
                    load_id, n,
                ))),
                Arc::new(StringArray::from_iter_values(
                    ids.iter().map(|i| format!("id{i:012}")),
                )),
            ],
        )?;
        w.write(&batch)?;
        start += n;
    }
    w.finish()
}

#[tokio::main]
async fn main() -> sluice_core::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROWS must be a number"))
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let load_id = "1767225600.000001";
    let file = dir.path().join("bench_rows.0.parquet");
    let t0 = Instant::now();
    write_file(&file, rows, load_id)?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "package file: {rows} rows, {:.1} MB Parquet, written in {:.2} s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );

    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_duckdb::DuckDbFactory));
    registry.register(Arc::new(sluice_postgres::PostgresFactory));
    let mut targets = vec![("duckdb", ConfigProvider::empty())];
    if let Ok(url) = std::env::var("SLUICE_TEST_POSTGRES_URL") {
        targets.push((
            "postgres",
            ConfigProvider::empty().with_env([("DESTINATION__POSTGRES__CREDENTIALS", url)]),
        ));
    } else {
        println!("postgres: skipped (set SLUICE_TEST_POSTGRES_URL)");
    }
    for (name, config) in targets {
        let factory = registry.get(name)?;
        let dataset = format!("bench_{}", std::process::id());
        let dc = DestinationConfig {
            destination_name: name.into(),
            pipeline_name: "dest_bench".into(),
            dataset_name: dataset,
            working_dir: dir.path().to_path_buf(),
            section: config.section(&["destination", name]),
        };
        let mut dest = factory.connect(&dc).await?;
        dest.initialize().await?;
        let mut schema = Schema::new("dest_bench");
        schema.tables.insert("bench_rows".into(), table());
        schema.bump_version();
        let started = Instant::now();
        dest.begin_load(load_id).await?;
        dest.apply_schema_changes(&[SchemaChange::CreateTable { table: table() }])
            .await?;
        let written = dest
            .write_chain(&ChainJob {
                load_id: load_id.into(),
                disposition: WriteDisposition::Append,
                merge_strategy: MergeStrategy::DeleteInsert,
                root: TableJob {
                    table: table(),
                    files: vec![file.clone()],
                    rows: rows as u64,
                },
                nested: vec![],
            })
            .await?;
        dest.commit_load(&LoadCommit {
            load_id: load_id.into(),
            schema,
            state: None,
        })
        .await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:<10} {written} rows in {secs:.2} s = {:.0} rows/s ({:.1} MB/s of Parquet)",
            written as f64 / secs,
            size as f64 / 1e6 / secs
        );
        dest.drop_tables(&["bench_rows".to_string()]).await?;
    }
    Ok(())
}
