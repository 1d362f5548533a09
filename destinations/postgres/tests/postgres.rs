//! The Postgres destination against a real server (`SLUICE_TEST_POSTGRES_URL`): what is
//! Postgres's own (types, long identifiers, failed COPY, lost connections, TLS, passwords). The
//! load contract every destination shares is checked by
//! integration-tests/tests/postgres_contract.rs.

mod common;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float64Array, Int64Array, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use common::*;
use sluice_core::DestinationFactoryExt;
use sluice_core::naming::NamingConvention;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::{
    Column, DataType, DestinationFactory, ErrorKind, MergeStrategy, Schema, Table, WriteDisposition,
};
use sluice_postgres::PostgresFactory;
use std::sync::Arc;

fn s(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}
fn i(v: &[i64]) -> ArrayRef {
    Arc::new(Int64Array::from(v.to_vec()))
}

fn items_schema() -> Schema {
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
    schema
}

#[tokio::test]
async fn create_append_query_and_read_back() {
    let Some(url) = pg_url("create_append_query_and_read_back") else {
        return;
    };
    let ds = unique_dataset("append");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    assert!(dest.location().contains(&ds), "{}", dest.location());
    dest.check().await.unwrap();

    let schema = items_schema();
    let t = schema.table("items").unwrap();
    let f1 = parquet(
        dir.path(),
        "a",
        t,
        vec![
            i(&[1, 2, 3]),
            s(&["a", "b", "ü"]),
            s(&["L1"; 3]),
            s(&["x1", "x2", "x3"]),
        ],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f1], 3),
        vec![],
    );
    let n = load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        &[c],
        None,
    )
    .await
    .unwrap();
    assert_eq!(n, 3);
    assert!(dest.is_loaded("L1").await.unwrap());
    assert!(!dest.is_loaded("L2").await.unwrap());

    // Append a second package: rows add up.
    let f2 = parquet(
        dir.path(),
        "b",
        t,
        vec![i(&[4]), s(&["d"]), s(&["L2"]), s(&["x4"])],
    );
    let c2 = chain(
        "L2",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f2], 1),
        vec![],
    );
    load(dest.as_mut(), &schema, &schema, "L2", &[c2], None)
        .await
        .unwrap();

    let got = rows(
        dest.as_mut(),
        &format!("SELECT id, name, _dlt_load_id FROM \"{ds}\".items ORDER BY id"),
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["1", "a", "L1"],
            vec!["2", "b", "L1"],
            vec!["3", "ü", "L1"],
            vec!["4", "d", "L2"],
        ]
    );
    let batches = dest
        .query(&format!("SELECT id, name FROM \"{ds}\".items"))
        .await
        .unwrap();
    assert_eq!(batches[0].schema().field(0).data_type(), &ArrowType::Int64);
    assert_eq!(batches[0].schema().field(1).data_type(), &ArrowType::Utf8);
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\"._dlt_loads WHERE status = 0")
        )
        .await,
        "2"
    );

    // Empty result keeps its columns.
    let empty = dest
        .query(&format!("SELECT id FROM \"{ds}\".items WHERE id < 0"))
        .await
        .unwrap();
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].num_rows(), 0);
    assert_eq!(empty[0].schema().field(0).name(), "id");

    dest.drop_tables(&["items".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT to_regclass('\"{ds}\".items') IS NULL")
        )
        .await,
        "true"
    );
    drop_dataset(dest.as_mut(), &ds).await;
}

