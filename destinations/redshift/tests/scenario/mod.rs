//! The scenario shared by the stand-in and the live suites: loads of every sluice type with
//! merge, an added column and replace, and the Redshift-dialect check of every statement sent.
#![allow(dead_code)]

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
    StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::destination::{ChainJob, LoadCommit, StateRecord, TableJob};
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::{
    ChainDisposition, Column, DataType, Destination, MergeStrategy, Schema, SchemaChange, Table,
    WriteDisposition,
};
use sluice_redshift::{RedshiftCredentials, RedshiftDestination, StatementLog};
use sqlparser::ast::{self, Statement};
use sqlparser::dialect::RedshiftSqlDialect;
use sqlparser::parser::Parser;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn orders(extra: bool) -> Table {
    let mut t = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new("price", DataType::Double))
        .with_column(Column::new("active", DataType::Bool))
        .with_column(Column::new("created", DataType::Timestamp))
        .with_column(Column::new("day", DataType::Date))
        .with_column(Column::new("at_time", DataType::Time))
        .with_column(Column::new("amount", DataType::Decimal))
        .with_column(Column::new("big", DataType::Wei))
        .with_column(Column::new("payload", DataType::Json))
        .with_column(Column::new("raw", DataType::Binary))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    if extra {
        t = t.with_column(Column::new("note", DataType::Text));
    }
    t.write_disposition = Some(WriteDisposition::Merge);
    t
}

pub fn items() -> Table {
    Table::nested("orders__items", "orders")
        .with_column(Column::new("sku", DataType::Text))
        .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

pub fn write(dir: &Path, name: &str, table: &Table, columns: Vec<ArrayRef>) -> PathBuf {
    let path = dir.join(format!("{name}.parquet"));
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ParquetFileWriter::create(&path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path
}

/// Order rows `ids` with the given names; ids and names line up.
pub fn order_file(dir: &Path, file: &str, ids: &[i64], names: &[&str], note: bool) -> PathBuf {
    let n = ids.len();
    let table = orders(note);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(StringArray::from(names.to_vec())),
        Arc::new(Float64Array::from(vec![1.5; n])),
        Arc::new(BooleanArray::from(vec![true; n])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![1_767_261_600_123_456; n]).with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![20_454; n])),
        Arc::new(Time64MicrosecondArray::from(vec![45_296_000_001; n])),
        Arc::new(
            Decimal128Array::from(vec![12_345_000_000_000i128; n])
                .with_precision_and_scale(38, 9)
                .unwrap(),
        ),
        Arc::new(
            Decimal128Array::from(vec![10i128.pow(37); n])
                .with_precision_and_scale(38, 0)
                .unwrap(),
        ),
        Arc::new(StringArray::from(vec![r#"{"k": "v\"q", "n": [1, 2]}"#; n])),
        Arc::new(BinaryArray::from(vec![&b"\x00\xffab"[..]; n])),
        Arc::new(StringArray::from(vec!["load"; n])),
        Arc::new(StringArray::from(
            ids.iter()
                .enumerate()
                .map(|(pos, i)| format!("o{i}-{pos}"))
                .collect::<Vec<_>>(),
        )),
    ];
    if note {
        cols.push(Arc::new(StringArray::from(vec![Some("n"); n])));
    }
    write(dir, file, &table, cols)
}

/// Item rows `(sku, _dlt_id of the order)`.
pub fn item_file(dir: &Path, file: &str, rows: &[(&str, &str)]) -> PathBuf {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| format!("i{}{}", r.1, r.0))
                .collect::<Vec<_>>(),
        )),
    ];
    write(dir, file, &items(), cols)
}

pub fn schema(note: bool) -> Schema {
    let mut s = Schema::new("shop");
    s.tables.insert("orders".into(), orders(note));
    s.tables.insert("orders__items".into(), items());
    s.bump_version();
    s
}

