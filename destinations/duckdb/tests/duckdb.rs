//! The DuckDB destination against a real embedded DuckDB in a temporary folder: what is DuckDB's
//! own (database file and settings, SQL types, raw identifiers, merge staging). The load contract
//! every destination shares is checked by integration-tests/tests/duckdb_contract.rs.

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array,
    Int64Array, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use sluice_core::DestinationFactoryExt;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::{
    ChainJob, Column, ConfigProvider, ConfigSection, DataType, Destination, DestinationConfig,
    DestinationFactory, ErrorKind, LoadCommit, MergeStrategy, Schema, SchemaChange, StateRecord,
    Table, TableJob, WriteDisposition,
};
use sluice_duckdb::DuckDbFactory;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

static FILE_NO: AtomicUsize = AtomicUsize::new(0);

fn config(dir: &Path, dataset: &str, section: ConfigSection) -> DestinationConfig {
    DestinationConfig {
        destination_name: "duckdb".into(),
        pipeline_name: "pipe".into(),
        dataset_name: dataset.into(),
        working_dir: dir.to_path_buf(),
        section,
    }
}

fn section(toml_text: &str) -> ConfigSection {
    ConfigSection::from_table("destination.duckdb", toml_text.parse().unwrap())
}

async fn connect(dir: &Path, dataset: &str) -> Box<dyn Destination> {
    let cfg = config(dir, dataset, section(""));
    DuckDbFactory.validate(&cfg).unwrap();
    let mut d = DuckDbFactory.open(&cfg).await.unwrap();
    d.initialize().await.unwrap();
    d
}

