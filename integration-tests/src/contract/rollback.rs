//! The contract cases about loads that fail or are repeated, and about what a commit stores:
//! a retried load writes once, an aborted load leaves nothing (transactional destinations), a
//! failed replace keeps the old rows, and stored schema and state round-trip.

use super::ContractTarget;
use super::fixtures::*;
use sluice_core::{Column, DataType, Destination, Result, StateRecord, WriteDisposition};

/// The orders chain of `load_id`: two root rows, one nested row.
fn orders_chain(case: &Case, load_id: &str) -> sluice_core::ChainJob {
    let root = orders(WriteDisposition::Append);
    let r = case.orders_job(&root, load_id, &[(1, "a", "r1"), (2, "b", "r2")]);
    let n = case.items_job(load_id, &[("x", "r1", 0, "n1")]);
    case.chain(load_id, WriteDisposition::Append, r, vec![n])
}

/// The rows of the orders chain: `(id, name)` of the root, `sku` of the nested table.
async fn orders_rows(
    case: &Case,
    d: &mut Box<dyn Destination>,
) -> Result<(Vec<Vec<String>>, Vec<String>)> {
    let root = case.rows(d, "orders", &["id", "name"], "id").await?;
    let nested = case.column(d, "orders__items", "sku", "sku").await?;
    Ok((root, nested))
}

/// A load aborted after its chain was written (the run died before the commit) is not
/// recorded; loading the same package again, from a new connection, leaves its rows once.
pub async fn retried_load_after_abort_writes_once(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "retry");
    let l1 = case.load_id(1);
    let schema = schema_of(&[&orders(WriteDisposition::Append), &items()]);
    let chain = orders_chain(&case, &l1);
    let mut d = case.connect().await?;
    d.begin_load(&l1).await?;
    d.apply_schema_changes(&creation(&schema)).await?;
    d.write_chain(&chain).await?;
    d.abort_load().await?;
    d.abort_load().await?;
    assert!(!d.is_loaded(&l1).await?, "{}: an aborted load", t.label);
    drop(d);

    let mut d = case.connect().await?;
    let written = load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;
    t.assert_written(written, 3);
    let (root, nested) = orders_rows(&case, &mut d).await?;
    assert_eq!(root, table_of(&[&["1", "a"], &["2", "b"]]), "{}", t.label);
    assert_eq!(nested, ["x"], "{}", t.label);
    Ok(())
}

/// (Transactional destinations.) An aborted load leaves no rows, no load record and no stored
/// schema behind.
pub async fn abort_rolls_back(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "abort");
    let l1 = case.load_id(1);
    let schema = schema_of(&[&orders(WriteDisposition::Append), &items()]);
    let mut d = case.connect().await?;
    d.begin_load(&l1).await?;
    d.apply_schema_changes(&creation(&schema)).await?;
    t.assert_written(d.write_chain(&orders_chain(&case, &l1)).await?, 3);
    d.abort_load().await?;
    assert!(!d.is_loaded(&l1).await?, "{}", t.label);
    assert!(d.stored_schema(SCHEMA).await?.is_none(), "{}", t.label);
    // The table is gone (an error), or it stays empty where DDL commits on its own.
    if let Ok(n) = case.count(&mut d, "orders").await {
        assert_eq!(n, 0, "{}: rows of an aborted load", t.label);
    }
    Ok(())
}