#[tokio::test]
async fn all_eleven_types_round_trip() {
    let Some(url) = pg_url("all_eleven_types_round_trip") else {
        return;
    };
    let ds = unique_dataset("types");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let mut schema = Schema::new("types");
    let mut naive = Column::new("ts_naive", DataType::Timestamp);
    naive.timezone = Some(false);
    let table = Table::new("all_types")
        .with_column(Column::new("c_text", DataType::Text))
        .with_column(Column::new("c_bigint", DataType::Bigint))
        .with_column(Column::new("c_double", DataType::Double))
        .with_column(Column::new("c_bool", DataType::Bool))
        .with_column(Column::new("c_timestamp", DataType::Timestamp))
        .with_column(Column::new("c_date", DataType::Date))
        .with_column(Column::new("c_time", DataType::Time))
        .with_column(Column::new("c_decimal", DataType::Decimal))
        .with_column(Column::new("c_wei", DataType::Wei))
        .with_column(Column::new("c_binary", DataType::Binary))
        .with_column(Column::new("c_json", DataType::Json))
        .with_column(naive)
        .with_column(Column::new("c_dec_hint", DataType::Decimal).with_precision(10, Some(2)));
    schema.tables.insert("all_types".into(), table.clone());
    schema.bump_version();

    let ts = 1_767_323_045_123_456i64; // 2026-01-02T03:04:05.123456Z
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![
            Some("héllo 'quoted' \"x\""),
            None,
            Some(""),
        ])),
        Arc::new(Int64Array::from(vec![Some(i64::MAX), None, Some(i64::MIN)])),
        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-1e300)])),
        Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![Some(ts), None, Some(-1_000_000)])
                .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![Some(20_455), None, Some(-1)])),
        Arc::new(Time64MicrosecondArray::from(vec![
            Some(3_723_000_001),
            None,
            Some(0),
        ])),
        Arc::new(
            Decimal128Array::from(vec![Some(123_456_789_012_345_678i128), None, Some(-5i128)])
                .with_precision_and_scale(38, 9)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![
                Some(99_999_999_999_999_999_999_999_999_999_999_999_999i128),
                None,
                Some(0),
            ])
            .with_precision_and_scale(38, 0)
            .unwrap(),
        ),
        Arc::new(BinaryArray::from(vec![
            Some(&b"\x00\x01\xff"[..]),
            None,
            Some(&b""[..]),
        ])),
        Arc::new(StringArray::from(vec![
            Some(r#"{"a": [1, 2, {"b": null}], "c": "ü"}"#),
            None,
            Some("[]"),
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(ts),
            None,
            Some(0),
        ])),
        Arc::new(
            Decimal128Array::from(vec![Some(12_345i128), None, Some(-1)])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
    ];
    let f = parquet(dir.path(), "types", &table, cols.clone());
    let c = chain(
        "T1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "all_types", vec![f], 3),
        vec![],
    );
    load(
        dest.as_mut(),
        &Schema::new("types"),
        &schema,
        "T1",
        &[c],
        None,
    )
    .await
    .unwrap();

    // Column types as dlt creates them.
    let types = rows(
        dest.as_mut(),
        &format!(
            "SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c \
             JOIN pg_attribute a ON a.attrelid = '\"{ds}\".all_types'::regclass AND a.attname = c.column_name \
             WHERE c.table_schema = '{ds}' AND c.table_name = 'all_types' ORDER BY c.ordinal_position"
        ),
    )
    .await;
    let types: Vec<(String, String)> = types
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    let expect = [
        ("c_text", "character varying"),
        ("c_bigint", "bigint"),
        ("c_double", "double precision"),
        ("c_bool", "boolean"),
        ("c_timestamp", "timestamp with time zone"),
        ("c_date", "date"),
        ("c_time", "time without time zone"),
        ("c_decimal", "numeric(38,9)"),
        ("c_wei", "numeric(78,0)"),
        ("c_binary", "bytea"),
        ("c_json", "jsonb"),
        ("ts_naive", "timestamp without time zone"),
        ("c_dec_hint", "numeric(10,2)"),
    ];
    assert_eq!(
        types,
        expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );

    // Values come back as the same Arrow values (wei as text: numeric(78,0) exceeds Decimal128;
    // json as normalized jsonb text).
    let batches = dest
        .query(&format!(
            "SELECT c_text, c_bigint, c_double, c_bool, c_timestamp, c_date, c_time, c_decimal, c_wei, c_binary, c_json, ts_naive, c_dec_hint FROM \"{ds}\".all_types ORDER BY c_bigint DESC NULLS LAST"
        ))
        .await
        .unwrap();
    assert_eq!(batches.len(), 1);
    let b = &batches[0];
    assert_eq!(b.num_rows(), 3);
    // Rows ordered: i64::MAX, i64::MIN, NULL -> reorder the input the same way.
    let order = [0usize, 2, 1];
    for (k, idx) in [0usize, 1, 2, 3, 4, 5, 6, 7, 9, 11, 12].iter().enumerate() {
        let got = b.column(*idx);
        let want = arrow::compute::take(
            cols[*idx].as_ref(),
            &arrow::array::UInt32Array::from(order.iter().map(|o| *o as u32).collect::<Vec<_>>()),
            None,
        )
        .unwrap();
        assert_eq!(
            got.data_type(),
            want.data_type(),
            "column {k} ({})",
            b.schema().field(*idx).name()
        );
        assert_eq!(
            got.as_ref(),
            want.as_ref(),
            "column {}",
            b.schema().field(*idx).name()
        );
    }
    let wei = b.column(8).as_string::<i32>();
    assert_eq!(wei.value(0), "99999999999999999999999999999999999999");
    assert_eq!(wei.value(1), "0");
    assert!(wei.is_null(2));
    let json = b.column(10).as_string::<i32>();
    let parsed: serde_json::Value = serde_json::from_str(json.value(0)).unwrap();
    assert_eq!(
        parsed,
        serde_json::json!({"a": [1, 2, {"b": null}], "c": "ü"})
    );
    assert_eq!(json.value(1), "[]");
    assert_eq!(
        b.schema().field(4).data_type(),
        &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT c_timestamp::text FROM \"{ds}\".all_types WHERE c_bigint > 0")
        )
        .await,
        "2026-01-02 03:04:05.123456+00"
    );
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT c_decimal::text || ' ' || c_date::text || ' ' || c_time::text FROM \"{ds}\".all_types WHERE c_bigint > 0")
        )
        .await,
        "123456789.012345678 2026-01-02 01:02:03.000001"
    );
    // Other server types read as Arrow too (int4, float4, numeric without typmod, uuid, interval).
    let b = &dest
        .query("SELECT 1::int4 AS a, 2.5::float4 AS b, 12.345::numeric AS c, '8e7d8f0c-2b7a-4a53-9d7e-6f2a1b3c4d5e'::uuid AS d, interval '1 day' AS e, 'x'::name AS f")
        .await
        .unwrap()[0];
    assert_eq!(b.column(0).data_type(), &ArrowType::Int32);
    assert_eq!(b.column(1).data_type(), &ArrowType::Float32);
    assert_eq!(b.column(2).as_string::<i32>().value(0), "12.345");
    assert_eq!(
        b.column(3).as_string::<i32>().value(0),
        "8e7d8f0c-2b7a-4a53-9d7e-6f2a1b3c4d5e"
    );
    assert_eq!(b.column(4).as_string::<i32>().value(0), "1 day");
    assert_eq!(b.schema().field(4).name(), "e");
    assert_eq!(b.column(5).as_string::<i32>().value(0), "x");
    drop_dataset(dest.as_mut(), &ds).await;
}