pub fn chain(
    load_id: &str,
    disposition: ChainDisposition,
    root: (Table, Vec<PathBuf>, u64),
    nested: (Vec<PathBuf>, u64),
    dir: &Path,
) -> ChainJob {
    ChainJob {
        load_id: load_id.into(),
        disposition,
        merge_strategy: MergeStrategy::DeleteInsert,
        root: TableJob {
            table: root.0,
            files: root.1,
            rows: root.2,
        },
        nested: vec![TableJob {
            table: items(),
            files: nested.0,
            rows: nested.1,
        }],
        schema_name: "shop".into(),
        scratch_dir: dir.join("scratch"),
    }
}

pub async fn load(
    dest: &mut RedshiftDestination,
    job: &ChainJob,
    changes: &[SchemaChange],
    schema: &Schema,
) -> u64 {
    dest.begin_load(&job.load_id).await.unwrap();
    dest.apply_schema_changes(changes).await.unwrap();
    let rows = dest.write_chain(job).await.unwrap();
    let commit = LoadCommit {
        load_id: job.load_id.clone(),
        schema: schema.clone(),
        state: Some(StateRecord {
            pipeline_name: "shop_pipeline".into(),
            version: 1,
            version_hash: format!("h-{}", job.load_id),
            state: serde_json::json!({"load": job.load_id, "quote": "it's \\ here"}),
            created_at: "2026-01-01T10:00:00.5Z".into(),
        }),
    };
    dest.commit_load(&commit).await.unwrap();
    rows
}

