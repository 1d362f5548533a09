//! The contract cases that write and read data: append, schema evolution, replace, merge,
//! reload detection, dropped tables and identifiers. Each opens its own dataset and asserts the
//! values read back. The cases about failed loads and stored schema and state
//! ([`super::rollback`]) and about data types ([`super::types`]) are re-exported here, so that
//! every case is `cases::<name>`.

use super::ContractTarget;
use super::fixtures::*;
use sluice_core::{Column, DataType, Result, SchemaChange, Table, WriteDisposition};
use std::collections::HashSet;

pub use super::rollback::{
    abort_rolls_back, failed_replace_rolls_back, retried_load_after_abort_writes_once,
    stored_schema_and_state_round_trip,
};
pub use super::types::types_round_trip;

/// Two appends (the first of two files in one table job) read back with their values and load
/// ids; `initialize` is idempotent; a new connection sees the rows and the loads.
pub async fn append_and_read_back(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "append");
    let mut d = case.connect().await?;
    d.check().await?;
    d.initialize().await?;
    assert!(!d.location().is_empty());
    let table = orders(WriteDisposition::Append);
    let schema = schema_of(&[&table]);
    let (l1, l2) = (case.load_id(1), case.load_id(2));
    let a = case.orders_job(&table, &l1, &[(1, "a", "r1"), (2, "ü 'q' \"x\"", "r2")]);
    let b = case.orders_job(&table, &l1, &[(3, "c", "r3")]);
    let root = job(&table, [a.files, b.files].concat(), 3);
    let chain = case.chain(&l1, WriteDisposition::Append, root, vec![]);
    let written = load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;
    t.assert_written(written, 3);

    let more = case.orders_job(&table, &l2, &[(4, "d", "r4")]);
    let chain = case.chain(&l2, WriteDisposition::Append, more, vec![]);
    t.assert_written(load(&mut d, &l2, &[], &[chain], &schema, None).await?, 1);
    let expected = table_of(&[
        &["1", "a", &l1],
        &["2", "ü 'q' \"x\"", &l1],
        &["3", "c", &l1],
        &["4", "d", &l2],
    ]);
    let got = case
        .rows(&mut d, "orders", &["id", "name", "_dlt_load_id"], "id")
        .await?;
    assert_eq!(got, expected, "{}", t.label);
    drop(d);

    let mut d = case.connect().await?;
    assert!(d.is_loaded(&l1).await? && d.is_loaded(&l2).await?);
    let got = case
        .rows(&mut d, "orders", &["id", "name", "_dlt_load_id"], "id")
        .await?;
    assert_eq!(got, expected, "{}: a new connection", t.label);
    Ok(())
}

/// A column added by a later package: its load holds a file written before the column existed
/// and one after; old rows read NULL. Changes applied again (a retried package) are tolerated.
pub async fn add_column_reads_old_and_new_files(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "evolve");
    let mut d = case.connect().await?;
    let (l1, l2, l3) = (case.load_id(1), case.load_id(2), case.load_id(3));
    let v1 = orders(WriteDisposition::Append);
    let s1 = schema_of(&[&v1]);
    let first = case.orders_job(&v1, &l1, &[(1, "a", "r1")]);
    let chain = case.chain(&l1, WriteDisposition::Append, first, vec![]);
    load(&mut d, &l1, &creation(&s1), &[chain], &s1, None).await?;

    let note = Column::new("note", DataType::Text);
    let v2 = v1.clone().with_column(note.clone());
    let s2 = evolve(&s1, &v2);
    let changes = s2.changes_since(&s1);
    assert_eq!(
        changes,
        vec![SchemaChange::AddColumns {
            table: "orders".into(),
            columns: vec![note]
        }]
    );
    let old = case.orders_job(&v1, &l2, &[(3, "c", "r3")]);
    let new = case.parquet(
        &l2,
        &v2,
        vec![
            ints([2]),
            texts(["b"]),
            texts([l2.as_str()]),
            texts(["r2"]),
            texts(["hello"]),
        ],
    );
    let root = job(&v2, [old.files, vec![new]].concat(), 2);
    let chain = case.chain(&l2, WriteDisposition::Append, root, vec![]);
    t.assert_written(load(&mut d, &l2, &changes, &[chain], &s2, None).await?, 2);
    let expected = table_of(&[
        &["1", "a", "null"],
        &["2", "b", "hello"],
        &["3", "c", "null"],
    ]);
    let got = case
        .rows(&mut d, "orders", &["id", "name", "note"], "id")
        .await?;
    assert_eq!(got, expected, "{}", t.label);

    d.begin_load(&l3).await?;
    d.apply_schema_changes(&changes).await?;
    d.apply_schema_changes(&[SchemaChange::CreateTable { table: v2.clone() }])
        .await?;
    d.abort_load().await?;
    let stored = d.stored_schema(SCHEMA).await?.expect("a stored schema");
    assert_eq!(stored.version_hash, s2.version_hash, "{}", t.label);
    assert_eq!(stored.table("orders"), s2.table("orders"), "{}", t.label);
    let got = case
        .rows(&mut d, "orders", &["id", "name", "note"], "id")
        .await?;
    assert_eq!(got, expected, "{}: after re-applied changes", t.label);
    Ok(())
}

