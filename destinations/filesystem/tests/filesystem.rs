//! The filesystem destination against local disk, `memory://`, S3 (moto's server, when
//! `SLUICE_TEST_S3_ENDPOINT` is set; `scripts/services/moto.sh start` prints it) and Azure Blob
//! Storage (Azurite, when `SLUICE_TEST_AZURE_ENDPOINT` is set; `scripts/services/azurite.sh start`).
//!
//! Every scenario runs on each backend: the `backends!` macro makes one test per scenario and
//! backend (`local::…`, `memory::…`, `s3::…`, `azure::…`). They check what is the filesystem's own (object
//! names and layout, file formats, uploads, markers); the load contract every destination shares
//! is checked by integration-tests/tests/filesystem_contract.rs.

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use sluice_core::DestinationFactoryExt;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID};
use sluice_core::{
    ChainJob, Column, ConfigSection, DataType, Destination, DestinationConfig, DestinationFactory,
    ErrorKind, LoadCommit, MergeStrategy, Schema, StateRecord, Table, TableJob, WriteDisposition,
};
use sluice_filesystem::{FilesystemDestination, FilesystemFactory};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

const L1: &str = "1767323045.123456";
const L2: &str = "1767323046.000001";
const L3: &str = "1767409445.5";

/// Where a test writes: a working directory (package files, local buckets) and a config section.
struct Target {
    dir: tempfile::TempDir,
    base: String,
    kind: &'static str,
}