/// Write one Parquet file of `table` (its complete columns, in order) with `columns`.
fn parquet(dir: &Path, table: &Table, columns: Vec<ArrayRef>) -> PathBuf {
    let n = FILE_NO.fetch_add(1, Ordering::SeqCst);
    let path = dir.join(format!("{}.{n}.parquet", table.name.len()));
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
        schema_name: "test".into(),
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

fn commit(load_id: &str, schema: &Schema) -> LoadCommit {
    LoadCommit {
        load_id: load_id.into(),
        schema: schema.clone(),
        state: None,
    }
}

/// Run a query that returns one BIGINT-compatible value.
async fn scalar(d: &mut Box<dyn Destination>, sql: &str) -> i64 {
    let batches = d.query(sql).await.unwrap();
    let col = batches[0].column(0);
    let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Int64).unwrap();
    col.as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

/// All values of the first column as strings (rows in query order).
async fn strings(d: &mut Box<dyn Destination>, sql: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    for b in d.query(sql).await.unwrap() {
        let col = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
        let col = col.as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..col.len() {
            out.push(col.is_valid(i).then(|| col.value(i).to_string()));
        }
    }
    out
}

fn orders() -> Table {
    let mut t = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    t.write_disposition = Some(WriteDisposition::Append);
    t
}

fn items() -> Table {
    Table::nested("orders__items", "orders")
        .with_column(Column::new("sku", DataType::Text))
        .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
        .with_column(Column::new("_dlt_list_idx", DataType::Bigint).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

/// One complete load: begin, schema changes, chains, commit.
async fn load(
    d: &mut Box<dyn Destination>,
    load_id: &str,
    changes: &[SchemaChange],
    chains: &[ChainJob],
    schema: &Schema,
) -> u64 {
    assert!(!d.is_loaded(load_id).await.unwrap());
    d.begin_load(load_id).await.unwrap();
    d.apply_schema_changes(changes).await.unwrap();
    let mut rows = 0;
    for c in chains {
        rows += d.write_chain(c).await.unwrap();
    }
    d.commit_load(&commit(load_id, schema)).await.unwrap();
    rows
}

#[tokio::test]
async fn create_append_and_query_back() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = connect(tmp.path(), "shop_data").await;
    assert!(d.location().starts_with("duckdb:///"), "{}", d.location());
    assert!(d.location().ends_with("/pipe.duckdb"), "{}", d.location());
    d.check().await.unwrap();
    // initialize is idempotent
    d.initialize().await.unwrap();

    let t = orders();
    let f1 = parquet(
        tmp.path(),
        &t,
        vec![
            ints(&[1, 2]),
            text(&["a", "b"]),
            text(&["L1", "L1"]),
            text(&["i1", "i2"]),
        ],
    );
    let f2 = parquet(
        tmp.path(),
        &t,
        vec![ints(&[3]), text(&["c"]), text(&["L1"]), text(&["i3"])],
    );
    let schema = schema_of(&[&t]);
    let changes = vec![SchemaChange::CreateTable { table: t.clone() }];
    let rows = load(
        &mut d,
        "L1",
        &changes,
        &[chain(
            "L1",
            WriteDisposition::Append,
            job(&t, vec![f1, f2], 3),
            vec![],
        )],
        &schema,
    )
    .await;
    assert_eq!(rows, 3);
    assert_eq!(
        strings(&mut d, "SELECT name FROM shop_data.orders ORDER BY id").await,
        vec![Some("a".into()), Some("b".into()), Some("c".into())]
    );
    // unqualified names resolve in the dataset
    assert_eq!(scalar(&mut d, "SELECT COUNT(*) FROM orders").await, 3);
    assert_eq!(
        scalar(
            &mut d,
            "SELECT COUNT(*) FROM shop_data._dlt_loads WHERE load_id = 'L1' AND status = 0"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM shop_data._dlt_version").await,
        1
    );
    // an empty result still has a schema
    let empty = d
        .query("SELECT * FROM shop_data.orders WHERE id < 0")
        .await
        .unwrap();
    assert_eq!(empty.iter().map(|b| b.num_rows()).sum::<usize>(), 0);
    assert_eq!(empty[0].num_columns(), 4);

    // a second append with the same schema adds rows; the schema version is not stored twice
    let f3 = parquet(
        tmp.path(),
        &t,
        vec![ints(&[4]), text(&["d"]), text(&["L2"]), text(&["i4"])],
    );
    load(
        &mut d,
        "L2",
        &changes,
        &[chain(
            "L2",
            WriteDisposition::Append,
            job(&t, vec![f3], 1),
            vec![],
        )],
        &schema,
    )
    .await;
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM shop_data.orders").await,
        4
    );
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM shop_data._dlt_version").await,
        1
    );
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM shop_data._dlt_loads").await,
        2
    );
    drop(d);

    // the data is in the file: a new connection sees it
    let mut d = connect(tmp.path(), "shop_data").await;
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM shop_data.orders").await,
        4
    );
    assert!(d.is_loaded("L1").await.unwrap());
}

/// A chain whose file is missing fails as a destination error that names the table (the
/// contract suite checks that the rows before it stay).
#[tokio::test]
async fn a_failed_write_names_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = connect(tmp.path(), "ds").await;
    let mut root = orders();
    root.write_disposition = Some(WriteDisposition::Replace);
    let nested = items();
    let bad = tmp.path().join("missing.parquet");
    let c = chain(
        "L1",
        WriteDisposition::Replace,
        job(&root, vec![bad], 1),
        vec![job(&nested, vec![], 0)],
    );
    d.begin_load("L1").await.unwrap();
    d.apply_schema_changes(&schema_of(&[&root, &nested]).changes_since(&Schema::new("shop")))
        .await
        .unwrap();
    let err = d.write_chain(&c).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Destination);
    assert!(err.to_string().contains("orders"), "{err}");
    d.abort_load().await.unwrap();
    assert!(!d.is_loaded("L1").await.unwrap());
}