fn orders_schema(disposition: WriteDisposition) -> Schema {
    let mut schema = Schema::new("shop");
    let mut orders = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("status", DataType::Text))
        .with_column(Column::new("rev", DataType::Bigint))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    orders.columns["rev"].dedup_sort = Some("desc".into());
    orders.write_disposition = Some(disposition);
    schema.tables.insert("orders".into(), orders);
    schema.tables.insert(
        "orders__items".into(),
        Table::nested("orders__items", "orders")
            .with_column(Column::new("sku", DataType::Text))
            .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
            .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text).not_null())
            .with_column(Column::new("_dlt_list_idx", DataType::Bigint).not_null())
            .with_column(Column::new(C_DLT_ID, DataType::Text).not_null()),
    );
    schema.bump_version();
    schema
}

/// Orders (id, status, rev, load, dlt_id) and their items (sku, parent, root, idx, dlt_id).
#[allow(clippy::type_complexity)]
fn orders_package(
    dir: &std::path::Path,
    schema: &Schema,
    load_id: &str,
    disposition: WriteDisposition,
    strategy: MergeStrategy,
    orders: &[(i64, &str, i64, &str)],
    items: &[(&str, &str, i64, &str)],
) -> sluice_core::ChainJob {
    let ot = schema.table("orders").unwrap();
    let it = schema.table("orders__items").unwrap();
    let fo = parquet(
        dir,
        &format!("orders_{load_id}"),
        ot,
        vec![
            i(&orders.iter().map(|o| o.0).collect::<Vec<_>>()),
            s(&orders.iter().map(|o| o.1).collect::<Vec<_>>()),
            i(&orders.iter().map(|o| o.2).collect::<Vec<_>>()),
            s(&vec![load_id; orders.len()]),
            s(&orders.iter().map(|o| o.3).collect::<Vec<_>>()),
        ],
    );
    let mut nested = job(schema, "orders__items", vec![], 0);
    if !items.is_empty() {
        let fi = parquet(
            dir,
            &format!("items_{load_id}"),
            it,
            vec![
                s(&items.iter().map(|x| x.0).collect::<Vec<_>>()),
                s(&items.iter().map(|x| x.1).collect::<Vec<_>>()),
                s(&items.iter().map(|x| x.1).collect::<Vec<_>>()),
                i(&items.iter().map(|x| x.2).collect::<Vec<_>>()),
                s(&items.iter().map(|x| x.3).collect::<Vec<_>>()),
            ],
        );
        nested = job(schema, "orders__items", vec![fi], items.len() as u64);
    }
    chain(
        load_id,
        disposition,
        strategy,
        job(schema, "orders", vec![fo], orders.len() as u64),
        vec![nested],
    )
}