impl Target {
    fn local(_name: &str) -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            base: "bucket_url = \"out/lake\"\n".into(),
            kind: "local",
        })
    }

    fn memory(name: &str) -> Option<Self> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            base: format!(
                "bucket_url = \"memory://{name}-{}-{n}/base\"\n",
                std::process::id()
            ),
            kind: "memory",
        })
    }

    async fn s3(name: &str) -> Option<Self> {
        let endpoint = sluice_core::test_support::service_url(
            "SLUICE_TEST_S3_ENDPOINT",
            &format!("S3 test {name}"),
        )?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let bucket: String = format!("sluice-{name}-{}-{n}", std::process::id())
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(63)
            .collect();
        create_bucket(&endpoint, &bucket).await;
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            base: format!(
                "bucket_url = \"s3://{bucket}/base\"\n\
                 [credentials]\n\
                 aws_access_key_id = \"testing-key\"\n\
                 aws_secret_access_key = \"testing-secret-value\"\n\
                 region_name = \"us-east-1\"\n\
                 endpoint_url = \"{endpoint}\"\n"
            ),
            kind: "s3",
        })
    }

    /// A folder of its own in the container of Azurite (`az://<container>/<test>-<pid>-<n>/base`).
    fn azure(name: &str) -> Option<Self> {
        let section = azure_section(&format!("Azure test {name}"), name)?;
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
            base: section,
            kind: "azure",
        })
    }

    /// The config with extra top-level settings (placed before any `[table]`).
    fn config(&self, extra: &str) -> DestinationConfig {
        let text = format!("{extra}\n{}", self.base);
        DestinationConfig {
            destination_name: "filesystem".into(),
            pipeline_name: "pipe".into(),
            dataset_name: "ds".into(),
            working_dir: self.dir.path().to_path_buf(),
            section: ConfigSection::from_table("destination.filesystem", text.parse().unwrap()),
        }
    }

    async fn connect(&self, extra: &str) -> FilesystemDestination {
        let cfg = self.config(extra);
        let validated = FilesystemFactory.validate(&cfg).unwrap();
        let mut d = FilesystemFactory
            .connect_filesystem(&validated)
            .await
            .unwrap();
        d.check().await.unwrap();
        d.initialize().await.unwrap();
        d
    }

    /// A package folder for `load_id` (its chains name the schema `shop`).
    fn package(&self, load_id: &str) -> PathBuf {
        let p = self.dir.path().join("packages").join(load_id);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// The filesystem section for a fresh folder in the Azurite container that
/// `scripts/services/azurite.sh` created (its `SLUICE_TEST_AZURE_*` variables).
fn azure_section(what: &str, name: &str) -> Option<String> {
    let endpoint = sluice_core::test_support::service_url("SLUICE_TEST_AZURE_ENDPOINT", what)?;
    let var = |v: &str| {
        std::env::var(v).unwrap_or_else(|_| {
            panic!("{v} must be set with SLUICE_TEST_AZURE_ENDPOINT (scripts/services/azurite.sh)")
        })
    };
    let (account, key, container) = (
        var("SLUICE_TEST_AZURE_ACCOUNT"),
        var("SLUICE_TEST_AZURE_KEY"),
        var("SLUICE_TEST_AZURE_CONTAINER"),
    );
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    Some(format!(
        "bucket_url = \"az://{container}/{name}-{}-{n}/base\"\n\
         [credentials]\n\
         azure_storage_account_name = \"{account}\"\n\
         azure_storage_account_key = \"{key}\"\n\
         endpoint_url = \"{endpoint}\"\n",
        std::process::id()
    ))
}

/// Create a bucket on moto.
async fn create_bucket(endpoint: &str, bucket: &str) {
    sluice_core::test_support::create_s3_bucket(endpoint, bucket).await
}

/// Write one Parquet package file of `table` named `<table>.<n>.parquet` in `dir`.
fn parquet(dir: &Path, table: &Table, n: usize, columns: Vec<ArrayRef>) -> PathBuf {
    let path = dir.join(format!("{}.{n}.parquet", table.name));
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ParquetFileWriter::create(&path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path
}

fn text(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn ints(values: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(values.to_vec()))
}

fn job(table: &Table, files: Vec<PathBuf>, rows: u64) -> TableJob {
    TableJob {
        table: table.clone(),
        files,
        rows,
    }
}

fn chain(
    load_id: &str,
    disposition: WriteDisposition,
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
        merge_strategy: MergeStrategy::DeleteInsert,
        root,
        nested,
        schema_name: "shop".into(),
        scratch_dir,
    }
}

fn schema_of(tables: &[&Table]) -> Schema {
    let mut s = Schema::new("shop");
    for t in tables {
        s.tables.insert(t.name.clone(), (*t).clone());
    }
    s.bump_version();
    s
}

fn state(version: u64, cursor: &str) -> StateRecord {
    let state = serde_json::json!({"sources": {"shop": {"cursor": cursor}}});
    StateRecord {
        pipeline_name: "pipe".into(),
        version,
        version_hash: sluice_core::state::state_hash(&state),
        state,
        created_at: "2026-01-02T03:04:05.000000Z".into(),
    }
}

async fn load(
    d: &mut FilesystemDestination,
    load_id: &str,
    chains: &[ChainJob],
    schema: &Schema,
    st: Option<StateRecord>,
) -> u64 {
    assert!(!d.is_loaded(load_id).await.unwrap());
    d.begin_load(load_id).await.unwrap();
    d.apply_schema_changes(&[]).await.unwrap();
    let mut rows = 0;
    for c in chains {
        rows += d.write_chain(c).await.unwrap();
    }
    d.commit_load(&LoadCommit {
        load_id: load_id.into(),
        schema: schema.clone(),
        state: st,
    })
    .await
    .unwrap();
    assert!(d.is_loaded(load_id).await.unwrap());
    rows
}

/// All objects under the dataset folder, relative and sorted.
async fn objects(d: &FilesystemDestination) -> Vec<String> {
    let root = d.dataset_root().clone();
    let metas: Vec<_> = d.store().list(Some(&root)).try_collect().await.unwrap();
    let mut out: Vec<String> = metas
        .iter()
        .map(|m| {
            m.location
                .prefix_match(&root)
                .unwrap()
                .map(|p| p.as_ref().to_string())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    out.sort();
    out
}

fn data_objects(all: &[String], table: &str) -> Vec<String> {
    all.iter()
        .filter(|o| o.starts_with(&format!("{table}/")))
        .cloned()
        .collect()
}

async fn count(d: &mut FilesystemDestination, table: &str) -> i64 {
    let b = d
        .query(&format!("SELECT COUNT(*) AS n FROM \"ds\".\"{table}\""))
        .await
        .unwrap();
    b[0].column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0)
}

/// The first column of a query as strings.
async fn strings(d: &mut FilesystemDestination, sql: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in d.query(sql).await.unwrap() {
        let col = arrow::compute::cast(b.column(0), &ArrowType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..col.len() {
            out.push(col.is_valid(i).then(|| col.value(i).to_string()));
        }
    }
    out
}

fn events() -> Table {
    Table::new("events")
        .with_column(Column::new("id", DataType::Bigint).not_null())
        .with_column(Column::new("a", DataType::Text))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/// Every data type goes up as Parquet and comes back with the same values and Arrow types; the
/// files, markers and init files are where dlt puts them.
async fn round_trip(t: Target) {
    let mut d = t.connect("").await;
    let table = Table::new("items")
        .with_column(Column::new("id", DataType::Bigint).not_null())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new("price", DataType::Double))
        .with_column(Column::new("active", DataType::Bool))
        .with_column(Column::new("created", DataType::Timestamp))
        .with_column(Column::new("day", DataType::Date))
        .with_column(Column::new("amount", DataType::Decimal))
        .with_column(Column::new("raw", DataType::Binary))
        .with_column(Column::new("doc", DataType::Json))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    let pkg = t.package(L1);
    let f = parquet(
        &pkg,
        &table,
        0,
        vec![
            ints(&[1, 2]),
            Arc::new(StringArray::from(vec![Some("alpha"), Some("ünïcødé")])),
            Arc::new(Float64Array::from(vec![1.5, 2.25])),
            Arc::new(BooleanArray::from(vec![true, false])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![1_767_261_600_000_000, 1_767_349_800_000_000])
                    .with_timezone("UTC"),
            ),
            Arc::new(Date32Array::from(vec![20454, 20455])),
            Arc::new(
                Decimal128Array::from(vec![1_500_000_000i128, -2_000_000_001])
                    .with_precision_and_scale(38, 9)
                    .unwrap(),
            ),
            Arc::new(BinaryArray::from(vec![&b"\x00\x01"[..], &b"xyz"[..]])),
            text(&["{\"a\":1}", "[1,2]"]),
            text(&[L1, L1]),
            text(&["r1", "r2"]),
        ],
    );
    let schema = schema_of(&[&table]);
    let rows = load(
        &mut d,
        L1,
        &[chain(
            L1,
            WriteDisposition::Append,
            job(&table, vec![f.clone()], 2),
            vec![],
        )],
        &schema,
        None,
    )
    .await;
    assert_eq!(rows, 2);

    let all = objects(&d).await;
    let files = data_objects(&all, "items");
    assert_eq!(files.len(), 1, "{all:?}");
    let fid = sluice_filesystem::file_id("items", &f);
    assert_eq!(files[0], format!("items/{L1}.{fid}.parquet"));
    for expected in [
        "init".to_string(),
        "_dlt_loads/init".to_string(),
        "_dlt_version/init".to_string(),
        "_dlt_pipeline_state/init".to_string(),
        format!("_dlt_loads/shop__{L1}.jsonl"),
    ] {
        assert!(all.contains(&expected), "{expected} missing in {all:?}");
    }
    assert!(
        all.iter()
            .any(|o| o.starts_with(&format!("_dlt_version/shop__{L1}__")) && o.ends_with(".jsonl")),
        "{all:?}"
    );
    // the copied file is byte for byte the package file
    let path = d.table_files("items").await.unwrap().remove(0);
    let stored = d.store().get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(stored.as_ref(), std::fs::read(&f).unwrap().as_slice());
    if t.kind == "local" {
        let on_disk = t.dir.path().join("out/lake/ds").join(&files[0]);
        assert!(on_disk.is_file(), "{}", on_disk.display());
        let urls = d.table_file_urls("items").await.unwrap();
        assert_eq!(urls, vec![on_disk.display().to_string()]);
    }

    // read back: rows and types
    assert_eq!(count(&mut d, "items").await, 2);
    let batches = d
        .query("SELECT * FROM \"ds\".\"items\" ORDER BY \"id\"")
        .await
        .unwrap();
    let b = &batches[0];
    assert_eq!(b.num_rows(), 2);
    let types: Vec<ArrowType> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    assert_eq!(
        types,
        vec![
            ArrowType::Int64,
            ArrowType::Utf8,
            ArrowType::Float64,
            ArrowType::Boolean,
            ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ArrowType::Date32,
            ArrowType::Decimal128(38, 9),
            ArrowType::Binary,
            ArrowType::Utf8,
            ArrowType::Utf8,
            ArrowType::Utf8,
        ]
    );
    let col = |name: &str| b.column(b.schema().index_of(name).unwrap()).clone();
    assert_eq!(
        col("name")
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap()
            .value(1),
        "ünïcødé"
    );
    assert_eq!(
        col("amount")
            .as_any()
            .downcast_ref::<Decimal128Array>()
            .unwrap()
            .value(1),
        -2_000_000_001
    );
    assert_eq!(
        col("created")
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap()
            .value(0),
        1_767_261_600_000_000
    );
    assert_eq!(
        col("raw")
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap()
            .value(0),
        b"\x00\x01"
    );
    assert_eq!(
        strings(
            &mut d,
            "SELECT \"name\" FROM \"ds\".\"items\" ORDER BY \"price\" DESC LIMIT 1"
        )
        .await,
        vec![Some("ünïcødé".into())]
    );
    // other SQL points to DuckDB
    let e = d
        .query("SELECT SUM(price) FROM \"ds\".\"items\"")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Input);
    assert!(e.to_string().contains("DuckDB"), "{e}");
    let e = d
        .query("SELECT * FROM \"other\".\"items\"")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("other"), "{e}");
    // a table that has no files counts 0
    assert_eq!(count(&mut d, "nothing_here").await, 0);
    // location has no secrets
    let loc = d.location();
    assert!(
        !loc.contains("testing-secret-value") && !loc.contains("testing-key"),
        "{loc}"
    );
    assert!(loc.ends_with("/ds"), "{loc}");
    assert!(!format!("{d:?}").contains("testing-secret-value"));
}