#[tokio::test]
async fn merge_delete_insert_with_nested_rows_and_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = connect(tmp.path(), "ds").await;
    let mut root = orders();
    root.write_disposition = Some(WriteDisposition::Merge);
    let nested = items();
    let schema = schema_of(&[&root, &nested]);
    let changes = schema.changes_since(&Schema::new("shop"));

    let r1 = parquet(
        tmp.path(),
        &root,
        vec![
            ints(&[1, 2]),
            text(&["a", "b"]),
            text(&["L1", "L1"]),
            text(&["r1", "r2"]),
        ],
    );
    let n1 = parquet(
        tmp.path(),
        &nested,
        vec![
            text(&["a1", "b1", "b2"]),
            text(&["r1", "r2", "r2"]),
            text(&["r1", "r2", "r2"]),
            ints(&[0, 0, 1]),
            text(&["n1", "n2", "n3"]),
        ],
    );
    let c1 = chain(
        "L1",
        WriteDisposition::Merge,
        job(&root, vec![r1], 2),
        vec![job(&nested, vec![n1], 3)],
    );
    load(&mut d, "L1", &changes, &[c1], &schema).await;
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM ds.orders__items").await,
        3
    );

    // id 2 twice in the batch (each with its own nested row), and a new id 3
    let r2 = parquet(
        tmp.path(),
        &root,
        vec![
            ints(&[2, 2, 3]),
            text(&["b-new", "b-new", "c"]),
            text(&["L2"; 3]),
            text(&["r2a", "r2b", "r3"]),
        ],
    );
    let n2 = parquet(
        tmp.path(),
        &nested,
        vec![
            text(&["b-x", "b-y", "c1"]),
            text(&["r2a", "r2b", "r3"]),
            text(&["r2a", "r2b", "r3"]),
            ints(&[0, 0, 0]),
            text(&["m1", "m2", "m3"]),
        ],
    );
    let c2 = chain(
        "L2",
        WriteDisposition::Merge,
        job(&root, vec![r2], 3),
        vec![job(&nested, vec![n2], 3)],
    );
    let written = load(&mut d, "L2", &[], &[c2], &schema).await;
    assert_eq!(written, 4, "2 root rows and 2 nested rows after dedup");

    assert_eq!(
        strings(
            &mut d,
            "SELECT CAST(id AS VARCHAR) || ':' || name FROM ds.orders ORDER BY id"
        )
        .await,
        vec![
            Some("1:a".into()),
            Some("2:b-new".into()),
            Some("3:c".into())
        ]
    );
    // nested rows: id 1's stay, id 2's old ones are gone, only the surviving duplicate's remain
    let surviving: String = strings(&mut d, "SELECT _dlt_id FROM ds.orders WHERE id = 2").await[0]
        .clone()
        .unwrap();
    let skus = strings(&mut d, "SELECT sku FROM ds.orders__items ORDER BY sku").await;
    let expected_b = if surviving == "r2a" { "b-x" } else { "b-y" };
    assert_eq!(
        skus,
        vec![
            Some("a1".into()),
            Some(expected_b.into()),
            Some("c1".into())
        ]
    );
    assert_eq!(
        scalar(
            &mut d,
            "SELECT COUNT(*) FROM ds.orders__items i WHERE NOT EXISTS (SELECT 1 FROM ds.orders o WHERE o._dlt_id = i._dlt_root_id)"
        )
        .await,
        0
    );
    // staging tables are gone
    assert_eq!(
        scalar(
            &mut d,
            "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name LIKE '_sluice_staging%'"
        )
        .await,
        0
    );

    // a merge load of nested rows only (root has no files) appends them
    let n3 = parquet(
        tmp.path(),
        &nested,
        vec![
            text(&["a2"]),
            text(&["r1"]),
            text(&["r1"]),
            ints(&[1]),
            text(&["k1"]),
        ],
    );
    let c3 = chain(
        "L3",
        WriteDisposition::Merge,
        job(&root, vec![], 0),
        vec![job(&nested, vec![n3], 1)],
    );
    assert_eq!(load(&mut d, "L3", &[], &[c3], &schema).await, 1);
    assert_eq!(
        scalar(&mut d, "SELECT COUNT(*) FROM ds.orders__items").await,
        4
    );

    // a nested table of the schema that is not in the database (and gets no rows) is skipped
    let ghost = Table::nested("orders__ghosts", "orders")
        .with_column(Column::new("g", DataType::Text))
        .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text));
    let r5 = parquet(
        tmp.path(),
        &root,
        vec![ints(&[1]), text(&["a5"]), text(&["L5"]), text(&["r5"])],
    );
    let c5 = chain(
        "L5",
        WriteDisposition::Merge,
        job(&root, vec![r5], 1),
        vec![job(&nested, vec![], 0), job(&ghost, vec![], 0)],
    );
    assert_eq!(load(&mut d, "L5", &[], &[c5], &schema).await, 1);
    assert_eq!(
        strings(&mut d, "SELECT name FROM ds.orders WHERE id = 1").await,
        vec![Some("a5".into())]
    );
    // the nested rows of the replaced root row are gone with it
    assert_eq!(
        scalar(
            &mut d,
            "SELECT COUNT(*) FROM ds.orders__items WHERE _dlt_root_id = 'r1'"
        )
        .await,
        0
    );

    // (An unsupported strategy never reaches a destination: the pipeline refuses it, see
    // crates/pipeline/src/load_rules.rs.)
}