pub async fn cells(dest: &mut RedshiftDestination, sql: &str) -> Vec<Vec<String>> {
    let batches = dest.query(sql).await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
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

pub async fn connect(url: &str, dataset: &str, log: &StatementLog) -> RedshiftDestination {
    let creds = RedshiftCredentials::parse_url(url).unwrap();
    sluice_redshift::connect(creds, dataset, Some(log.clone()))
        .await
        .unwrap()
}

/// Loads of every type into `dataset` (a mixed-case name, folded to lower case) at `url`:
/// a merge with a duplicate key and nested rows, a merge that adds a column, a replace cut
/// into many INSERT statements. The rows are read back; every statement sent is parsed with
/// the Redshift dialect ([`check_dialect`]). The dataset is left for the caller to drop.
pub async fn every_type(url: &str, dataset: &str) {
    let ds = dataset.to_lowercase();
    let dir = tempfile::tempdir().unwrap();
    let log = StatementLog::new();
    let mut dest = connect(url, dataset, &log).await;
    dest.initialize().await.unwrap();

    // Load 1: merge into empty tables; a duplicate key in the load is deduplicated.
    let s1 = schema(false);
    let names = ["it's", "back\\slash", "dup"];
    let f1 = order_file(dir.path(), "o1", &[1, 2, 2], &names, false);
    let i1 = item_file(
        dir.path(),
        "i1",
        &[("a", "o1-0"), ("b", "o1-0"), ("c", "o2-1")],
    );
    let job = chain(
        "1000.1",
        ChainDisposition::Merge,
        (orders(false), vec![f1], 3),
        (vec![i1], 3),
        dir.path(),
    );
    let changes = vec![
        SchemaChange::CreateTable {
            table: orders(false),
        },
        SchemaChange::CreateTable { table: items() },
    ];
    assert_eq!(load(&mut dest, &job, &changes, &s1).await, 6);
    assert!(dest.is_loaded("1000.1").await.unwrap());
    assert_eq!(
        dest.stored_schema("shop")
            .await
            .unwrap()
            .unwrap()
            .version_hash,
        s1.version_hash
    );
    let rows = cells(
        &mut dest,
        &format!("SELECT id, name, price, active, created, day, at_time, amount, big, payload, raw FROM {ds}.orders ORDER BY id"),
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][1], "it's");
    assert_eq!(
        &rows[0][2..9],
        &[
            "1.5",
            "true",
            "2026-01-01T10:00:00.123456Z",
            "2026-01-01",
            "12:34:56.000001",
            "12345.000000000",
            "10000000000000000000000000000000000000",
        ]
    );
    // `super` and `varbyte` print differently on Redshift and on the stand-in's jsonb and bytea:
    // compare the JSON value and the hex digits.
    let json: serde_json::Value = serde_json::from_str(&rows[0][9]).unwrap();
    assert_eq!(json, serde_json::json!({"k": "v\"q", "n": [1, 2]}));
    assert_eq!(rows[0][10].trim_start_matches("\\x"), "00ff6162");
    assert!(
        rows[1][1] == "back\\slash" || rows[1][1] == "dup",
        "{rows:?}"
    );

    // Load 2: a new column (one ALTER TABLE … ADD COLUMN), id 1 updated with new items.
    let s2 = schema(true);
    let f2 = order_file(dir.path(), "o2", &[1], &["one"], true);
    let i2 = item_file(dir.path(), "i2", &[("z", "o1-0")]);
    let job = chain(
        "1000.2",
        ChainDisposition::Merge,
        (orders(true), vec![f2], 1),
        (vec![i2], 1),
        dir.path(),
    );
    let add = vec![SchemaChange::AddColumns {
        table: "orders".into(),
        columns: vec![Column::new("note", DataType::Text)],
    }];
    load(&mut dest, &job, &add, &s2).await;
    // Applying the same change again (a retried load) adds nothing.
    dest.begin_load("1000.9").await.unwrap();
    dest.apply_schema_changes(&add).await.unwrap();
    dest.abort_load().await.unwrap();
    let rows = cells(
        &mut dest,
        &format!("SELECT o.id, o.name, o.note, i.sku FROM {ds}.orders o LEFT JOIN {ds}.orders__items i ON i._dlt_root_id = o._dlt_id ORDER BY o.id, i.sku"),
    )
    .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0], vec!["1", "one", "n", "z"]);
    assert_eq!((rows[1][0].as_str(), rows[1][2].as_str()), ("2", "null"));

    // Load 3: replace with many small INSERT statements.
    dest.flavor_mut().set_statement_budget(1024);
    let ids: Vec<i64> = (100..160).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("name {i}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let f3 = order_file(dir.path(), "o3", &ids, &name_refs, true);
    let mut replace = chain(
        "1000.3",
        ChainDisposition::Replace,
        (orders(true), vec![f3], 60),
        (vec![], 0),
        dir.path(),
    );
    replace.root.table.write_disposition = Some(WriteDisposition::Replace);
    let before = log.statements().len();
    assert_eq!(load(&mut dest, &replace, &[], &s2).await, 60);
    let inserts = log.statements()[before..]
        .iter()
        .filter(|s| s.starts_with(&format!("INSERT INTO \"{ds}\".\"orders\"")))
        .map(|s| s.len())
        .collect::<Vec<_>>();
    assert!(inserts.len() > 5, "{inserts:?}");
    assert!(inserts.iter().all(|n| *n <= 1024), "{inserts:?}");
    assert_eq!(
        cells(
            &mut dest,
            &format!("SELECT COUNT(*), MIN(id) FROM {ds}.orders")
        )
        .await,
        vec![vec!["60", "100"]]
    );
    assert_eq!(
        cells(
            &mut dest,
            &format!("SELECT COUNT(*) FROM {ds}.orders__items")
        )
        .await,
        vec![vec!["0"]]
    );

    let state = dest.stored_state("shop_pipeline").await.unwrap().unwrap();
    assert_eq!(state.version_hash, "h-1000.3");
    assert_eq!(state.state["quote"], "it's \\ here");
    assert_eq!(state.created_at, "2026-01-01T10:00:00.500Z");

    let sent = log.statements();
    println!("{} statements sent and parsed", sent.len());
    check_dialect(&sent, &ds);
}