/// A column added in a later package: old files lack it, new files have it (the contract suite
/// checks that old rows read back NULL).
async fn schema_evolution(t: Target) {
    let mut d = t.connect("").await;
    let v1 = events();
    let p1 = t.package(L1);
    let f1 = parquet(
        &p1,
        &v1,
        0,
        vec![ints(&[1]), text(&["x"]), text(&[L1]), text(&["e1"])],
    );
    load(
        &mut d,
        L1,
        &[chain(
            L1,
            WriteDisposition::Append,
            job(&v1, vec![f1], 1),
            vec![],
        )],
        &schema_of(&[&v1]),
        None,
    )
    .await;

    let v2 = v1.clone().with_column(Column::new("b", DataType::Bigint));
    let p2 = t.package(L2);
    let f2 = parquet(
        &p2,
        &v2,
        0,
        vec![
            ints(&[2]),
            text(&["y"]),
            text(&[L2]),
            text(&["e2"]),
            ints(&[5]),
        ],
    );
    let s2 = schema_of(&[&v2]);
    d.begin_load(L2).await.unwrap();
    d.apply_schema_changes(&s2.changes_since(&schema_of(&[&v1])))
        .await
        .unwrap();
    d.write_chain(&chain(
        L2,
        WriteDisposition::Append,
        job(&v2, vec![f2], 1),
        vec![],
    ))
    .await
    .unwrap();
    d.commit_load(&LoadCommit {
        load_id: L2.into(),
        schema: s2.clone(),
        state: None,
    })
    .await
    .unwrap();

    // each file keeps its own schema
    let files = d.table_files("events").await.unwrap();
    assert_eq!(files.len(), 2);
    let first = sluice_filesystem::read::read_parquet_object(d.store(), &files[0])
        .await
        .unwrap();
    let second = sluice_filesystem::read::read_parquet_object(d.store(), &files[1])
        .await
        .unwrap();
    assert!(
        first[0].schema().index_of("b").is_err(),
        "old file has no column b"
    );
    assert!(
        second[0].schema().index_of("b").is_ok(),
        "new file has column b"
    );
}

