//! Fixtures of the contract suite: a case's own dataset and package folder, the `orders` chain
//! (a root table with a nested `orders__items` table), Parquet files, chain jobs and commits, the
//! load protocol as the pipeline runs it, and reading rows back as text.

use super::ContractTarget;
use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::sql::SqlDialect;
use sluice_core::{
    ChainDisposition, ChainJob, Column, DataType, Destination, DestinationConfig,
    DestinationFactoryExt, LoadCommit, MergeStrategy, Result, Schema, SchemaChange, StateRecord,
    Table, TableJob, WriteDisposition,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// The pipeline name every case connects with (state records are stored under it).
pub const PIPELINE: &str = "contract";

/// The schema name of every case's packages.
pub const SCHEMA: &str = "shop";

static SEQ: AtomicU32 = AtomicU32::new(0);

/// One case against one target: its own working directory, dataset and load ids.
pub struct Case {
    target: ContractTarget,
    dir: tempfile::TempDir,
    /// The dataset (unique per case, process and run).
    pub dataset: String,
    stamp: u64,
    seq: u32,
    files: AtomicU32,
}

impl Case {
    /// A fresh case named `tag` (short: it is part of the dataset name).
    pub fn new(target: &ContractTarget, tag: &str) -> Self {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self {
            target: target.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            dataset: format!("ct_{tag}_{}_{}_{n}", std::process::id(), stamp % 100_000),
            stamp,
            seq: n,
            files: AtomicU32::new(0),
        }
    }

    /// The `k`-th load id of the case: a package-like id (`<seconds>.<digits>`), unique per
    /// case and process, so that destinations that key jobs by load id never see one twice.
    pub fn load_id(&self, k: u32) -> String {
        format!(
            "{}.{}{:03}{k}",
            self.stamp + u64::from(k),
            std::process::id(),
            self.seq % 1000
        )
    }

    /// The case's working directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The config a case connects with.
    pub fn config(&self) -> DestinationConfig {
        DestinationConfig {
            destination_name: self.target.factory.name().to_string(),
            pipeline_name: PIPELINE.into(),
            dataset_name: self.dataset.clone(),
            working_dir: self.dir.path().to_path_buf(),
            section: self.target.section.clone(),
        }
    }

    /// Open the destination (validate, then connect) without initializing it.
    pub async fn open(&self) -> Result<Box<dyn Destination>> {
        self.target.factory.open(&self.config()).await
    }

    /// Open the destination and initialize it.
    pub async fn connect(&self) -> Result<Box<dyn Destination>> {
        let mut d = self.open().await?;
        d.initialize().await?;
        Ok(d)
    }

    /// The package folder of `load_id`.
    pub fn package(&self, load_id: &str) -> PathBuf {
        let p = self.dir.path().join("packages").join(load_id);
        std::fs::create_dir_all(&p).expect("package folder");
        p
    }

    /// Write one Parquet file of `table` (all its complete columns, in order) in the package of
    /// `load_id`, named `<table>.<n>.parquet` as the normalizer names them.
    pub fn parquet(&self, load_id: &str, table: &Table, columns: Vec<ArrayRef>) -> PathBuf {
        let n = self.files.fetch_add(1, Ordering::SeqCst);
        let path = self
            .package(load_id)
            .join(format!("{}.{n}.parquet", table.name));
        write_parquet(&path, table, columns);
        path
    }

    /// A chain of `root` (and `nested`) tables for `load_id`, whose scratch folder is in the
    /// package (the same on every attempt, as the loader gives it).
    pub fn chain(
        &self,
        load_id: &str,
        disposition: WriteDisposition,
        root: TableJob,
        nested: Vec<TableJob>,
    ) -> ChainJob {
        ChainJob {
            load_id: load_id.into(),
            disposition: ChainDisposition::of(disposition).expect("a written disposition"),
            merge_strategy: root.table.merge_strategy.unwrap_or_default(),
            root,
            nested,
            schema_name: SCHEMA.into(),
            scratch_dir: self.package(load_id).join("scratch"),
        }
    }

    /// `orders` rows `(id, name, _dlt_id)` of `load_id` as a table job of one file.
    pub fn orders_job(&self, table: &Table, load_id: &str, rows: &[(i64, &str, &str)]) -> TableJob {
        let file = self.parquet(
            load_id,
            table,
            vec![
                ints(rows.iter().map(|r| r.0)),
                texts(rows.iter().map(|r| r.1)),
                texts(rows.iter().map(|_| load_id)),
                texts(rows.iter().map(|r| r.2)),
            ],
        );
        job(table, vec![file], rows.len() as u64)
    }

    /// `orders__items` rows `(sku, root _dlt_id, list index, _dlt_id)` of `load_id` as a table
    /// job (no file when there are no rows).
    pub fn items_job(&self, load_id: &str, rows: &[(&str, &str, i64, &str)]) -> TableJob {
        let table = items();
        if rows.is_empty() {
            return job(&table, vec![], 0);
        }
        let file = self.parquet(
            load_id,
            &table,
            vec![
                texts(rows.iter().map(|r| r.0)),
                texts(rows.iter().map(|r| r.1)),
                texts(rows.iter().map(|r| r.1)),
                ints(rows.iter().map(|r| r.2)),
                texts(rows.iter().map(|r| r.3)),
            ],
        );
        job(&table, vec![file], rows.len() as u64)
    }

    /// The `columns` of every row of `table`, ordered by `order_by`, as text (`null` for NULL),
    /// read through [`Destination::query`] with the destination's own quoting.
    pub async fn rows(
        &self,
        d: &mut Box<dyn Destination>,
        table: &str,
        columns: &[&str],
        order_by: &str,
    ) -> Result<Vec<Vec<String>>> {
        let sql = {
            let dialect = SqlDialect::new(d.capabilities(), self.dataset.clone());
            let list: Vec<String> = columns.iter().map(|c| dialect.quote(c)).collect();
            format!(
                "SELECT {} FROM {} ORDER BY {}",
                list.join(", "),
                dialect.table(table),
                dialect.quote(order_by)
            )
        };
        Ok(crate::conformance::cells(&d.query(&sql).await?))
    }

    /// The number of rows in `table` (`SELECT COUNT(*)`; a destination without SQL tables
    /// answers 0 for a table that has no data).
    pub async fn count(&self, d: &mut Box<dyn Destination>, table: &str) -> Result<u64> {
        let sql = {
            let dialect = SqlDialect::new(d.capabilities(), self.dataset.clone());
            format!("SELECT COUNT(*) FROM {}", dialect.table(table))
        };
        let cells = crate::conformance::cells(&d.query(&sql).await?);
        let n = cells
            .first()
            .and_then(|r| r.first())
            .cloned()
            .unwrap_or_default();
        Ok(n.parse().unwrap_or_else(|_| panic!("a count: {n}")))
    }

    /// One column of [`rows`](Self::rows).
    pub async fn column(
        &self,
        d: &mut Box<dyn Destination>,
        table: &str,
        column: &str,
        order_by: &str,
    ) -> Result<Vec<String>> {
        let rows = self.rows(d, table, &[column], order_by).await?;
        Ok(rows.into_iter().map(|mut r| r.remove(0)).collect())
    }
}

/// Write `columns` of `table` (its complete columns, in order) as one Parquet file at `path`.
pub fn write_parquet(path: &Path, table: &Table, columns: Vec<ArrayRef>) {
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match the table");
    let mut w = ParquetFileWriter::create(path, schema).expect("create parquet file");
    w.write(&batch).expect("write parquet");
    w.finish().expect("finish parquet");
}

/// A text column.
pub fn texts<'a>(values: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// A BIGINT column.
pub fn ints(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(values))
}