/// (Transactional destinations.) A replace that fails on its nested table's file, after the
/// root's file, is rolled back: the old rows of both tables stay.
pub async fn failed_replace_rolls_back(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "badreplace");
    let (l1, l2) = (case.load_id(1), case.load_id(2));
    let root = orders(WriteDisposition::Replace);
    let schema = schema_of(&[&root, &items()]);
    let r = case.orders_job(&root, &l1, &[(1, "a", "r1")]);
    let n = case.items_job(&l1, &[("x", "r1", 0, "n1")]);
    let chain = case.chain(&l1, WriteDisposition::Replace, r, vec![n]);
    let mut d = case.connect().await?;
    load(&mut d, &l1, &creation(&schema), &[chain], &schema, None).await?;

    let r = case.orders_job(&root, &l2, &[(9, "z", "r9")]);
    let missing = case.package(&l2).join("orders__items.99.parquet");
    let n = job(&items(), vec![missing], 1);
    let chain = case.chain(&l2, WriteDisposition::Replace, r, vec![n]);
    let result = load(&mut d, &l2, &[], &[chain], &schema, None).await;
    assert!(result.is_err(), "{}: a missing file loaded", t.label);
    assert!(!d.is_loaded(&l2).await?, "{}", t.label);
    let got = case.rows(&mut d, "orders", &["id", "name"], "id").await?;
    assert_eq!(got, table_of(&[&["1", "a"]]), "{}", t.label);
    assert_eq!(
        case.column(&mut d, "orders__items", "sku", "sku").await?,
        ["x"]
    );
    Ok(())
}

/// Whether a stored state is `expected` (`created_at` compared as an instant).
fn assert_state(got: Option<StateRecord>, expected: &StateRecord, label: &str) {
    let got = got.unwrap_or_else(|| panic!("{label}: no stored state"));
    assert_eq!(got.pipeline_name, expected.pipeline_name, "{label}");
    assert_eq!(got.version, expected.version, "{label}");
    assert_eq!(got.version_hash, expected.version_hash, "{label}");
    assert_eq!(got.state, expected.state, "{label}");
    let instant = sluice_core::sql::timestamp_to_rfc3339;
    assert_eq!(
        instant(&got.created_at),
        instant(&expected.created_at),
        "{label}"
    );
}

/// Schema and state stored by commits read back equal; the newest wins; other names have none;
/// a load that was aborted does not count.
pub async fn stored_schema_and_state_round_trip(t: &ContractTarget) -> Result<()> {
    let case = Case::new(t, "stored");
    let l = |k| case.load_id(k);
    let mut d = case.connect().await?;
    assert!(d.stored_schema(SCHEMA).await?.is_none());
    assert!(d.stored_state(PIPELINE).await?.is_none());
    let v1 = orders(WriteDisposition::Append);
    let s1 = schema_of(&[&v1]);
    let st1 = state(
        3,
        serde_json::json!({"sources": {"shop": {"cursor": "it's \\ \"quoted\" ü", "n": 1}}}),
    );
    load(&mut d, &l(1), &creation(&s1), &[], &s1, Some(st1.clone())).await?;
    assert_eq!(
        d.stored_schema(SCHEMA).await?,
        Some(s1.clone()),
        "{}",
        t.label
    );
    assert!(d.stored_schema("other").await?.is_none());
    assert_state(d.stored_state(PIPELINE).await?, &st1, &t.label);
    assert!(d.stored_state("other_pipe").await?.is_none());

    let s2 = evolve(
        &s1,
        &v1.clone().with_column(Column::new("note", DataType::Text)),
    );
    let st2 = state(4, serde_json::json!({"sources": {"shop": {"cursor": "b"}}}));
    load(
        &mut d,
        &l(2),
        &s2.changes_since(&s1),
        &[],
        &s2,
        Some(st2.clone()),
    )
    .await?;
    assert_eq!(
        d.stored_schema(SCHEMA).await?,
        Some(s2.clone()),
        "{}",
        t.label
    );
    assert_state(d.stored_state(PIPELINE).await?, &st2, &t.label);

    d.begin_load(&l(3)).await?;
    d.abort_load().await?;
    assert_state(d.stored_state(PIPELINE).await?, &st2, &t.label);

    // The same schema again, with a newer state.
    let st3 = state(5, serde_json::json!({"sources": {"shop": {"cursor": "c"}}}));
    load(&mut d, &l(4), &[], &[], &s2, Some(st3.clone())).await?;
    assert_eq!(d.stored_schema(SCHEMA).await?, Some(s2), "{}", t.label);
    assert_state(d.stored_state(PIPELINE).await?, &st3, &t.label);
    drop(d);
    let mut d = case.connect().await?;
    assert_state(d.stored_state(PIPELINE).await?, &st3, &t.label);
    Ok(())
}