/// Replace writes the new files first and removes the table's older files only then; a replace
/// that fails halfway keeps the old files.
async fn replace_after_writing(t: Target) {
    let mut d = t.connect("").await;
    let root = events();
    let nested = Table::nested("events__tags", "events")
        .with_column(Column::new("value", DataType::Text))
        .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    let schema = schema_of(&[&root, &nested]);
    let p1 = t.package(L1);
    let r1 = parquet(
        &p1,
        &root,
        0,
        vec![
            ints(&[1, 2]),
            text(&["a", "b"]),
            text(&[L1, L1]),
            text(&["e1", "e2"]),
        ],
    );
    let r2 = parquet(
        &p1,
        &root,
        1,
        vec![ints(&[3]), text(&["c"]), text(&[L1]), text(&["e3"])],
    );
    let n1 = parquet(
        &p1,
        &nested,
        0,
        vec![text(&["t"]), text(&["e1"]), text(&["n1"])],
    );
    load(
        &mut d,
        L1,
        &[chain(
            L1,
            WriteDisposition::Append,
            job(&root, vec![r1, r2], 3),
            vec![job(&nested, vec![n1], 1)],
        )],
        &schema,
        None,
    )
    .await;
    assert_eq!(count(&mut d, "events").await, 3);
    let before = objects(&d).await;
    assert_eq!(data_objects(&before, "events").len(), 2);

    // A replace whose nested file is missing fails after the root file went up: nothing old is removed.
    let p2 = t.package(L2);
    let new_root = parquet(
        &p2,
        &root,
        0,
        vec![ints(&[10]), text(&["z"]), text(&[L2]), text(&["e10"])],
    );
    d.begin_load(L2).await.unwrap();
    let broken = chain(
        L2,
        WriteDisposition::Replace,
        job(&root, vec![new_root.clone()], 1),
        vec![job(&nested, vec![p2.join("missing.parquet")], 1)],
    );
    let e = d.write_chain(&broken).await.unwrap_err();
    assert!(e.to_string().contains("missing.parquet"), "{e}");
    d.abort_load().await.unwrap();
    let after_fail = objects(&d).await;
    for o in &before {
        assert!(
            after_fail.contains(o),
            "{o} was removed by a failed replace"
        );
    }
    // the half-written load is not visible to readers (no marker)
    assert!(!d.is_loaded(L2).await.unwrap());
    assert_eq!(count(&mut d, "events").await, 3);

    // The retry succeeds: the nested table gets no rows, so its old files go too.
    d.begin_load(L2).await.unwrap();
    let ok = chain(
        L2,
        WriteDisposition::Replace,
        job(&root, vec![new_root], 1),
        vec![job(&nested, vec![], 0)],
    );
    d.write_chain(&ok).await.unwrap();
    let mid = objects(&d).await;
    let events_files = data_objects(&mid, "events");
    assert_eq!(events_files.len(), 1, "{mid:?}");
    assert!(
        events_files[0].starts_with(&format!("events/{L2}.")),
        "{events_files:?}"
    );
    assert!(data_objects(&mid, "events__tags").is_empty(), "{mid:?}");
    d.commit_load(&LoadCommit {
        load_id: L2.into(),
        schema: schema.clone(),
        state: None,
    })
    .await
    .unwrap();
    assert_eq!(count(&mut d, "events").await, 1);
    assert_eq!(count(&mut d, "events__tags").await, 0);
    assert_eq!(
        strings(&mut d, "SELECT \"a\" FROM \"ds\".\"events\"").await,
        vec![Some("z".into())]
    );
}