/// The stored state is dlt's encoding (base64 of zlib, not JSON text) and each record's
/// `_dlt_id` is random (the contract suite checks that schema and state round-trip).
#[tokio::test]
async fn stored_state_is_dlts_encoding_with_random_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = connect(tmp.path(), "ds").await;
    let t = orders();
    let schema = schema_of(&[&t]);
    let state = StateRecord {
        pipeline_name: "pipe".into(),
        version: 3,
        version_hash: "h3".into(),
        state: serde_json::json!({"sources": {"forter": {"cursor": "2026-01-01T00:00:00Z", "n": 1}}}),
        created_at: "2026-01-02T03:04:05.123456Z".into(),
    };
    for (load_id, st) in [
        ("L1", state.clone()),
        (
            "L2",
            StateRecord {
                version: 4,
                version_hash: "h4".into(),
                state: serde_json::json!({"n": 2}),
                ..state.clone()
            },
        ),
    ] {
        d.begin_load(load_id).await.unwrap();
        d.apply_schema_changes(&[SchemaChange::CreateTable { table: t.clone() }])
            .await
            .unwrap();
        d.commit_load(&LoadCommit {
            load_id: load_id.into(),
            schema: schema.clone(),
            state: Some(st),
        })
        .await
        .unwrap();
    }
    let stored = strings(
        &mut d,
        "SELECT state FROM ds._dlt_pipeline_state ORDER BY version",
    )
    .await;
    assert!(!stored[0].as_deref().unwrap().starts_with('{'));
    let ids = strings(
        &mut d,
        "SELECT DISTINCT _dlt_id FROM ds._dlt_pipeline_state",
    )
    .await;
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0].as_ref().unwrap().len(), 14);
}

#[tokio::test]
async fn odd_and_unicode_identifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let dataset = "my \"data\"; set";
    let mut d = connect(tmp.path(), dataset).await;
    let t = Table::new("we\"ird; DROP TABLE x")
        .with_column(Column::new("名前", DataType::Text))
        .with_column(Column::new("a\"b;c", DataType::Bigint))
        .with_column(Column::new("select", DataType::Text))
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    let u = Table::new("größe_表").with_column(Column::new("ключ", DataType::Bigint));
    let schema = schema_of(&[&t, &u]);
    let f = parquet(
        tmp.path(),
        &t,
        vec![text(&["太郎"]), ints(&[5]), text(&["s"]), text(&["x1"])],
    );
    let g = parquet(tmp.path(), &u, vec![ints(&[9])]);
    load(
        &mut d,
        "L1",
        &schema.changes_since(&Schema::new("shop")),
        &[
            chain("L1", WriteDisposition::Append, job(&t, vec![f], 1), vec![]),
            chain("L1", WriteDisposition::Append, job(&u, vec![g], 1), vec![]),
        ],
        &schema,
    )
    .await;
    assert_eq!(
        strings(
            &mut d,
            "SELECT \"名前\" FROM \"my \"\"data\"\"; set\".\"we\"\"ird; DROP TABLE x\""
        )
        .await,
        vec![Some("太郎".into())]
    );
    assert_eq!(
        scalar(
            &mut d,
            "SELECT \"a\"\"b;c\" FROM \"my \"\"data\"\"; set\".\"we\"\"ird; DROP TABLE x\""
        )
        .await,
        5
    );
    assert_eq!(
        scalar(
            &mut d,
            "SELECT \"ключ\" FROM \"my \"\"data\"\"; set\".\"größe_表\""
        )
        .await,
        9
    );
    assert!(d.is_loaded("L1").await.unwrap());
    assert_eq!(d.stored_schema("shop").await.unwrap().unwrap(), schema);
}