async fn merge_case(strategy: MergeStrategy, name: &str) {
    let Some(url) = pg_url(name) else {
        return;
    };
    let ds = unique_dataset(name);
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let schema = orders_schema(WriteDisposition::Merge);
    let d = WriteDisposition::Merge;
    let c1 = orders_package(
        dir.path(),
        &schema,
        "M1",
        d,
        strategy,
        &[(1, "new", 1, "o1"), (2, "new", 1, "o2")],
        &[
            ("a", "o1", 0, "o1i0"),
            ("b", "o2", 0, "o2i0"),
            ("c", "o2", 1, "o2i1"),
        ],
    );
    load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "M1",
        &[c1],
        None,
    )
    .await
    .unwrap();
    // Order 2 arrives twice (rev 2 and 3: the higher rev wins); order 3 is new.
    // With upsert, root `_dlt_id`s are derived from the primary key, so they repeat.
    let (id2a, id2b) = if strategy == MergeStrategy::Upsert {
        ("o2", "o2")
    } else {
        ("o2a", "o2b")
    };
    let c2 = orders_package(
        dir.path(),
        &schema,
        "M2",
        d,
        strategy,
        &[
            (2, "shipped", 2, id2a),
            (2, "delivered", 3, id2b),
            (3, "new", 1, "o3"),
        ],
        &[("z", id2b, 0, "o2i0"), ("q", "o3", 0, "o3i0")],
    );
    load(dest.as_mut(), &schema, &schema, "M2", &[c2], None)
        .await
        .unwrap();
    assert_eq!(
        rows(
            dest.as_mut(),
            &format!("SELECT id, status, rev FROM \"{ds}\".orders ORDER BY id")
        )
        .await,
        vec![
            vec!["1", "new", "1"],
            vec!["2", "delivered", "3"],
            vec!["3", "new", "1"]
        ]
    );
    assert_eq!(
        rows(
            dest.as_mut(),
            &format!(
                "SELECT o.id, i.sku FROM \"{ds}\".orders__items i JOIN \"{ds}\".orders o ON o._dlt_id = i._dlt_root_id ORDER BY o.id, i._dlt_list_idx"
            )
        )
        .await,
        vec![vec!["1", "a"], vec!["2", "z"], vec!["3", "q"]]
    );
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\".orders__items")
        )
        .await,
        "3"
    );
    drop_dataset(dest.as_mut(), &ds).await;
}

#[tokio::test]
async fn merge_delete_insert_with_nested_and_duplicates() {
    merge_case(MergeStrategy::DeleteInsert, "merge_di").await;
}

#[tokio::test]
async fn merge_upsert_with_nested_and_duplicates() {
    merge_case(MergeStrategy::Upsert, "merge_up").await;
}