/// A load that fails before its marker is loaded again under the same object names, once.
async fn idempotent_retry(t: Target) {
    let mut d = t.connect("").await;
    let table = events();
    let schema = schema_of(&[&table]);
    let p1 = t.package(L1);
    let f = parquet(
        &p1,
        &table,
        0,
        vec![
            ints(&[1, 2]),
            text(&["a", "b"]),
            text(&[L1, L1]),
            text(&["e1", "e2"]),
        ],
    );
    let c = chain(
        L1,
        WriteDisposition::Append,
        job(&table, vec![f], 2),
        vec![],
    );

    d.begin_load(L1).await.unwrap();
    d.write_chain(&c).await.unwrap();
    let first_names: Vec<String> = d.uploads().iter().map(|u| u.url.clone()).collect();
    d.abort_load().await.unwrap(); // the run dies before commit
    assert!(!d.is_loaded(L1).await.unwrap());
    assert_eq!(
        count(&mut d, "events").await,
        0,
        "files without a load marker are not read"
    );

    // next run, a new connection
    let mut d = t.connect("").await;
    assert!(!d.is_loaded(L1).await.unwrap());
    d.begin_load(L1).await.unwrap();
    d.write_chain(&c).await.unwrap();
    let second_names: Vec<String> = d.uploads().iter().map(|u| u.url.clone()).collect();
    assert_eq!(first_names, second_names);
    d.commit_load(&LoadCommit {
        load_id: L1.into(),
        schema,
        state: None,
    })
    .await
    .unwrap();
    assert!(d.is_loaded(L1).await.unwrap());
    assert_eq!(count(&mut d, "events").await, 2);
    assert_eq!(data_objects(&objects(&d).await, "events").len(), 1);
}