#[tokio::test]
async fn types_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let mut d = connect(tmp.path(), "ds").await;
    let mut naive = Column::new("ts_naive", DataType::Timestamp);
    naive.timezone = Some(false);
    let t = Table::new("typed")
        .with_column(Column::new("ts", DataType::Timestamp))
        .with_column(naive)
        .with_column(Column::new("dec", DataType::Decimal))
        .with_column(Column::new("dec2", DataType::Decimal).with_precision(10, Some(2)))
        .with_column(Column::new("wei", DataType::Wei))
        .with_column(Column::new("doc", DataType::Json))
        .with_column(Column::new("blob", DataType::Binary))
        .with_column(Column::new("day", DataType::Date))
        .with_column(Column::new("tod", DataType::Time))
        .with_column(Column::new("flag", DataType::Bool))
        .with_column(Column::new("x", DataType::Double));
    let schema = schema_of(&[&t]);
    // 2026-01-02T03:04:05.123456Z
    let micros = 1_767_323_045_123_456i64;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![micros]).with_timezone("UTC")),
        Arc::new(TimestampMicrosecondArray::from(vec![micros])),
        Arc::new(
            Decimal128Array::from(vec![123_456_789_012i128])
                .with_precision_and_scale(38, 9)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![-1234i128])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![10i128.pow(37) + 7])
                .with_precision_and_scale(38, 0)
                .unwrap(),
        ),
        text(&["{\"a\": [1, 2], \"b\": null}"]),
        Arc::new(BinaryArray::from(vec![&[0u8, 1, 255][..]])),
        Arc::new(Date32Array::from(vec![20_455])), // 2026-01-02
        Arc::new(Time64MicrosecondArray::from(vec![
            (3 * 3600 + 4 * 60 + 5) * 1_000_000 + 7,
        ])),
        Arc::new(BooleanArray::from(vec![true])),
        Arc::new(Float64Array::from(vec![1.5])),
    ];
    let f = parquet(tmp.path(), &t, cols);
    load(
        &mut d,
        "L1",
        &[SchemaChange::CreateTable { table: t.clone() }],
        &[chain(
            "L1",
            WriteDisposition::Append,
            job(&t, vec![f], 1),
            vec![],
        )],
        &schema,
    )
    .await;

    let types = strings(
        &mut d,
        "SELECT column_name || ' ' || data_type FROM information_schema.columns WHERE table_schema = 'ds' AND table_name = 'typed' ORDER BY ordinal_position",
    )
    .await;
    let types: Vec<String> = types.into_iter().map(Option::unwrap).collect();
    assert_eq!(
        types,
        vec![
            "ts TIMESTAMP WITH TIME ZONE",
            "ts_naive TIMESTAMP",
            "dec DECIMAL(38,9)",
            "dec2 DECIMAL(10,2)",
            "wei DECIMAL(38,0)",
            "doc JSON",
            "blob BLOB",
            "day DATE",
            "tod TIME",
            "flag BOOLEAN",
            "x DOUBLE",
        ]
    );
    let row = strings(
        &mut d,
        "SELECT concat_ws('|', epoch_us(ts), strftime(ts_naive, '%Y-%m-%dT%H:%M:%S.%f'), dec, dec2, wei, doc->>'$.a[1]', hex(blob), day, tod, flag, x) FROM ds.typed",
    )
    .await;
    assert_eq!(
        row[0].as_deref().unwrap(),
        format!(
            "{micros}|2026-01-02T03:04:05.123456|123.456789012|-12.34|{}|2|0001FF|2026-01-02|03:04:05.000007|true|1.5",
            10i128.pow(37) + 7
        )
    );
    // the Arrow types coming back
    let batches = d
        .query("SELECT ts, dec, blob, day FROM ds.typed")
        .await
        .unwrap();
    let s = batches[0].schema();
    assert!(matches!(
        s.field(0).data_type(),
        arrow::datatypes::DataType::Timestamp(_, Some(_))
    ));
    assert_eq!(
        s.field(1).data_type(),
        &arrow::datatypes::DataType::Decimal128(38, 9)
    );
    assert_eq!(batches[0].num_rows(), 1);
}