/// Parse every statement with the Redshift dialect and check the parsed trees.
pub fn check_dialect(statements: &[String], ds: &str) {
    let mut creates = 0;
    let mut alters = 0;
    let mut inserts = 0;
    let mut deletes = 0;
    let mut targets = std::collections::BTreeSet::new();
    let mut system_types = std::collections::BTreeMap::new();
    for sql in statements {
        let parsed = Parser::parse_sql(&RedshiftSqlDialect {}, sql)
            .unwrap_or_else(|e| panic!("not Redshift SQL ({e}): {sql}"));
        assert_eq!(parsed.len(), 1, "one statement per call: {sql}");
        match &parsed[0] {
            Statement::CreateTable(ct) => {
                creates += 1;
                let name = ct.name.to_string();
                if name.contains("_dlt_") {
                    for c in &ct.columns {
                        let ty = c.data_type.to_string().to_lowercase();
                        system_types.insert(format!("{name}.{}", c.name.value), ty);
                    }
                }
                assert!(
                    name.starts_with(&format!("\"{ds}\".")) || ct.temporary,
                    "{name}"
                );
                if name == format!("\"{ds}\".\"orders\"") {
                    let ty = |col: &str| {
                        ct.columns
                            .iter()
                            .find(|c| c.name.value == col)
                            .unwrap_or_else(|| panic!("column {col} in {sql}"))
                            .data_type
                            .to_string()
                            .to_lowercase()
                    };
                    assert_eq!(ty("id"), "bigint");
                    assert_eq!(ty("name"), "varchar(65535)");
                    assert_eq!(ty("price"), "double precision");
                    assert_eq!(ty("active"), "boolean");
                    assert_eq!(ty("created"), "timestamp with time zone");
                    assert_eq!(ty("day"), "date");
                    assert_eq!(ty("at_time"), "time without time zone");
                    assert_eq!(ty("amount"), "numeric(38,9)");
                    assert_eq!(ty("big"), "numeric(38,0)");
                    assert_eq!(ty("payload"), "super");
                    assert_eq!(ty("raw"), "varbinary");
                }
            }
            Statement::AlterTable(alter) => {
                alters += 1;
                assert_eq!(alter.name.to_string(), format!("\"{ds}\".\"orders\""));
                assert!(
                    matches!(
                        alter.operations.as_slice(),
                        [ast::AlterTableOperation::AddColumn {
                            if_not_exists: false,
                            ..
                        }]
                    ),
                    "one column, no IF NOT EXISTS (Redshift has none): {sql}"
                );
            }
            Statement::Insert(insert) => {
                inserts += 1;
                let target = insert.table.to_string();
                targets.insert(target.clone());
                assert!(
                    target.starts_with(&format!("\"{ds}\"."))
                        || target.starts_with("\"_sluice_stg_"),
                    "{target}"
                );
            }
            Statement::Delete(delete) => {
                deletes += 1;
                assert!(!sql.contains("USING"), "{sql}");
                let _ = delete;
            }
            Statement::CreateSchema { .. }
            | Statement::StartTransaction { .. }
            | Statement::Commit { .. }
            | Statement::Rollback { .. }
            | Statement::Query(_)
            | Statement::Drop { .. }
            | Statement::Set(_)
            | Statement::Lock(_) => {}
            other => panic!("unexpected statement kind {other:?}: {sql}"),
        }
    }
    assert!(
        creates >= 6,
        "schema, 3 system tables, 2 tables, temp tables: {creates}"
    );
    assert_eq!(alters, 1);
    for t in ["_dlt_loads", "_dlt_version", "_dlt_pipeline_state"] {
        assert!(
            targets.contains(&format!("\"{ds}\".\"{t}\"")),
            "{t} in {targets:?}"
        );
    }
    // The system tables as dlt lays them out on Redshift.
    let sys = |t: &str, c: &str| system_types[&format!("\"{ds}\".\"{t}\".{c}")].clone();
    assert_eq!(sys("_dlt_loads", "load_id"), "varchar(65535)");
    assert_eq!(sys("_dlt_loads", "status"), "bigint");
    assert_eq!(sys("_dlt_loads", "inserted_at"), "timestamp with time zone");
    assert_eq!(sys("_dlt_version", "schema"), "varchar(65535)");
    assert_eq!(sys("_dlt_version", "version"), "bigint");
    assert_eq!(sys("_dlt_pipeline_state", "state"), "varchar(65535)");
    assert_eq!(
        sys("_dlt_pipeline_state", "created_at"),
        "timestamp with time zone"
    );
    assert!(inserts >= 10, "{inserts}");
    assert!(deletes >= 3, "{deletes}");
}