/// Schema and state files round-trip; only state of loads with a marker counts; old state files
/// are cleaned up beyond max_state_files.
async fn stored_schema_and_state(t: Target) {
    let mut d = t.connect("max_state_files = 2").await;
    assert!(d.stored_schema("shop").await.unwrap().is_none());
    assert!(d.stored_state("pipe").await.unwrap().is_none());
    let table = events();
    let s1 = schema_of(&[&table]);
    load(&mut d, L1, &[], &s1, Some(state(1, "a"))).await;
    let back = d.stored_schema("shop").await.unwrap().unwrap();
    assert_eq!(back, s1);
    let st = d.stored_state("pipe").await.unwrap().unwrap();
    assert_eq!(st, state(1, "a"));

    let s2 = schema_of(&[&table.clone().with_column(Column::new("b", DataType::Text))]);
    load(&mut d, L2, &[], &s2, Some(state(2, "b"))).await;
    assert_eq!(d.stored_schema("shop").await.unwrap().unwrap(), s2);
    assert_eq!(
        d.stored_state("pipe").await.unwrap().unwrap(),
        state(2, "b")
    );
    assert!(d.stored_state("other_pipe").await.unwrap().is_none());

    // the same schema again is not stored twice
    load(&mut d, L3, &[], &s2, Some(state(3, "c"))).await;
    let all = objects(&d).await;
    let versions: Vec<_> = all
        .iter()
        .filter(|o| o.starts_with("_dlt_version/shop__"))
        .collect();
    assert_eq!(versions.len(), 2, "{all:?}");
    let hash = s2.version_hash.len();
    assert!(hash > 0);
    // state files: named <pipeline>__<load_id>__<hash>.jsonl; only the newest 2 are kept
    let states: Vec<_> = all
        .iter()
        .filter(|o| o.starts_with("_dlt_pipeline_state/pipe__"))
        .collect();
    assert_eq!(states.len(), 2, "{all:?}");
    assert!(
        states
            .iter()
            .any(|s| s.starts_with(&format!("_dlt_pipeline_state/pipe__{L3}__")))
    );
    assert!(
        !states
            .iter()
            .any(|s| s.starts_with(&format!("_dlt_pipeline_state/pipe__{L1}__")))
    );

    // a state whose load marker is gone (the load did not finish) does not count
    let marker =
        object_store::path::Path::from(format!("{}/_dlt_loads/shop__{L3}.jsonl", d.dataset_root()));
    let text = String::from_utf8(
        d.store()
            .get(&marker)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(doc["load_id"], L3);
    assert_eq!(doc["schema_name"], "shop");
    assert_eq!(doc["status"], 0);
    assert_eq!(doc["schema_version_hash"], s2.version_hash.as_str());
    d.store().delete(&marker).await.unwrap();
    assert!(!d.is_loaded(L3).await.unwrap());
    assert_eq!(
        d.stored_state("pipe").await.unwrap().unwrap(),
        state(2, "b")
    );
    // the state file holds dlt's fields
    let state_file = object_store::path::Path::from(format!("{}/{}", d.dataset_root(), states[0]));
    let text = String::from_utf8(
        d.store()
            .get(&state_file)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    let doc: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for key in [
        "version",
        "engine_version",
        "pipeline_name",
        "state",
        "created_at",
        "version_hash",
        "_dlt_load_id",
    ] {
        assert!(doc.get(key).is_some(), "{key} missing in {doc}");
    }
}

/// Layout placeholders: schema name, date parts of the package time, extra placeholders; the
/// files are still found for reading, replace and drop.
const LAYOUT: &str = "layout = \"{schema_name}/{table_name}/{YYYY}/{MM}/{DD}/{HH}/{region}-{load_id}.{file_id}.{ext}\"\n\
                      extra_placeholders = { region = \"eu\" }";

async fn layout_placeholders(t: Target) {
    // the schema name comes from the chain (`ChainJob::schema_name`), not from the package
    let mut d = t.connect(LAYOUT).await;
    let table = events();
    let schema = schema_of(&[&table]);
    let p1 = t.package(L1);
    let f1 = parquet(
        &p1,
        &table,
        0,
        vec![ints(&[1]), text(&["a"]), text(&[L1]), text(&["e1"])],
    );
    load(
        &mut d,
        L1,
        &[chain(
            L1,
            WriteDisposition::Append,
            job(&table, vec![f1.clone()], 1),
            vec![],
        )],
        &schema,
        None,
    )
    .await;
    let all = objects(&d).await;
    let fid = sluice_filesystem::file_id("events", &f1);
    // L1 = 2026-01-02T03:04:05Z
    let expected = format!("shop/events/2026/01/02/03/eu-{L1}.{fid}.parquet");
    assert!(all.contains(&expected), "{expected} not in {all:?}");
    assert_eq!(count(&mut d, "events").await, 1);

    // L3 is a day later: a new date folder; replace removes the old day's file
    let p3 = t.package(L3);
    let f3 = parquet(
        &p3,
        &table,
        0,
        vec![ints(&[2]), text(&["b"]), text(&[L3]), text(&["e2"])],
    );
    load(
        &mut d,
        L3,
        &[chain(
            L3,
            WriteDisposition::Replace,
            job(&table, vec![f3.clone()], 1),
            vec![],
        )],
        &schema,
        None,
    )
    .await;
    let all = objects(&d).await;
    let fid3 = sluice_filesystem::file_id("events", &f3);
    assert!(
        all.contains(&format!("shop/events/2026/01/03/03/eu-{L3}.{fid3}.parquet")),
        "{all:?}"
    );
    assert!(!all.contains(&expected), "{all:?}");
    assert_eq!(count(&mut d, "events").await, 1);
    // a new connection finds the files by the schema names of the recorded loads
    let mut d = t.connect(LAYOUT).await;
    assert_eq!(count(&mut d, "events").await, 1);

    d.drop_tables(&["events".to_string()]).await.unwrap();
    assert!(
        !objects(&d)
            .await
            .iter()
            .any(|o| o.starts_with("shop/events/"))
    );
    assert_eq!(count(&mut d, "events").await, 0);
}

/// JSONL and CSV files are converted from the package's Parquet.
async fn jsonl_and_csv(t: Target) {
    for (format, ext) in [("jsonl", "jsonl"), ("csv", "csv")] {
        let mut d = t
            .connect(&format!("loader_file_format = \"{format}\""))
            .await;
        let table = Table::new(format!("t_{format}"))
            .with_column(Column::new("id", DataType::Bigint).not_null())
            .with_column(Column::new("name", DataType::Text));
        let load_id = if format == "jsonl" { L1 } else { L2 };
        let p = t.package(load_id);
        let f = parquet(
            &p,
            &table,
            0,
            vec![
                ints(&[1, 2]),
                Arc::new(StringArray::from(vec![Some("a"), None])),
            ],
        );
        load(
            &mut d,
            load_id,
            &[chain(
                load_id,
                WriteDisposition::Append,
                job(&table, vec![f], 2),
                vec![],
            )],
            &schema_of(&[&table]),
            None,
        )
        .await;
        let all = objects(&d).await;
        let files = data_objects(&all, &table.name);
        assert_eq!(files.len(), 1, "{all:?}");
        assert!(files[0].ends_with(&format!(".{ext}")), "{files:?}");
        let path = d.table_files(&table.name).await.unwrap().remove(0);
        let body = String::from_utf8(
            d.store()
                .get(&path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let lines: Vec<&str> = body.lines().collect();
        if format == "jsonl" {
            assert_eq!(lines.len(), 2, "{body}");
            let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
            assert_eq!(first["id"], 1);
            assert_eq!(first["name"], "a");
        } else {
            assert_eq!(lines, vec!["id,name", "1,a", "2,"], "{body}");
        }
        // only Parquet is read back here
        let e = d
            .query(&format!("SELECT * FROM \"ds\".\"{}\"", table.name))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("DuckDB"), "{e}");
    }
}

/// A file bigger than one part goes up as a multipart upload (parts of 5 MiB), and reads back.
async fn multipart_upload(t: Target) {
    let mut d = t
        .connect(&format!("multipart_part_size = {}", 5 * 1024 * 1024))
        .await;
    let table = Table::new("blobs")
        .with_column(Column::new("id", DataType::Bigint).not_null())
        .with_column(Column::new("payload", DataType::Binary));
    // incompressible data: ~12 MiB of pseudo-random bytes
    let rows = 3 * 1024;
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let payloads: Vec<Vec<u8>> = (0..rows)
        .map(|_| {
            (0..4096)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect()
        })
        .collect();
    let p = t.package(L1);
    let f = parquet(
        &p,
        &table,
        0,
        vec![
            ints(&(0..rows as i64).collect::<Vec<_>>()),
            Arc::new(BinaryArray::from(
                payloads.iter().map(|v| v.as_slice()).collect::<Vec<_>>(),
            )),
        ],
    );
    let size = std::fs::metadata(&f).unwrap().len();
    assert!(size > 10 * 1024 * 1024, "test file is {size} bytes");
    load(
        &mut d,
        L1,
        &[chain(
            L1,
            WriteDisposition::Append,
            job(&table, vec![f.clone()], rows as u64),
            vec![],
        )],
        &schema_of(&[&table]),
        None,
    )
    .await;
    let up = &d.uploads()[0];
    assert_eq!(up.stats.bytes, size);
    assert_eq!(up.stats.parts, size.div_ceil(5 * 1024 * 1024));
    assert!(up.stats.parts >= 3, "{up:?}");
    let path = d.table_files("blobs").await.unwrap().remove(0);
    let meta = d.store().head(&path).await.unwrap();
    assert_eq!(meta.size, size);
    if t.kind == "s3" {
        let etag = meta.e_tag.unwrap_or_default();
        assert!(
            etag.contains('-'),
            "a multipart object has an ETag with a part count: {etag}"
        );
    }
    let stored = d.store().get(&path).await.unwrap().bytes().await.unwrap();
    assert!(stored.as_ref() == std::fs::read(&f).unwrap().as_slice());
    assert_eq!(count(&mut d, "blobs").await, rows as i64);
    let batches = d
        .query("SELECT \"payload\" FROM \"ds\".\"blobs\" ORDER BY \"id\" DESC LIMIT 1")
        .await
        .unwrap();
    let col = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap();
    assert_eq!(col.value(0), payloads[rows - 1].as_slice());
}

/// Merge appends (with a warning), as dlt does on plain files.
async fn merge_appends(t: Target) {
    let mut d = t.connect("").await;
    let table = events();
    let schema = schema_of(&[&table]);
    for (i, load_id) in [L1, L2].into_iter().enumerate() {
        let p = t.package(load_id);
        let f = parquet(
            &p,
            &table,
            0,
            vec![
                ints(&[1]),
                text(&[&format!("v{i}")]),
                text(&[load_id]),
                text(&[&format!("e{i}")]),
            ],
        );
        let mut c = chain(
            load_id,
            WriteDisposition::Merge,
            job(&table, vec![f], 1),
            vec![],
        );
        c.merge_strategy = MergeStrategy::Upsert;
        load(&mut d, load_id, &[c], &schema, None).await;
    }
    assert_eq!(count(&mut d, "events").await, 2);
}

macro_rules! backends {
    ($($scenario:ident),* $(,)?) => {
        mod local {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(Target::local(stringify!($scenario)).unwrap()).await;
                }
            )*
        }
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(Target::memory(stringify!($scenario)).unwrap()).await;
                }
            )*
        }
        mod s3 {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(t) = Target::s3(stringify!($scenario)).await {
                        super::$scenario(t).await;
                    }
                }
            )*
        }
        mod azure {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    if let Some(t) = Target::azure(stringify!($scenario)) {
                        super::$scenario(t).await;
                    }
                }
            )*
        }
    };
}

