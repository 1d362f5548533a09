//! Data and load steps shared by the destination bulk-write benchmarks (`dest-bench` and
//! `cargo bench --bench bulk_write`): a Parquet package file of N typed rows and one load of it
//! through a destination's real `Destination` API (begin, create table, write, commit).

use arrow::array::{
    BooleanArray, Decimal128Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use sluice_core::DestinationFactoryExt;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID};
use sluice_core::{
    ChainJob, Column, ConfigProvider, DataType, Destination, DestinationConfig, LoadCommit,
    MergeStrategy, Registry, Schema, SchemaChange, Table, TableJob,
};
use std::path::Path;
use std::sync::Arc;

/// The benchmark table: bigint, double, text, timestamp, bool, decimal and the dlt columns.
pub fn bench_table() -> Table {
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

/// Write `rows` rows of [`bench_table`] to a Parquet file at `path`; returns the rows written.
pub fn write_bench_file(path: &Path, rows: usize, load_id: &str) -> sluice_core::Result<u64> {
    let schema = sluice_core::arrow_types::arrow_schema(&bench_table());
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

/// The destinations the benchmarks can reach here: DuckDB and local files always, Postgres when
/// `SLUICE_TEST_POSTGRES_URL` is set. Each with the configuration to connect to it.
pub fn bench_targets(work: &Path) -> Vec<(&'static str, ConfigProvider)> {
    let mut targets = vec![
        ("duckdb", ConfigProvider::empty()),
        (
            "filesystem",
            ConfigProvider::empty().with_env([(
                "DESTINATION__FILESYSTEM__BUCKET_URL",
                work.join("lake").display().to_string(),
            )]),
        ),
    ];
    if let Ok(url) = std::env::var("SLUICE_TEST_POSTGRES_URL") {
        targets.push((
            "postgres",
            ConfigProvider::empty().with_env([("DESTINATION__POSTGRES__CREDENTIALS", url)]),
        ));
    }
    targets
}

/// A registry with the destinations of [`bench_targets`].
pub fn bench_registry() -> Registry {
    let mut registry = Registry::new();
    registry.register(Arc::new(sluice_duckdb::DuckDbFactory));
    registry.register(Arc::new(sluice_postgres::PostgresFactory));
    registry.register(Arc::new(sluice::filesystem::FilesystemFactory));
    registry
}

/// Connect to `name` with `config`, into a dataset of its own under `work`.
pub async fn connect_bench(
    name: &str,
    config: &ConfigProvider,
    work: &Path,
) -> sluice_core::Result<Box<dyn Destination>> {
    let registry = bench_registry();
    let factory = registry.get(name)?;
    let dc = DestinationConfig {
        destination_name: name.into(),
        pipeline_name: "dest_bench".into(),
        dataset_name: format!("bench_{}", std::process::id()),
        working_dir: work.to_path_buf(),
        section: config.section(&["destination", name]),
    };
    let mut dest = factory.open(&dc).await?;
    dest.initialize().await?;
    Ok(dest)
}

/// Load `file` (`rows` rows of [`bench_table`]) as package `load_id`, appending (creating the table
/// first when `create`); returns the rows the destination reports written.
pub async fn load_bench_file(
    dest: &mut dyn Destination,
    file: &Path,
    rows: u64,
    load_id: &str,
    create: bool,
) -> sluice_core::Result<u64> {
    let mut schema = Schema::new("dest_bench");
    schema.tables.insert("bench_rows".into(), bench_table());
    schema.bump_version();
    dest.begin_load(load_id).await?;
    if create {
        dest.apply_schema_changes(&[SchemaChange::CreateTable {
            table: bench_table(),
        }])
        .await?;
    }
    let written = dest
        .write_chain(&ChainJob {
            load_id: load_id.into(),
            disposition: sluice_core::ChainDisposition::Append,
            merge_strategy: MergeStrategy::DeleteInsert,
            root: TableJob {
                table: bench_table(),
                files: vec![file.to_path_buf()],
                rows,
            },
            nested: vec![],
            schema_name: "bench".into(),
            scratch_dir: file.with_extension("scratch"),
        })
        .await?;
    dest.commit_load(&LoadCommit {
        load_id: load_id.into(),
        schema,
        state: None,
    })
    .await?;
    Ok(written)
}