#[tokio::test]
async fn validate_names_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let err = |s: &str| {
        DuckDbFactory
            .validate(&config(dir, "ds", section(s)))
            .unwrap_err()
    };
    let e = err("credentials = 5");
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string()
            .contains("destination.duckdb.credentials must be a string"),
        "{e}"
    );
    let e = err("credentials = \"\"");
    assert!(
        e.to_string()
            .contains("destination.duckdb.credentials is empty"),
        "{e}"
    );
    let e = err("[credentials]\ndatabase = 3");
    assert!(
        e.to_string()
            .contains("destination.duckdb.credentials.database must be a string"),
        "{e}"
    );
    let e = err("credentials = \":mem:\"");
    assert!(e.to_string().contains(":memory:"), "{e}");
    let e = err("credentials = \"some/dir/\"");
    assert!(e.to_string().contains("names a directory"), "{e}");
    // a dataset named like the database file is ambiguous in DuckDB's SQL
    let e = DuckDbFactory
        .validate(&config(
            dir,
            "DS",
            section("credentials = \"data/ds.duckdb\""),
        ))
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("same name as the DuckDB database file"),
        "{e}"
    );
    assert!(
        e.to_string().contains("destination.duckdb.credentials"),
        "{e}"
    );
    let mut same_as_pipeline = config(dir, "pipe", section(""));
    same_as_pipeline.pipeline_name = "pipe".into();
    assert!(DuckDbFactory.validate(&same_as_pipeline).is_err());
    let mut nameless = config(dir, "ds", section(""));
    nameless.pipeline_name = String::new();
    let e = DuckDbFactory.validate(&nameless).unwrap_err();
    assert!(
        e.to_string()
            .contains("destination.duckdb.credentials is not set"),
        "{e}"
    );
    let e = DuckDbFactory
        .validate(&config(dir, " ", section("")))
        .unwrap_err();
    assert!(e.to_string().contains("dataset"), "{e}");

    // valid forms
    for ok in [
        "",
        "credentials = \":memory:\"",
        "credentials = \"data/x.duckdb\"",
        "credentials = \"duckdb:///tmp/x.duckdb\"",
        "[credentials]\ndatabase = \"x.duckdb\"",
    ] {
        DuckDbFactory
            .validate(&config(dir, "ds", section(ok)))
            .unwrap();
    }

    // validate does no I/O: a path in a missing folder passes validate and fails on connect
    let missing = config(
        dir,
        "ds",
        section("credentials = \"no/such/folder/x.duckdb\""),
    );
    DuckDbFactory.validate(&missing).unwrap();
    let e = DuckDbFactory.open(&missing).await.err().unwrap();
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!dir.join("no").exists());

    // the environment variable wins over the files; relative paths are under the working dir
    let provider = ConfigProvider::empty()
        .with_config_toml("[destination.duckdb]\ncredentials = \"from_config.duckdb\"\n")
        .unwrap()
        .with_env([("DESTINATION__DUCKDB__CREDENTIALS", "from_env.duckdb")]);
    let cfg = config(dir, "ds", provider.section(&["destination", "duckdb"]));
    let d = DuckDbFactory.open(&cfg).await.unwrap();
    assert_eq!(
        d.location(),
        format!(
            "duckdb://{}",
            std::path::absolute(dir.join("from_env.duckdb"))
                .unwrap()
                .display()
        )
    );
    assert!(dir.join("from_env.duckdb").exists());
}