/// Replace swaps the whole chain: a load with root rows only empties the nested table, and a
/// later one with nested rows fills it again.
pub async fn replace_swaps_the_chain(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "replace");
    let mut d = case.connect().await?;
    let (l1, l2, l3) = (case.load_id(1), case.load_id(2), case.load_id(3));
    let root = orders(WriteDisposition::Replace);
    let schema = schema_of(&[&root, &items()]);
    let r = case.orders_job(&root, &l1, &[(1, "a", "r1"), (2, "b", "r2")]);
    let n = case.items_job(
        &l1,
        &[
            ("x", "r1", 0, "n1"),
            ("y", "r2", 0, "n2"),
            ("y2", "r2", 1, "n3"),
        ],
    );
    let chain = case.chain(&l1, WriteDisposition::Replace, r, vec![n]);
    let written = load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;
    t.assert_written(written, 5);
    assert_eq!(
        case.column(&mut d, "orders__items", "sku", "sku").await?,
        ["x", "y", "y2"]
    );

    let r = case.orders_job(&root, &l2, &[(7, "z", "r7")]);
    let chain = case.chain(
        &l2,
        WriteDisposition::Replace,
        r,
        vec![case.items_job(&l2, &[])],
    );
    t.assert_written(load(&mut d, &l2, &[], &[chain], &schema, None).await?, 1);
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(got, table_of(&[&["7", "z"]]), "{}", t.label);
    let nested = case.count(&mut d, "orders__items").await?;
    assert_eq!(nested, 0, "{}: nested rows left", t.label);

    let r = case.orders_job(&root, &l3, &[(8, "w", "r8")]);
    let n = case.items_job(&l3, &[("w1", "r8", 0, "n8")]);
    let chain = case.chain(&l3, WriteDisposition::Replace, r, vec![n]);
    t.assert_written(load(&mut d, &l3, &[], &[chain], &schema, None).await?, 2);
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(got, table_of(&[&["8", "w"]]), "{}", t.label);
    let got = case
        .rows(&mut d, "orders__items", &["sku", "_dlt_root_id"], "sku")
        .await?;
    assert_eq!(got, table_of(&[&["w1", "r8"]]), "{}", t.label);
    Ok(())
}

/// Merge with delete-insert: keys replace their rows and nested rows; a key twice in one load
/// keeps one row and only that row's nested rows; a root row without nested rows removes the
/// key's old nested rows.
pub async fn merge_delete_insert(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "merge");
    let mut d = case.connect().await?;
    let (l1, l2, l3) = (case.load_id(1), case.load_id(2), case.load_id(3));
    let root = merged_orders(sluice_core::MergeStrategy::DeleteInsert);
    let schema = schema_of(&[&root, &items()]);
    let r = case.orders_job(&root, &l1, &[(1, "a", "r1"), (2, "b", "r2")]);
    let n = case.items_job(
        &l1,
        &[
            ("a1", "r1", 0, "n1"),
            ("b1", "r2", 0, "n2"),
            ("b2", "r2", 1, "n3"),
        ],
    );
    let chain = case.chain(&l1, WriteDisposition::Merge, r, vec![n]);
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;

    let r = case.orders_job(
        &root,
        &l2,
        &[(2, "b-new", "r2a"), (2, "b-new", "r2b"), (3, "c", "r3")],
    );
    let n = case.items_job(
        &l2,
        &[
            ("b-x", "r2a", 0, "m1"),
            ("b-y", "r2b", 0, "m2"),
            ("c1", "r3", 0, "m3"),
        ],
    );
    let chain = case.chain(&l2, WriteDisposition::Merge, r, vec![n]);
    load(&mut d, &l2, &[], &[chain], &schema, None).await?;
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(
        got,
        table_of(&[&["1", "a"], &["2", "b-new"], &["3", "c"]]),
        "{}",
        t.label
    );
    let ids = case
        .rows(&mut d, "orders", &["id", "_dlt_id"], "id")
        .await?;
    let kept_b = match ids[1][1].as_str() {
        "r2a" => "b-x",
        "r2b" => "b-y",
        other => panic!("{}: id 2 kept _dlt_id {other}", t.label),
    };
    assert_eq!(
        case.column(&mut d, "orders__items", "sku", "sku").await?,
        ["a1", kept_b, "c1"],
        "{}",
        t.label
    );
    assert_no_orphans(&case, &mut d, &t.label).await?;

    let r = case.orders_job(&root, &l3, &[(1, "a-new", "r1b")]);
    let chain = case.chain(
        &l3,
        WriteDisposition::Merge,
        r,
        vec![case.items_job(&l3, &[])],
    );
    load(&mut d, &l3, &[], &[chain], &schema, None).await?;
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(
        got,
        table_of(&[&["1", "a-new"], &["2", "b-new"], &["3", "c"]]),
        "{}",
        t.label
    );
    assert_eq!(
        case.column(&mut d, "orders__items", "sku", "sku").await?,
        [kept_b, "c1"],
        "{}: the nested rows of a merged key without nested rows are gone",
        t.label
    );
    assert_no_orphans(&case, &mut d, &t.label).await
}