backends!(
    round_trip,
    schema_evolution,
    replace_after_writing,
    idempotent_retry,
    stored_schema_and_state,
    layout_placeholders,
    jsonl_and_csv,
    multipart_upload,
    merge_appends,
);

// ---------------------------------------------------------------------------------------------
// Factory and config
// ---------------------------------------------------------------------------------------------

fn cfg(dir: &Path, text: &str) -> DestinationConfig {
    DestinationConfig {
        destination_name: "filesystem".into(),
        pipeline_name: "pipe".into(),
        dataset_name: "ds".into(),
        working_dir: dir.to_path_buf(),
        section: ConfigSection::from_table("destination.filesystem", text.parse().unwrap()),
    }
}

#[test]
fn factory_names_and_capabilities() {
    assert_eq!(FilesystemFactory.name(), "filesystem");
    let caps = FilesystemFactory.capabilities();
    assert!(!caps.supports_transactions);
    assert!(caps.merge_strategies.is_empty());
    assert_eq!(caps.max_identifier_length, 65536);
}

#[test]
fn validate_explains_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let e = FilesystemFactory
        .validate(&cfg(tmp.path(), ""))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(e.to_string().contains("bucket_url"), "{e}");
    let e = FilesystemFactory
        .validate(&cfg(
            tmp.path(),
            "bucket_url = \"x\"\nlayout = \"{table_name}/{bogus}\"",
        ))
        .unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    // validate does no I/O: the folder is not created
    FilesystemFactory
        .validate(&cfg(tmp.path(), "bucket_url = \"not/yet\""))
        .unwrap();
    assert!(!tmp.path().join("not").exists());
}