#[tokio::test]
async fn in_memory_database() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "ds", section("credentials = \":memory:\""));
    let mut d = DuckDbFactory.open(&cfg).await.unwrap();
    assert_eq!(d.location(), "duckdb:///:memory:");
    d.initialize().await.unwrap();
    let t = orders();
    let f = parquet(
        tmp.path(),
        &t,
        vec![ints(&[1]), text(&["a"]), text(&["L1"]), text(&["i1"])],
    );
    load(
        &mut d,
        "L1",
        &[SchemaChange::CreateTable { table: t.clone() }],
        &[chain(
            "L1",
            WriteDisposition::Append,
            job(&t, vec![f], 1),
            vec![],
        )],
        &schema_of(&[&t]),
    )
    .await;
    assert_eq!(scalar(&mut d, "SELECT COUNT(*) FROM ds.orders").await, 1);
    assert!(!tmp.path().join("pipe.duckdb").exists());
    let caps = DuckDbFactory.capabilities();
    assert_eq!(caps.max_identifier_length, 65536);
    assert_eq!(caps.sql_type(&Column::new("x", DataType::Double)), "DOUBLE");
}

/// `current_setting(name)` as text.
async fn setting(d: &mut Box<dyn Destination>, name: &str) -> String {
    strings(d, &format!("SELECT current_setting('{name}')::VARCHAR"))
        .await
        .remove(0)
        .unwrap()
}