/// A table job.
pub fn job(table: &Table, files: Vec<PathBuf>, rows: u64) -> TableJob {
    TableJob {
        table: table.clone(),
        files,
        rows,
    }
}

/// The `orders` root table: `id` (primary key), `name`, `_dlt_load_id`, `_dlt_id`.
pub fn orders(disposition: WriteDisposition) -> Table {
    let mut t = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    t.write_disposition = Some(disposition);
    t
}

/// `orders` merged with `strategy`.
pub fn merged_orders(strategy: MergeStrategy) -> Table {
    let mut t = orders(WriteDisposition::Merge);
    t.merge_strategy = Some(strategy);
    t
}

/// The nested `orders__items` table: `sku`, `_dlt_root_id`, `_dlt_parent_id`, `_dlt_list_idx`,
/// `_dlt_id`.
pub fn items() -> Table {
    Table::nested("orders__items", "orders")
        .with_column(Column::new("sku", DataType::Text))
        .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
        .with_column(Column::new("_dlt_list_idx", DataType::Bigint).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

/// A schema named [`SCHEMA`] holding `tables`, with its version bumped.
pub fn schema_of(tables: &[&Table]) -> Schema {
    let mut s = Schema::new(SCHEMA);
    for t in tables {
        s.tables.insert(t.name.clone(), (*t).clone());
    }
    s.bump_version();
    s
}

/// The next version of `schema`, with `table` added or replaced (its version bumped, as the
/// normalizer bumps it).
pub fn evolve(schema: &Schema, table: &Table) -> Schema {
    let mut s = schema.clone();
    s.tables.insert(table.name.clone(), table.clone());
    s.bump_version();
    s
}

/// The changes that create `schema` in an empty dataset.
pub fn creation(schema: &Schema) -> Vec<SchemaChange> {
    schema.changes_since(&Schema::new(SCHEMA))
}

/// A state record of [`PIPELINE`].
pub fn state(version: u64, state: serde_json::Value) -> StateRecord {
    StateRecord {
        pipeline_name: PIPELINE.into(),
        version,
        version_hash: sluice_core::state::state_hash(&state),
        state,
        created_at: format!("2026-01-02T03:04:{:02}.123456Z", version % 60),
    }
}

/// One package loaded as the pipeline loads it: `is_loaded` (must be false), `begin_load`, the
/// schema changes, every chain (still not loaded), `commit_load` (with `state`); then
/// `is_loaded` must be true.
/// Returns the rows `write_chain` reported. On an error the load is aborted, as the loader does.
pub async fn load(
    d: &mut Box<dyn Destination>,
    load_id: &str,
    changes: &[SchemaChange],
    chains: &[ChainJob],
    schema: &Schema,
    state: Option<StateRecord>,
) -> Result<u64> {
    assert!(
        !d.is_loaded(load_id).await?,
        "{load_id} is loaded before its load"
    );
    d.begin_load(load_id).await?;
    let result: Result<u64> = async {
        d.apply_schema_changes(changes).await?;
        let mut rows = 0;
        for c in chains {
            rows += d.write_chain(c).await?;
        }
        assert!(
            !d.is_loaded(load_id).await?,
            "{load_id} is recorded before its commit"
        );
        d.commit_load(&LoadCommit {
            load_id: load_id.into(),
            schema: schema.clone(),
            state,
        })
        .await?;
        Ok(rows)
    }
    .await;
    if result.is_err() {
        d.abort_load().await?;
    }
    let rows = result?;
    assert!(
        d.is_loaded(load_id).await?,
        "{load_id} is not loaded after its commit"
    );
    Ok(rows)
}

/// `rows` as owned strings, for comparing with [`Case::rows`].
pub fn table_of(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// A number as text without trailing fraction zeros (`12.340` → `12.34`, `5.000` → `5`), so
/// that decimals, times and doubles compare across destinations that print different scales.
pub fn trim_fraction(text: &str) -> String {
    if text.contains('.') && !text.contains(['e', 'E']) {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text.to_string()
    }
}