/// Merge with upsert (root `_dlt_id`s derived from the key, nested ones from root and
/// position): matching rows are updated in place, others inserted; nested rows follow.
pub async fn merge_upsert(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "upsert");
    let mut d = case.connect().await?;
    let (l1, l2) = (case.load_id(1), case.load_id(2));
    let root = merged_orders(sluice_core::MergeStrategy::Upsert);
    let schema = schema_of(&[&root, &items()]);
    let r = case.orders_job(&root, &l1, &[(1, "a", "k1"), (2, "b", "k2")]);
    let n = case.items_job(
        &l1,
        &[
            ("a1", "k1", 0, "k1.0"),
            ("b1", "k2", 0, "k2.0"),
            ("b2", "k2", 1, "k2.1"),
        ],
    );
    let chain = case.chain(&l1, WriteDisposition::Merge, r, vec![n]);
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;

    let r = case.orders_job(&root, &l2, &[(2, "b-new", "k2"), (3, "c", "k3")]);
    let n = case.items_job(&l2, &[("b1-new", "k2", 0, "k2.0"), ("c1", "k3", 0, "k3.0")]);
    let chain = case.chain(&l2, WriteDisposition::Merge, r, vec![n]);
    load(&mut d, &l2, &[], &[chain], &schema, None).await?;
    let got = case
        .rows(&mut d, "orders", &["id", "name", "_dlt_load_id"], "id")
        .await?;
    let expected = table_of(&[&["1", "a", &l1], &["2", "b-new", &l2], &["3", "c", &l2]]);
    assert_eq!(got, expected, "{}", t.label);
    assert_eq!(
        case.column(&mut d, "orders__items", "sku", "sku").await?,
        ["a1", "b1-new", "c1"],
        "{}",
        t.label
    );
    assert_no_orphans(&case, &mut d, &t.label).await
}

/// Every nested row points at an existing root row.
async fn assert_no_orphans(
    case: &Case,
    d: &mut Box<dyn sluice_core::Destination>,
    label: &str,
) -> Result<()> {
    let roots: HashSet<String> = case
        .column(d, "orders", "_dlt_id", "_dlt_id")
        .await?
        .into_iter()
        .collect();
    for root in case
        .column(d, "orders__items", "_dlt_root_id", "_dlt_root_id")
        .await?
    {
        assert!(
            roots.contains(&root),
            "{label}: nested row of missing root {root}"
        );
    }
    Ok(())
}

/// A dataset that was never initialized has no loads, schema or state (reading does not fail).
pub async fn missing_dataset_reads_as_empty(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "missing");
    let mut d = case.open().await?;
    assert!(!d.is_loaded(&case.load_id(1)).await?, "{}", t.label);
    assert!(d.stored_schema(SCHEMA).await?.is_none(), "{}", t.label);
    assert!(d.stored_state(PIPELINE).await?.is_none(), "{}", t.label);
    Ok(())
}