#[tokio::test]
async fn load_defaults_and_dlts_global_config_pragmas() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    // sluice's defaults on a database file: no insertion order; the memory limit is bounded
    // only while a load runs, by the widest table of the load (1 MiB per column and thread,
    // at least 128 MiB)
    let cfg = config(
        dir,
        "ds",
        section("[credentials.global_config]\nthreads = 2\n"),
    );
    let mut d = DuckDbFactory.open(&cfg).await.unwrap();
    d.initialize().await.unwrap();
    assert_eq!(setting(&mut d, "preserve_insertion_order").await, "false");
    let unbounded = setting(&mut d, "memory_limit").await;
    assert_ne!(unbounded, "128.0 MiB");
    d.begin_load("L1").await.unwrap();
    assert_eq!(setting(&mut d, "memory_limit").await, "128.0 MiB");
    let mut wide = Table::new("wide");
    wide.write_disposition = Some(WriteDisposition::Append);
    for i in 0..78 {
        wide = wide.with_column(Column::new(format!("c{i}"), DataType::Bigint));
    }
    let wide = wide
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    let mut columns: Vec<ArrayRef> = (0..78).map(|i| ints(&[i])).collect();
    columns.push(text(&["L1"]));
    columns.push(text(&["id1"]));
    let f = parquet(dir, &wide, columns);
    d.apply_schema_changes(&[SchemaChange::CreateTable {
        table: wide.clone(),
    }])
    .await
    .unwrap();
    let wide_job = chain(
        "L1",
        WriteDisposition::Append,
        job(&wide, vec![f], 1),
        vec![],
    );
    assert_eq!(d.write_chain(&wide_job).await.unwrap(), 1);
    assert_eq!(setting(&mut d, "memory_limit").await, "160.0 MiB");
    d.commit_load(&commit("L1", &schema_of(&[&wide])))
        .await
        .unwrap();
    assert_eq!(setting(&mut d, "memory_limit").await, unbounded);
    // an aborted load lifts the limit too
    d.begin_load("L2").await.unwrap();
    assert_eq!(setting(&mut d, "memory_limit").await, "128.0 MiB");
    d.abort_load().await.unwrap();
    assert_eq!(setting(&mut d, "memory_limit").await, unbounded);
    drop(d);

    // dlt's keys override them and add settings; pragmas run
    let cfg = config(
        dir,
        "ds",
        section(
            "[credentials]\ndatabase = \"other.duckdb\"\npragmas = [\"enable_progress_bar\"]\n\
             [credentials.global_config]\nmemory_limit = \"1GB\"\nthreads = 1\n\
             [credentials.local_config]\npreserve_insertion_order = true\n",
        ),
    );
    let mut d = DuckDbFactory.open(&cfg).await.unwrap();
    assert_eq!(setting(&mut d, "memory_limit").await, "953.6 MiB");
    assert_eq!(setting(&mut d, "threads").await, "1");
    assert_eq!(setting(&mut d, "preserve_insertion_order").await, "true");
    assert_eq!(setting(&mut d, "enable_progress_bar").await, "true");
    assert!(dir.join("other.duckdb").exists());
    drop(d);

    // an in-memory database keeps DuckDB's memory limit during loads (its data has nowhere
    // else to go); a configured memory_limit is never changed either
    for credentials in [
        "credentials = \":memory:\"",
        "[credentials.global_config]\nmemory_limit = \"1GB\"",
    ] {
        let mut d = DuckDbFactory
            .open(&config(dir, "ds", section(credentials)))
            .await
            .unwrap();
        d.initialize().await.unwrap();
        assert_eq!(setting(&mut d, "preserve_insertion_order").await, "false");
        let before = setting(&mut d, "memory_limit").await;
        d.begin_load("L9").await.unwrap();
        assert_eq!(
            setting(&mut d, "memory_limit").await,
            before,
            "{credentials}"
        );
        d.abort_load().await.unwrap();
    }

    // running out of memory names the table and the setting to raise
    let cfg = config(
        dir,
        "ds_oom",
        section(
            "[credentials]\ndatabase = \"oom.duckdb\"\n[credentials.global_config]\nmemory_limit = \"1MB\"",
        ),
    );
    let mut d = DuckDbFactory.open(&cfg).await.unwrap();
    d.initialize().await.unwrap();
    let t = orders();
    let n = 300_000;
    let names: Vec<String> = (0..n).map(|i| format!("{i:0>100}")).collect();
    let f = parquet(
        dir,
        &t,
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from(names)),
            text(&vec!["L1"; n as usize]),
            Arc::new(StringArray::from(
                (0..n).map(|i| format!("id{i}")).collect::<Vec<_>>(),
            )),
        ],
    );
    d.begin_load("L1").await.unwrap();
    d.apply_schema_changes(&[SchemaChange::CreateTable { table: t.clone() }])
        .await
        .unwrap();
    let too_big = chain(
        "L1",
        WriteDisposition::Append,
        job(&t, vec![f], n as u64),
        vec![],
    );
    let e = d.write_chain(&too_big).await.unwrap_err().to_string();
    assert!(e.contains("table orders"), "{e}");
    assert!(
        e.contains("destination.duckdb.credentials.global_config.memory_limit"),
        "{e}"
    );
    d.abort_load().await.unwrap();
    drop(d);

    // errors name the setting; a value is never echoed (it may be a secret)
    let err = |s: &str| {
        DuckDbFactory
            .validate(&config(dir, "ds", section(s)))
            .unwrap_err()
            .to_string()
    };
    let e = err("[credentials]\nglobal_config = 3");
    assert!(
        e.contains("destination.duckdb.credentials.global_config must be a table"),
        "{e}"
    );
    let e = err("[credentials.local_config]\n\"threads; DROP TABLE x\" = 1");
    assert!(e.contains("is not a DuckDB setting name"), "{e}");
    let e = err("[credentials.global_config]\nthreads = [1]");
    assert!(
        e.contains("destination.duckdb.credentials.global_config.threads"),
        "{e}"
    );
    let e = err("[credentials]\npragmas = \"x\"");
    assert!(e.contains("credentials.pragmas must be a list"), "{e}");
    let bad = config(
        dir,
        "ds",
        section("[credentials.global_config]\nno_such_setting = \"s3cr3t-value\""),
    );
    let e = DuckDbFactory.open(&bad).await.err().unwrap().to_string();
    assert!(e.contains("no_such_setting"), "{e}");
    assert!(!e.contains("s3cr3t-value"), "{e}");
    // DuckDB itself quotes a value it cannot convert; sluice blanks it out
    for setting in [
        "threads = \"s3cr3t-value\"",
        "preserve_insertion_order = \"it's-s3cr3t-value\"",
    ] {
        let bad = config(
            dir,
            "ds",
            section(&format!("[credentials.global_config]\n{setting}")),
        );
        let e = DuckDbFactory.open(&bad).await.err().unwrap();
        let text = format!("{e} {e:?}");
        assert!(text.contains("cannot apply the DuckDB setting"), "{text}");
        assert!(text.contains("***"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