#[tokio::test]
async fn environment_configures_the_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let provider = sluice_core::ConfigProvider::empty().with_env([
        ("DESTINATION__FILESYSTEM__BUCKET_URL", "file_env"),
        ("DESTINATION__FILESYSTEM__LOADER_FILE_FORMAT", "csv"),
    ]);
    let config = DestinationConfig {
        destination_name: "filesystem".into(),
        pipeline_name: "pipe".into(),
        dataset_name: "ds".into(),
        working_dir: tmp.path().to_path_buf(),
        section: provider.section(&["destination", "filesystem"]),
    };
    let mut d = FilesystemFactory.open(&config).await.unwrap();
    d.initialize().await.unwrap();
    assert!(tmp.path().join("file_env/ds/init").is_file());
    assert!(d.location().ends_with("/file_env/ds"), "{}", d.location());
}

#[tokio::test]
async fn memory_store_is_shared_within_the_process() {
    let tmp = tempfile::tempdir().unwrap();
    let section = format!("bucket_url = \"memory://shared-{}\"", std::process::id());
    let table = events();
    let f = parquet(
        tmp.path(),
        &table,
        0,
        vec![ints(&[1]), text(&["a"]), text(&[L1]), text(&["e1"])],
    );
    {
        let mut d = FilesystemFactory
            .connect_filesystem(
                &FilesystemFactory
                    .validate(&cfg(tmp.path(), &section))
                    .unwrap(),
            )
            .await
            .unwrap();
        d.initialize().await.unwrap();
        load(
            &mut d,
            L1,
            &[chain(
                L1,
                WriteDisposition::Append,
                job(&table, vec![f], 1),
                vec![],
            )],
            &schema_of(&[&table]),
            None,
        )
        .await;
    }
    let mut d = FilesystemFactory
        .open(&cfg(tmp.path(), &section))
        .await
        .unwrap();
    assert!(d.is_loaded(L1).await.unwrap());
    let b = d
        .query("SELECT COUNT(*) FROM \"ds\".\"events\"")
        .await
        .unwrap();
    assert_eq!(
        b[0].column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        1
    );
}

#[tokio::test]
async fn s3_settings_never_show_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    // a closed port on loopback
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = format!(
        "bucket_url = \"s3://nobucket/p\"\nmultipart_concurrency = 1\n[credentials]\naws_access_key_id = \"AKIDSECRETID\"\n\
         aws_secret_access_key = \"very-secret-key\"\nendpoint_url = \"http://127.0.0.1:{port}\""
    );
    let config = cfg(tmp.path(), &text);
    let d = FilesystemFactory
        .connect_filesystem(&FilesystemFactory.validate(&config).unwrap())
        .await
        .unwrap();
    assert_eq!(d.location(), "s3://nobucket/p/ds");
    let msg = format!("{d:?} {:?}", d.settings());
    assert!(
        !msg.contains("very-secret-key") && !msg.contains("AKIDSECRETID"),
        "{msg}"
    );
    // a wrong setting next to secrets: the message names the setting, not the values
    let e = FilesystemFactory
        .validate(&cfg(
            tmp.path(),
            &text.replace("http://127.0.0.1", "127.0.0.1"),
        ))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("endpoint_url") && !e.contains("very-secret-key"),
        "{e}"
    );
}