#[tokio::test]
async fn long_identifiers_are_shortened_distinctly_and_load() {
    let Some(url) = pg_url("long_identifiers_are_shortened_distinctly_and_load") else {
        return;
    };
    let ds = unique_dataset("long");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let caps = PostgresFactory.capabilities();
    let tn = caps.table_naming();
    let cn: NamingConvention = caps.column_naming();
    let base = "a_very_long_column_name_that_goes_on_and_on_beyond_what_postgres_allows_";
    let c1 = cn.normalize_identifier(&format!("{base}first"));
    let c2 = cn.normalize_identifier(&format!("{base}second"));
    let table = tn.normalize_identifier(
        "AnExtremelyLongTableNameThatPostgresWouldTruncateSilentlyIfWeLetItHappen",
    );
    assert_eq!(c1.len(), 63);
    assert_eq!(c2.len(), 63);
    assert_eq!(table.len(), 63);
    assert_ne!(c1, c2);
    let mut schema = Schema::new("long");
    let t = Table::new(&table)
        .with_column(Column::new(&c1, DataType::Bigint))
        .with_column(Column::new(&c2, DataType::Bigint))
        .with_column(Column::new(C_DLT_ID, DataType::Text));
    schema.tables.insert(table.clone(), t.clone());
    schema.bump_version();
    let f = parquet(
        dir.path(),
        "long",
        &t,
        vec![i(&[1, 2]), i(&[10, 20]), s(&["a", "b"])],
    );
    let c = chain(
        "N1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, &table, vec![f], 2),
        vec![],
    );
    load(
        dest.as_mut(),
        &Schema::new("long"),
        &schema,
        "N1",
        &[c],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        rows(
            dest.as_mut(),
            &format!("SELECT \"{c1}\", \"{c2}\" FROM \"{ds}\".\"{table}\" ORDER BY 1")
        )
        .await,
        vec![vec!["1", "10"], vec!["2", "20"]]
    );
    drop_dataset(dest.as_mut(), &ds).await;
}

#[tokio::test]
async fn failed_copy_leaves_the_dataset_unchanged() {
    let Some(url) = pg_url("failed_copy_leaves_the_dataset_unchanged") else {
        return;
    };
    let ds = unique_dataset("badcopy");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    // A first good load, so the dataset has rows to keep.
    let schema = items_schema();
    let t = schema.table("items").unwrap().clone();
    let f = parquet(
        dir.path(),
        "ok",
        &t,
        vec![i(&[1]), s(&["a"]), s(&["L1"]), s(&["x1"])],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f], 1),
        vec![],
    );
    load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        &[c],
        None,
    )
    .await
    .unwrap();

    // Second package: a new table whose text column is varchar(5), and a value that does not fit.
    let mut v2 = schema.clone();
    v2.tables.insert(
        "codes".into(),
        Table::new("codes")
            .with_column(Column::new("code", DataType::Text).with_precision(5, None))
            .with_column(Column::new(C_DLT_ID, DataType::Text)),
    );
    v2.bump_version();
    let ct = v2.table("codes").unwrap().clone();
    let good = parquet(
        dir.path(),
        "more",
        &t,
        vec![i(&[2]), s(&["b"]), s(&["L2"]), s(&["x2"])],
    );
    let bad = parquet(
        dir.path(),
        "bad",
        &ct,
        vec![s(&["ok", "much too long for five"]), s(&["c1", "c2"])],
    );
    let chains = [
        chain(
            "L2",
            WriteDisposition::Append,
            MergeStrategy::DeleteInsert,
            job(&v2, "items", vec![good], 1),
            vec![],
        ),
        chain(
            "L2",
            WriteDisposition::Append,
            MergeStrategy::DeleteInsert,
            job(&v2, "codes", vec![bad], 2),
            vec![],
        ),
    ];
    let err = load(dest.as_mut(), &schema, &v2, "L2", &chains, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Destination, "{err}");
    assert!(err.to_string().contains("codes"), "{err}");
    assert!(err.to_string().contains("too long"), "{err}");
    assert!(!dest.is_loaded("L2").await.unwrap());
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\".items")
        )
        .await,
        "1"
    );
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT to_regclass('\"{ds}\".codes') IS NULL")
        )
        .await,
        "true",
        "the new table is rolled back too"
    );
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\"._dlt_loads")
        )
        .await,
        "1"
    );
    let stored = dest.stored_schema("shop").await.unwrap().unwrap();
    assert_eq!(stored.version, schema.version);
    drop_dataset(dest.as_mut(), &ds).await;
}

