//! Tests of the schema: versions, hashes, chains, changes, stored layout.

use super::*;

fn orders() -> Schema {
    let mut s = Schema::new("shop");
    let mut orders = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    orders.write_disposition = Some(WriteDisposition::Merge);
    s.tables.insert("orders".into(), orders);
    s.tables.insert(
        "orders__items".into(),
        Table::nested("orders__items", "orders").with_column(Column::new("sku", DataType::Text)),
    );
    s.tables.insert(
        "orders__items__tags".into(),
        Table::nested("orders__items__tags", "orders__items")
            .with_column(Column::new("value", DataType::Text)),
    );
    s
}

#[test]
fn version_bumps_only_when_content_changes() {
    let mut s = orders();
    assert!(s.bump_version());
    let v = s.version;
    assert!(!s.bump_version());
    assert_eq!(s.version, v);
    let old_hash = s.version_hash.clone();
    s.tables["orders"]
        .columns
        .insert("note".into(), Column::new("note", DataType::Text));
    assert!(s.bump_version());
    assert_eq!(s.version, v + 1);
    assert_eq!(s.previous_hashes[0], old_hash);
}

#[test]
fn hash_depends_on_column_order() {
    let mut a = Schema::new("x");
    a.tables.insert(
        "t".into(),
        Table::new("t")
            .with_column(Column::new("a", DataType::Text))
            .with_column(Column::new("b", DataType::Text)),
    );
    let mut b = Schema::new("x");
    b.tables.insert(
        "t".into(),
        Table::new("t")
            .with_column(Column::new("b", DataType::Text))
            .with_column(Column::new("a", DataType::Text)),
    );
    assert_ne!(a.content_hash(), b.content_hash());
}

#[test]
fn chain_and_disposition_follow_the_root() {
    let s = orders();
    let nested: Vec<_> = s
        .nested_tables("orders")
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(nested, vec!["orders__items", "orders__items__tags"]);
    assert_eq!(s.root_of("orders__items__tags").unwrap().name, "orders");
    assert_eq!(
        s.write_disposition("orders__items__tags"),
        WriteDisposition::Merge
    );
}

#[test]
fn changes_since_lists_new_tables_and_columns() {
    let old = orders();
    let mut new = old.clone();
    new.tables["orders"]
        .columns
        .insert("note".into(), Column::new("note", DataType::Text));
    new.tables.insert(
        "users".into(),
        Table::new("users").with_column(Column::new("name", DataType::Text)),
    );
    let changes = new.changes_since(&old);
    assert_eq!(changes.len(), 2);
    assert!(
        matches!(&changes[0], SchemaChange::AddColumns { table, columns }
        if table == "orders" && columns.len() == 1 && columns[0].name == "note")
    );
    assert!(matches!(&changes[1], SchemaChange::CreateTable { table } if table.name == "users"));
}

#[test]
fn stored_json_round_trips() {
    let mut s = orders();
    s.bump_version();
    let back = Schema::from_json(&s.to_json().unwrap()).unwrap();
    assert_eq!(back, s);
    assert!(s.to_yaml().unwrap().contains("orders__items"));
}