/// After a commit the load id is recorded (for this connection and a new one) and only that
/// id; the rows are there once.
pub async fn reload_of_a_committed_load_is_detected(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "reload");
    let (l1, l2) = (case.load_id(1), case.load_id(2));
    let mut d = case.connect().await?;
    let table = orders(WriteDisposition::Append);
    let schema = schema_of(&[&table]);
    let r = case.orders_job(&table, &l1, &[(1, "a", "r1")]);
    let chain = case.chain(&l1, WriteDisposition::Append, r, vec![]);
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;
    assert!(d.is_loaded(&l1).await?);
    assert!(!d.is_loaded(&l2).await?);
    assert!(!d.is_loaded(&format!("{l1}' OR '1'='1")).await?);
    let mut other = case.connect().await?;
    assert!(other.is_loaded(&l1).await?, "{}: a new connection", t.label);
    assert!(!other.is_loaded(&l2).await?);
    let got = case
        .rows(&mut other, "orders", &["id", "name"], "id")
        .await?;
    assert_eq!(got, table_of(&[&["1", "a"]]), "{}", t.label);
    Ok(())
}

/// `drop_tables` drops a table and ignores a missing one; the table can be created and loaded
/// again, holding only the new rows.
pub async fn drop_tables_ignores_missing(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "drop");
    let mut d = case.connect().await?;
    let (l1, l2) = (case.load_id(1), case.load_id(2));
    let table = orders(WriteDisposition::Append);
    let schema = schema_of(&[&table]);
    let r = case.orders_job(&table, &l1, &[(1, "a", "r1"), (2, "b", "r2")]);
    let chain = case.chain(&l1, WriteDisposition::Append, r, vec![]);
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;
    d.drop_tables(&["orders".into(), "never_there".into()])
        .await?;
    if let Ok(n) = case.count(&mut d, "orders").await {
        assert_eq!(n, 0, "{}: rows after drop", t.label);
    }
    let r = case.orders_job(&table, &l2, &[(5, "e", "r5")]);
    let chain = case.chain(&l2, WriteDisposition::Append, r, vec![]);
    load(&mut d, &l2, &creation(&schema), &[chain], &schema, None).await?;
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(got, table_of(&[&["5", "e"]]), "{}", t.label);
    Ok(())
}

/// Unicode, SQL keywords and names holding quotes and semicolons, normalized by the
/// destination's naming convention as the pipeline does, create tables and columns that load
/// and read back; the load id is recorded and the schema stored.
pub async fn unicode_and_reserved_identifiers(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "idents");
    let mut d = case.connect().await?;
    let l1 = case.load_id(1);
    let caps = t.factory.capabilities();
    let (tables, columns) = (caps.table_naming(), caps.column_naming());
    let odd = tables.normalize_identifier("Order");
    let unicode = tables.normalize_identifier("Größe 表");
    let raw = ["名前", "select", "a\"b;c DROP", "from"];
    let cols: Vec<String> = raw
        .iter()
        .map(|c| columns.normalize_identifier(c))
        .collect();
    let key = columns.normalize_identifier("ключ");
    let mut first = Table::new(&odd);
    for c in &cols {
        first = first.with_column(Column::new(c, DataType::Text));
    }
    let second = Table::new(&unicode).with_column(Column::new(&key, DataType::Bigint));
    let schema = schema_of(&[&first, &second]);
    let f = case.parquet(
        &l1,
        &first,
        vec![texts(["太郎"]), texts(["s"]), texts(["w"]), texts(["f"])],
    );
    let g = case.parquet(&l1, &second, vec![ints([9])]);
    let chains = [
        case.chain(
            &l1,
            WriteDisposition::Append,
            job(&first, vec![f], 1),
            vec![],
        ),
        case.chain(
            &l1,
            WriteDisposition::Append,
            job(&second, vec![g], 1),
            vec![],
        ),
    ];
    load(&mut d, &l1, &creation(&schema), &chains, &schema, None).await?;
    let names: Vec<&str> = cols.iter().map(String::as_str).collect();
    let got = case.rows(&mut d, &odd, &names, &cols[1]).await?;
    assert_eq!(
        got,
        table_of(&[&["太郎", "s", "w", "f"]]),
        "{}: {names:?}",
        t.label
    );
    let got = case.rows(&mut d, &unicode, &[&key], &key).await?;
    assert_eq!(got, table_of(&[&["9"]]), "{}", t.label);
    let stored = d.stored_schema(SCHEMA).await?.expect("a stored schema");
    assert_eq!(
        stored.table(&unicode),
        schema.table(&unicode),
        "{}",
        t.label
    );
    Ok(())
}