#[tokio::test]
async fn unconvertible_file_values_abort_and_the_connection_stays_usable() {
    let Some(url) = pg_url("unconvertible_file_values_abort_and_the_connection_stays_usable")
    else {
        return;
    };
    let ds = unique_dataset("badfile");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let schema = items_schema();
    // A file whose `id` holds text that is not a number.
    let mut wrong = schema.table("items").unwrap().clone();
    wrong.columns["id"].data_type = Some(DataType::Text);
    let f = parquet(
        dir.path(),
        "wrong",
        &wrong,
        vec![
            s(&["12", "abc"]),
            s(&["a", "b"]),
            s(&["L1"; 2]),
            s(&["x1", "x2"]),
        ],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f], 2),
        vec![],
    );
    let err = load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        &[c],
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input, "{err}");
    assert!(err.to_string().contains("items.id"), "{err}");
    assert!(!dest.is_loaded("L1").await.unwrap());
    // The same destination loads the corrected package.
    let t = schema.table("items").unwrap();
    let f = parquet(
        dir.path(),
        "right",
        t,
        vec![i(&[12]), s(&["a"]), s(&["L1"]), s(&["x1"])],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f], 1),
        vec![],
    );
    load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        &[c],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\".items")
        )
        .await,
        "1"
    );
    drop_dataset(dest.as_mut(), &ds).await;
}

/// A second loader that raced past `is_loaded` cannot load a committed package again (the
/// contract suite checks that `is_loaded` detects it).
#[tokio::test]
async fn beginning_a_committed_load_again_is_refused() {
    let Some(url) = pg_url("beginning_a_committed_load_again_is_refused") else {
        return;
    };
    let ds = unique_dataset("reload");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let schema = items_schema();
    let t = schema.table("items").unwrap().clone();
    let f = parquet(
        dir.path(),
        "a",
        &t,
        vec![i(&[1]), s(&["a"]), s(&["L1"]), s(&["x1"])],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f], 1),
        vec![],
    );
    load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        std::slice::from_ref(&c),
        None,
    )
    .await
    .unwrap();
    // Forcing it anyway (a second loader that raced past is_loaded) is refused.
    let err = dest.begin_load("L1").await.unwrap_err();
    assert!(err.to_string().contains("already"), "{err}");
    assert_eq!(
        scalar(
            dest.as_mut(),
            &format!("SELECT count(*) FROM \"{ds}\".items")
        )
        .await,
        "1"
    );
    drop_dataset(dest.as_mut(), &ds).await;
}

#[tokio::test]
async fn lost_connection_mid_load_is_transient_and_rerun_loads_once() {
    let Some(url) = pg_url("lost_connection_mid_load_is_transient_and_rerun_loads_once") else {
        return;
    };
    let ds = unique_dataset("lost");
    let dir = tempfile::tempdir().unwrap();
    let mut dest = connect(&url, &ds).await;
    let mut admin = connect(&url, &ds).await;
    let schema = items_schema();
    let t = schema.table("items").unwrap().clone();
    let n = 50_000;
    let ids: Vec<i64> = (0..n).collect();
    let names: Vec<String> = ids.iter().map(|x| format!("name {x}")).collect();
    let f = parquet(
        dir.path(),
        "big",
        &t,
        vec![
            i(&ids),
            Arc::new(StringArray::from(names.clone())),
            s(&vec!["L1"; n as usize]),
            Arc::new(StringArray::from(names)),
        ],
    );
    let c = chain(
        "L1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        job(&schema, "items", vec![f], n as u64),
        vec![],
    );
    dest.initialize().await.unwrap();
    dest.begin_load("L1").await.unwrap();
    dest.apply_schema_changes(&schema.changes_since(&Schema::new("shop")))
        .await
        .unwrap();
    assert_eq!(dest.write_chain(&c).await.unwrap(), n as u64);
    let pid = scalar(dest.as_mut(), "SELECT pg_backend_pid()").await;
    admin
        .query(&format!("SELECT pg_terminate_backend({pid})"))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let err = dest
        .commit_load(&sluice_core::LoadCommit {
            load_id: "L1".into(),
            schema: schema.clone(),
            state: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient, "{err}");
    assert!(err.is_retryable());
    dest.abort_load().await.unwrap();
    assert!(!admin.is_loaded("L1").await.unwrap());
    assert_eq!(
        scalar(
            admin.as_mut(),
            &format!("SELECT to_regclass('\"{ds}\".items') IS NULL")
        )
        .await,
        "true"
    );
    // The next run (same destination value: it reconnects) loads the package exactly once.
    let rows_loaded = load(
        dest.as_mut(),
        &Schema::new("shop"),
        &schema,
        "L1",
        std::slice::from_ref(&c),
        None,
    )
    .await
    .unwrap();
    assert_eq!(rows_loaded, n as u64);
    assert_eq!(
        load(
            dest.as_mut(),
            &Schema::new("shop"),
            &schema,
            "L1",
            &[c],
            None
        )
        .await
        .unwrap(),
        0
    );
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
    drop_dataset(admin.as_mut(), &ds).await;
}

#[tokio::test]
async fn wrong_password_is_a_clear_error_without_the_password() {
    let Some(url) = pg_url("wrong_password_is_a_clear_error_without_the_password") else {
        return;
    };
    let ds = unique_dataset("pw");
    let mut admin = connect(&url, &ds).await;
    let role = format!("sluice_pw_{}", std::process::id());
    let _ = admin.query(&format!("DROP ROLE IF EXISTS {role}")).await;
    admin
        .query(&format!("CREATE ROLE {role} LOGIN PASSWORD 'right-Pw-123'"))
        .await
        .unwrap();
    let creds = sluice_postgres::PgCredentials::parse_url(&url).unwrap();
    let with_pw = |pw: &str| {
        format!(
            "postgresql://{role}:{pw}@{}:{}/{}?sslmode=prefer&connect_timeout=5",
            creds.host, creds.port, creds.database
        )
    };
    let secret = "Wr0ng-S3cret-pw";
    match PostgresFactory.open(&config(&with_pw(secret), &ds)).await {
        Ok(_) => eprintln!(
            "NOTICE: the server accepts any password for {role} (trust authentication); wrong-password check skipped"
        ),
        Err(e) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains(secret), "{text}");
            assert_eq!(e.kind(), ErrorKind::Config, "{text}");
            assert!(text.contains("password authentication failed"), "{text}");
            assert!(text.contains(&role), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }
    let mut ok = PostgresFactory
        .open(&config(&with_pw("right-Pw-123"), &ds))
        .await
        .unwrap();
    ok.check().await.unwrap();
    assert!(!ok.location().contains("right-Pw-123"), "{}", ok.location());
    assert!(!format!("{:?}", creds).contains("right-Pw-123"));
    drop(ok);
    let _ = admin.query(&format!("DROP ROLE IF EXISTS {role}")).await;
}

#[tokio::test]
async fn sslmode_disable_and_tls_by_default() {
    let Some(url) = pg_url("sslmode_disable_and_tls_by_default") else {
        return;
    };
    let ds = unique_dataset("tls");
    let sep = if url.contains('?') { '&' } else { '?' };
    let ssl_sql = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";
    let mut plain = connect(&format!("{url}{sep}sslmode=disable"), &ds).await;
    assert_eq!(scalar(plain.as_mut(), ssl_sql).await, "false");
    let server_ssl = scalar(plain.as_mut(), "SELECT current_setting('ssl')").await;
    let mut default = connect(&url, &ds).await;
    let used = scalar(default.as_mut(), ssl_sql).await;
    if server_ssl == "on" {
        assert_eq!(used, "true", "TLS is used when the server offers it");
        let mut req = connect(&format!("{url}{sep}sslmode=require"), &ds).await;
        assert_eq!(scalar(req.as_mut(), ssl_sql).await, "true");
    } else {
        eprintln!("NOTICE: the test server has ssl=off; TLS checks skipped");
        assert_eq!(used, "false");
    }
}

#[test]
fn validate_names_missing_settings() {
    let cfg = DestinationConfigExt::empty("ds");
    let err = PostgresFactory.validate(&cfg).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("DESTINATION__POSTGRES__CREDENTIALS"),
        "{text}"
    );
    assert!(
        text.contains("[destination.postgres.credentials]"),
        "{text}"
    );
    assert!(text.contains(".sluice/secrets.toml"), "{text}");
    let ok = config("postgresql://u:pw@localhost:5432/db", "ds");
    PostgresFactory.validate(&ok).unwrap();
}

struct DestinationConfigExt;
impl DestinationConfigExt {
    fn empty(ds: &str) -> sluice_core::DestinationConfig {
        let mut c = config("x", ds);
        c.section = sluice_core::ConfigProvider::empty().section(&["destination", "postgres"]);
        c
    }
}
