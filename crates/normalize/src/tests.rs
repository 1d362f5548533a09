use crate::{Normalizer, NormalizerConfig};
use arrow::array::Array;
use arrow::datatypes::{DataType as ArrowType, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use indexmap::IndexMap;
use serde_json::Value;
use serde_json::json;
use sluice_core::naming::digest128;
use sluice_core::naming::identifier_tag;
use sluice_core::{
    Column, ContractMode, DataType, NamingConvention, ResourceHints, Schema, SchemaContract,
    WriteDisposition,
};

fn parse(s: &str) -> Value {
    serde_json::from_str(s).expect("valid JSON")
}

fn normalizer(hints: ResourceHints, config: NormalizerConfig) -> (Normalizer, String) {
    let mut n = Normalizer::new(Schema::new("shop"), "1700000000.1", config);
    let root = n.add_resource(&hints).expect("hints apply");
    (n, root)
}

/// Push all items, flush, and group the batches by table.
fn run(n: &mut Normalizer, root: &str, items: &[Value]) -> IndexMap<String, Vec<RecordBatch>> {
    for item in items {
        n.push(root, item).expect("item normalizes");
    }
    let mut out: IndexMap<String, Vec<RecordBatch>> = IndexMap::new();
    for (t, b) in n.take_ready().into_iter().chain(n.flush().unwrap()) {
        out.entry(t).or_default().push(b);
    }
    out
}

fn one(out: &IndexMap<String, Vec<RecordBatch>>, table: &str) -> RecordBatch {
    let batches = out
        .get(table)
        .unwrap_or_else(|| panic!("no batches for {table}"));
    assert_eq!(batches.len(), 1, "one batch for {table}");
    batches[0].clone()
}

fn names(batch: &RecordBatch) -> Vec<String> {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

fn col(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name} in {:?}", names(batch)));
    if let Some(ts) = a
        .as_any()
        .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
    {
        // named time zones need chrono-tz to display; format the UTC instant ourselves
        return (0..a.len())
            .map(|i| {
                (!a.is_null(i)).then(|| {
                    chrono::DateTime::from_timestamp_micros(ts.value(i))
                        .unwrap()
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
                })
            })
            .collect();
    }
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| array_value_to_string(a, i).unwrap()))
        .collect()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

fn column<'a>(n: &'a Normalizer, table: &str, name: &str) -> &'a Column {
    n.schema()
        .table(table)
        .unwrap_or_else(|| panic!("table {table}"))
        .columns
        .get(name)
        .unwrap_or_else(|| panic!("column {table}.{name}"))
}

fn orders_fixture() -> Value {
    json!({
        "id": 1,
        "Customer": {"Name": "Ann", "Address": {"City": "Oslo"}},
        "created_at": "2024-01-02T03:04:05Z",
        "items": [
            {"sku": "A", "qty": 2, "tags": ["x", "y"]},
            {"sku": "B", "qty": 1, "tags": []}
        ],
        "matrix": [[1, 2], [3]],
        "note": null
    })
}

#[test]
fn nested_orders_follow_dlt_layout() {
    let (mut n, root) = normalizer(ResourceHints::new("Orders"), NormalizerConfig::default());
    assert_eq!(root, "orders");
    let out = run(&mut n, &root, &[orders_fixture()]);
    let tables: Vec<&str> = out.keys().map(|s| s.as_str()).collect();
    assert_eq!(
        tables,
        vec![
            "orders",
            "orders__items",
            "orders__items__tags",
            "orders__matrix",
            "orders__matrix__list"
        ]
    );
    let orders = one(&out, "orders");
    assert_eq!(
        names(&orders),
        vec![
            "id",
            "customer__name",
            "customer__address__city",
            "created_at",
            "_dlt_load_id",
            "_dlt_id"
        ]
    );
    assert_eq!(orders.num_rows(), 1);
    assert_eq!(col(&orders, "_dlt_load_id"), vec![s("1700000000.1")]);
    let root_id = col(&orders, "_dlt_id")[0].clone().unwrap();
    assert_eq!(root_id.len(), 14);

    let items = one(&out, "orders__items");
    assert_eq!(
        names(&items),
        vec!["sku", "qty", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    );
    assert_eq!(items.num_rows(), 2);
    assert_eq!(
        col(&items, "_dlt_parent_id"),
        vec![Some(root_id.clone()), Some(root_id.clone())]
    );
    assert_eq!(col(&items, "_dlt_list_idx"), vec![s("0"), s("1")]);
    let item0 = digest128(&format!("{root_id}_orders__items_0"), 10);
    assert_eq!(col(&items, "_dlt_id")[0], Some(item0.clone()));

    let tags = one(&out, "orders__items__tags");
    assert_eq!(
        names(&tags),
        vec!["value", "_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    );
    assert_eq!(col(&tags, "value"), vec![s("x"), s("y")]);
    assert_eq!(
        col(&tags, "_dlt_parent_id"),
        vec![Some(item0.clone()), Some(item0.clone())]
    );
    assert_eq!(
        col(&tags, "_dlt_id")[1],
        Some(digest128(&format!("{item0}_orders__items__tags_1"), 10))
    );

    // list of lists: an intermediate table holding one row per inner list
    let matrix = one(&out, "orders__matrix");
    assert_eq!(matrix.num_rows(), 2);
    assert_eq!(
        names(&matrix),
        vec!["_dlt_parent_id", "_dlt_list_idx", "_dlt_id"]
    );
    let list = one(&out, "orders__matrix__list");
    assert_eq!(list.num_rows(), 3);
    assert_eq!(col(&list, "value"), vec![s("1"), s("2"), s("3")]);
    assert_eq!(col(&list, "_dlt_list_idx"), vec![s("0"), s("1"), s("0")]);
    let m1 = col(&matrix, "_dlt_id")[1].clone();
    assert_eq!(col(&list, "_dlt_parent_id")[2], m1);

    // schema hints
    let id = column(&n, "orders__items", "_dlt_id");
    assert!(id.row_key && id.unique && !id.nullable);
    assert_eq!(id.data_type, Some(DataType::Text));
    let p = column(&n, "orders__items", "_dlt_parent_id");
    assert!(p.parent_key && !p.nullable);
    assert_eq!(
        column(&n, "orders__items", "_dlt_list_idx").data_type,
        Some(DataType::Bigint)
    );
    assert_eq!(
        n.schema()
            .table("orders__items__tags")
            .unwrap()
            .parent
            .as_deref(),
        Some("orders__items")
    );
    assert!(
        n.schema()
            .table("orders")
            .unwrap()
            .columns
            .get("note")
            .is_none(),
        "null-only data creates no column"
    );
    assert_eq!(
        column(&n, "orders", "customer__address__city").source_path,
        Some(vec![
            "Customer".to_string(),
            "Address".to_string(),
            "City".to_string()
        ])
    );
    let stats = n.stats();
    assert_eq!(stats.rows["orders"], 1);
    assert_eq!(stats.rows["orders__items"], 2);
    assert_eq!(stats.rows["orders__matrix__list"], 3);
    assert!(stats.warnings.is_empty());
}

#[test]
fn merge_propagates_root_id_and_existing_dlt_id_is_kept() {
    let mut hints = ResourceHints::new("orders");
    hints.write_disposition = WriteDisposition::Merge;
    hints.primary_key = vec!["id".into()];
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    let mut item = orders_fixture();
    item["_dlt_id"] = json!("given-id");
    let out = run(&mut n, &root, &[item]);
    let orders = one(&out, "orders");
    assert_eq!(col(&orders, "_dlt_id"), vec![s("given-id")]);
    for t in [
        "orders__items",
        "orders__items__tags",
        "orders__matrix__list",
    ] {
        let b = one(&out, t);
        assert!(
            col(&b, "_dlt_root_id")
                .iter()
                .all(|v| v.as_deref() == Some("given-id")),
            "{t} carries the root id"
        );
        let c = column(&n, t, "_dlt_root_id");
        assert!(c.root_key && !c.nullable);
    }
    let items = one(&out, "orders__items");
    assert_eq!(
        col(&items, "_dlt_id")[0],
        Some(digest128("given-id_orders__items_0", 10))
    );
    let id = column(&n, "orders", "id");
    assert!(id.primary_key && !id.nullable);
    assert_eq!(id.data_type, Some(DataType::Bigint));
    let field = orders.schema().field_with_name("id").unwrap().clone();
    assert!(!field.is_nullable());
}

#[test]
fn nested_ids_are_deterministic() {
    let item = json!({"_dlt_id": "root1", "items": [{"a": 1}, {"a": 2}]});
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (mut n, root) = normalizer(ResourceHints::new("orders"), NormalizerConfig::default());
        let out = run(&mut n, &root, std::slice::from_ref(&item));
        ids.push(col(&one(&out, "orders__items"), "_dlt_id"));
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(
        ids[0],
        vec![
            Some(digest128("root1_orders__items_0", 10)),
            Some(digest128("root1_orders__items_1", 10))
        ]
    );
    // random root ids differ between rows
    let (mut n, root) = normalizer(ResourceHints::new("orders"), NormalizerConfig::default());
    let out = run(&mut n, &root, &[json!({"a": 1}), json!({"a": 1})]);
    let r = col(&one(&out, "orders"), "_dlt_id");
    assert_ne!(r[0], r[1]);
}

#[test]
fn non_objects_wrap_in_value_and_empty_keys() {
    let (mut n, root) = normalizer(ResourceHints::new("things"), NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[json!(5), json!([1, 2]), json!({"": "e", "  ": "w"})],
    );
    let t = one(&out, "things");
    assert_eq!(col(&t, "value"), vec![s("5"), None, None]);
    assert_eq!(col(&t, "_empty"), vec![None, None, s("e")]);
    assert_eq!(t.num_rows(), 3);
    let v = one(&out, "things__value");
    assert_eq!(col(&v, "value"), vec![s("1"), s("2")]);
    // the whitespace key collides with the empty key: it gets its own column
    assert_eq!(n.stats().warnings.len(), 1);
}

#[test]
fn type_inference_timestamps_dates_and_scalars() {
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[json!({
            "ts": "2024-01-02T03:04:05Z",
            "ts_space": "2024-01-02 03:04:05.5+02:00",
            "ts_naive": "2024-01-02T03:04:05",
            "d": "2024-01-02",
            "n": 5,
            "f": 1.5,
            "b": true,
            "s": "hello",
            "empty_obj": {},
        })],
    );
    let b = one(&out, "t");
    let ty = |c: &str| column(&n, "t", c).data_type.unwrap();
    assert_eq!(ty("ts"), DataType::Timestamp);
    assert_eq!(ty("ts_space"), DataType::Timestamp);
    assert_eq!(ty("ts_naive"), DataType::Timestamp);
    assert_eq!(ty("d"), DataType::Text);
    assert_eq!(ty("n"), DataType::Bigint);
    assert_eq!(ty("f"), DataType::Double);
    assert_eq!(ty("b"), DataType::Bool);
    assert_eq!(ty("s"), DataType::Text);
    assert_eq!(
        b.schema().field_with_name("ts").unwrap().data_type(),
        &ArrowType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(col(&b, "ts"), vec![s("2024-01-02T03:04:05Z")]);
    assert_eq!(col(&b, "ts_space"), vec![s("2024-01-02T01:04:05.500Z")]);
    assert_eq!(col(&b, "ts_naive"), vec![s("2024-01-02T03:04:05Z")]);
    assert_eq!(col(&b, "d"), vec![s("2024-01-02")]);
    assert_eq!(col(&b, "f"), vec![s("1.5")]);
    assert_eq!(col(&b, "b"), vec![s("true")]);
}

#[test]
fn coercion_and_variants() {
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[
            json!({"a": 5, "b": 1.5, "c": "x", "t": "2024-01-01T00:00:00Z"}),
            json!({"a": "6", "b": 2, "c": 7, "t": "2024-02-01"}),
            json!({"a": "seven", "b": "abc", "c": true, "t": "soon"}),
            json!({"a": 8.0, "b": "2.5", "t": 0}),
        ],
    );
    let b = one(&out, "t");
    assert_eq!(col(&b, "a"), vec![s("5"), s("6"), None, s("8")]);
    assert_eq!(col(&b, "a__v_text"), vec![None, None, s("seven"), None]);
    assert_eq!(col(&b, "b"), vec![s("1.5"), s("2.0"), None, s("2.5")]);
    assert_eq!(col(&b, "b__v_text"), vec![None, None, s("abc"), None]);
    assert_eq!(col(&b, "c"), vec![s("x"), s("7"), s("true"), None]);
    assert_eq!(
        col(&b, "t"),
        vec![
            s("2024-01-01T00:00:00Z"),
            s("2024-02-01T00:00:00Z"),
            None,
            s("1970-01-01T00:00:00Z")
        ]
    );
    assert_eq!(col(&b, "t__v_text"), vec![None, None, s("soon"), None]);
    let v = column(&n, "t", "a__v_text");
    assert!(v.variant);
    assert_eq!(v.data_type, Some(DataType::Text));
    assert!(
        n.schema()
            .table("t")
            .unwrap()
            .columns
            .get("c__v_bigint")
            .is_none()
    );
}

#[test]
fn json_column_keeps_later_objects_in_place() {
    let mut hints = ResourceHints::new("t");
    hints.columns = vec![Column::new("payload", DataType::Json)];
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[
            json!({"payload": {"a": 1, "b": [1, 2]}}),
            json!({"payload": "{\"x\":1}"}),
        ],
    );
    let b = one(&out, "t");
    assert_eq!(
        col(&b, "payload"),
        vec![s(r#"{"a":1,"b":[1,2]}"#), s(r#"{"x":1}"#)]
    );
    assert_eq!(out.len(), 1, "no nested table for a json column");
}

#[test]
fn big_integers_become_decimal_or_text() {
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let huge = "1".repeat(45);
    let out = run(
        &mut n,
        &root,
        &[
            parse(r#"{"n": 1, "big": 9223372036854775808}"#),
            parse(r#"{"n": 9223372036854775808}"#),
            parse(&format!(r#"{{"n": {huge}, "big": -12}}"#)),
            parse(&format!(r#"{{"big": {huge}}}"#)),
        ],
    );
    let b = one(&out, "t");
    assert_eq!(column(&n, "t", "n").data_type, Some(DataType::Bigint));
    let big = column(&n, "t", "big");
    assert_eq!(big.data_type, Some(DataType::Decimal));
    assert_eq!((big.precision, big.scale), (Some(38), Some(0)));
    assert_eq!(
        b.schema().field_with_name("big").unwrap().data_type(),
        &ArrowType::Decimal128(38, 0)
    );
    assert_eq!(
        col(&b, "big"),
        vec![s("9223372036854775808"), None, s("-12"), None]
    );
    let dv = column(&n, "t", "n__v_decimal");
    assert!(dv.variant);
    assert_eq!(dv.data_type, Some(DataType::Decimal));
    assert_eq!(
        col(&b, "n__v_decimal"),
        vec![None, s("9223372036854775808"), None, None]
    );
    assert_eq!(
        col(&b, "n__v_text"),
        vec![None, None, Some(huge.clone()), None]
    );
    assert_eq!(col(&b, "big__v_text"), vec![None, None, None, Some(huge)]);
}

#[test]
fn colliding_keys_get_distinct_stable_columns() {
    let (mut n, root) = normalizer(ResourceHints::new("orders"), NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[json!({"Order ID": 1, "orderId": 2, "order_id": 3})],
    );
    let b = one(&out, "orders");
    let tag_camel = format!("order_id_{}", identifier_tag("orderId"));
    let tag_snake = format!("order_id_{}", identifier_tag("order_id"));
    assert_eq!(
        names(&b)[..3],
        ["order_id".to_string(), tag_camel.clone(), tag_snake.clone()]
    );
    assert_eq!(col(&b, "order_id"), vec![s("1")]);
    assert_eq!(col(&b, &tag_camel), vec![s("2")]);
    assert_eq!(col(&b, &tag_snake), vec![s("3")]);
    let w = &n.stats().warnings;
    assert_eq!(w.len(), 2);
    assert!(w[0].contains("`orders`") && w[0].contains("`orderId`"));
    assert!(w[0].contains("`Order ID`") && w[0].contains(&tag_camel));
    assert_eq!(
        column(&n, "orders", &tag_snake).source_path,
        Some(vec!["order_id".to_string()])
    );

    // a later run from the stored schema maps the same keys to the same columns
    let stored = Schema::from_json(&n.into_schema().to_json().unwrap()).unwrap();
    let mut n2 = Normalizer::new(stored, "2", NormalizerConfig::default());
    let root = n2.add_resource(&ResourceHints::new("orders")).unwrap();
    let out = run(
        &mut n2,
        &root,
        &[json!({"order_id": 30, "orderId": 20, "Order ID": 10})],
    );
    let b = one(&out, "orders");
    assert_eq!(col(&b, "order_id"), vec![s("10")]);
    assert_eq!(col(&b, &tag_camel), vec![s("20")]);
    assert_eq!(col(&b, &tag_snake), vec![s("30")]);
    assert!(n2.stats().warnings.is_empty());
    assert_eq!(n2.schema().table("orders").unwrap().columns.len(), 5);
}

#[test]
fn max_table_nesting_zero_and_one() {
    let item = json!({
        "id": 1,
        "a": {"b": {"c": 1}},
        "items": [{"x": {"y": 1}, "z": [1, 2]}]
    });
    let mut hints = ResourceHints::new("t");
    hints.max_table_nesting = Some(0);
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    let out = run(&mut n, &root, std::slice::from_ref(&item));
    assert_eq!(out.len(), 1);
    let b = one(&out, "t");
    assert_eq!(
        names(&b),
        vec!["id", "a", "items", "_dlt_load_id", "_dlt_id"]
    );
    assert_eq!(col(&b, "a"), vec![s(r#"{"b":{"c":1}}"#)]);
    assert_eq!(column(&n, "t", "items").data_type, Some(DataType::Json));

    let mut hints = ResourceHints::new("t");
    hints.max_table_nesting = Some(1);
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    let out = run(&mut n, &root, std::slice::from_ref(&item));
    let tables: Vec<&str> = out.keys().map(|s| s.as_str()).collect();
    assert_eq!(tables, vec!["t", "t__items"]);
    let b = one(&out, "t");
    assert_eq!(col(&b, "a__b"), vec![s(r#"{"c":1}"#)]);
    let items = one(&out, "t__items");
    assert_eq!(col(&items, "x"), vec![s(r#"{"y":1}"#)]);
    assert_eq!(col(&items, "z"), vec![s("[1,2]")]);

    // the default budget flattens everything
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(&mut n, &root, &[item]);
    assert_eq!(out.len(), 3);
    assert_eq!(col(&one(&out, "t"), "a__b__c"), vec![s("1")]);
    assert_eq!(col(&one(&out, "t__items"), "x__y"), vec![s("1")]);
}

#[test]
fn batches_are_bounded_and_schemas_only_grow() {
    let config = NormalizerConfig {
        batch_size: 2,
        ..NormalizerConfig::default()
    };
    let (mut n, root) = normalizer(ResourceHints::new("t"), config);
    let mut ready = Vec::new();
    for i in 0..5 {
        let item = if i == 2 {
            json!({"a": i, "b": "new"})
        } else {
            json!({"a": i})
        };
        n.push(&root, &item).unwrap();
        ready.extend(n.take_ready());
    }
    assert_eq!(ready.len(), 2);
    let rest = n.flush().unwrap();
    assert_eq!(rest.len(), 1);
    ready.extend(rest);
    let sizes: Vec<usize> = ready.iter().map(|(_, b)| b.num_rows()).collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    assert_eq!(names(&ready[0].1), vec!["a", "_dlt_load_id", "_dlt_id"]);
    assert_eq!(
        names(&ready[1].1),
        vec!["a", "_dlt_load_id", "_dlt_id", "b"]
    );
    assert_eq!(col(&ready[1].1, "b"), vec![s("new"), None]);
    assert_eq!(names(&ready[2].1), names(&ready[1].1));
    assert_eq!(col(&ready[2].1, "b"), vec![None]);
    assert_eq!(n.stats().rows["t"], 5);
    // a flush with nothing left yields nothing
    assert!(n.flush().unwrap().is_empty());

    // a column added mid-batch is back-filled with nulls
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(
        &mut n,
        &root,
        &[json!({"a": 1}), json!({"a": 2, "b": "x"}), json!({"a": 3})],
    );
    assert_eq!(col(&one(&out, "t"), "b"), vec![None, s("x"), None]);
}

/// A schema where table `t` already holds columns `a` (bigint) and a nested table `t__l`.
fn stored_schema() -> Schema {
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    run(&mut n, &root, &[json!({"a": 1, "l": [{"x": 1}]})]);
    n.into_schema()
}

fn with_contract(contract: SchemaContract) -> (Normalizer, String) {
    let mut n = Normalizer::new(stored_schema(), "2", NormalizerConfig::default());
    let mut hints = ResourceHints::new("t");
    hints.schema_contract = Some(contract);
    let root = n.add_resource(&hints).unwrap();
    (n, root)
}

#[test]
fn contract_columns_modes() {
    let columns = |mode| SchemaContract {
        columns: mode,
        ..SchemaContract::default()
    };
    let (mut n, root) = with_contract(columns(ContractMode::Freeze));
    let err = n.push(&root, &json!({"a": 1, "b": 2})).unwrap_err();
    assert_eq!(err.kind(), sluice_core::ErrorKind::Schema);
    let msg = err.to_string();
    assert!(
        msg.contains("`b`") && msg.contains("`t`") && msg.contains("`columns` are frozen"),
        "{msg}"
    );
    // known columns still load
    n.push(&root, &json!({"a": 2})).unwrap();
    assert_eq!(n.flush().unwrap()[0].1.num_rows(), 1);

    let (mut n, root) = with_contract(columns(ContractMode::DiscardRow));
    n.push(&root, &json!({"a": 1, "b": 2, "l": [{"x": 5}]}))
        .unwrap();
    n.push(&root, &json!({"a": 3, "l": [{"x": 6}]})).unwrap();
    let out: IndexMap<_, _> = n.flush().unwrap().into_iter().collect();
    assert_eq!(col(&out["t"], "a"), vec![s("3")]);
    assert_eq!(
        col(&out["t__l"], "x"),
        vec![s("6")],
        "nested rows of a dropped row are dropped"
    );
    assert_eq!(n.stats().discarded_rows, 1);
    assert!(n.schema().table("t").unwrap().columns.get("b").is_none());

    let (mut n, root) = with_contract(columns(ContractMode::DiscardValue));
    n.push(&root, &json!({"a": 1, "b": 2})).unwrap();
    let out = n.flush().unwrap();
    assert_eq!(names(&out[0].1), vec!["a", "_dlt_load_id", "_dlt_id"]);
    assert_eq!(n.stats().discarded_values, 1);

    // a table that is new in this run evolves freely even with frozen columns
    let mut n = Normalizer::new(stored_schema(), "2", NormalizerConfig::default());
    let mut hints = ResourceHints::new("fresh");
    hints.schema_contract = Some(SchemaContract::all(ContractMode::Freeze).with_tables_evolve());
    let fresh = n.add_resource(&hints).unwrap();
    n.push(&fresh, &json!({"x": 1})).unwrap();
    n.push(&fresh, &json!({"y": 1})).unwrap();
}

trait TablesEvolve {
    fn with_tables_evolve(self) -> Self;
}
impl TablesEvolve for SchemaContract {
    fn with_tables_evolve(mut self) -> Self {
        self.tables = ContractMode::Evolve;
        self
    }
}

#[test]
fn contract_tables_modes() {
    let tables = |mode| SchemaContract {
        tables: mode,
        ..SchemaContract::default()
    };
    // a new root table
    let mut n = Normalizer::new(stored_schema(), "2", NormalizerConfig::default());
    let mut hints = ResourceHints::new("other");
    hints.schema_contract = Some(tables(ContractMode::Freeze));
    let other = n.add_resource(&hints).unwrap();
    let msg = n.push(&other, &json!({"a": 1})).unwrap_err().to_string();
    assert!(
        msg.contains("table `other`") && msg.contains("`tables` are frozen"),
        "{msg}"
    );

    // a new nested table under an existing root
    let (mut n, root) = with_contract(tables(ContractMode::Freeze));
    n.push(&root, &json!({"a": 1, "l": [{"x": 1}]})).unwrap();
    let msg = n
        .push(&root, &json!({"a": 1, "m": [1]}))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("table `t__m`"), "{msg}");

    for mode in [ContractMode::DiscardRow, ContractMode::DiscardValue] {
        let (mut n, root) = with_contract(tables(mode));
        n.push(&root, &json!({"a": 1, "m": [1, 2]})).unwrap();
        let out: IndexMap<_, _> = n.flush().unwrap().into_iter().collect();
        assert_eq!(out["t"].num_rows(), 1);
        assert!(!out.contains_key("t__m"));
        assert!(n.schema().table("t__m").is_none());
        assert_eq!(n.stats().discarded_rows, 2);
    }
}

#[test]
fn contract_data_type_modes() {
    let dt = |mode| SchemaContract {
        data_type: mode,
        ..SchemaContract::default()
    };
    let (mut n, root) = with_contract(dt(ContractMode::Freeze));
    n.push(&root, &json!({"a": "5"})).unwrap(); // coercible: no variant needed
    let msg = n.push(&root, &json!({"a": "x"})).unwrap_err().to_string();
    assert!(
        msg.contains("`a__v_text`") && msg.contains("`t`") && msg.contains("`data_type` is frozen"),
        "{msg}"
    );

    let (mut n, root) = with_contract(dt(ContractMode::DiscardRow));
    n.push(&root, &json!({"a": "x"})).unwrap();
    n.push(&root, &json!({"a": 7})).unwrap();
    let out = n.flush().unwrap();
    assert_eq!(col(&out[0].1, "a"), vec![s("7")]);
    assert_eq!(n.stats().discarded_rows, 1);

    let (mut n, root) = with_contract(dt(ContractMode::DiscardValue));
    n.push(&root, &json!({"a": "x"})).unwrap();
    let out = n.flush().unwrap();
    assert_eq!(col(&out[0].1, "a"), vec![None]);
    assert_eq!(n.stats().discarded_values, 1);
    assert!(
        n.schema()
            .table("t")
            .unwrap()
            .columns
            .get("a__v_text")
            .is_none()
    );
}

#[test]
fn missing_primary_key_is_an_error() {
    let mut hints = ResourceHints::new("users");
    hints.primary_key = vec!["userId".into()];
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    n.push(&root, &json!({"userId": 1, "name": "a"})).unwrap();
    let msg = n
        .push(&root, &json!({"name": "b"}))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("`users`") && msg.contains("`user_id`"),
        "{msg}"
    );
    let out = n.flush().unwrap();
    assert_eq!(out[0].1.num_rows(), 1, "the failed item wrote nothing");
}

#[test]
fn long_names_are_shortened_consistently() {
    let config = NormalizerConfig {
        table_naming: NamingConvention::snake_case(20),
        column_naming: NamingConvention::snake_case(20),
        ..NormalizerConfig::default()
    };
    let (mut n, root) = normalizer(ResourceHints::new("orders"), config);
    let out = run(
        &mut n,
        &root,
        &[
            json!({"a_rather_long_key_name": {"another_long_key": 1}, "line_items_of_order": [{"x": 1}]}),
        ],
    );
    for (t, batches) in &out {
        assert!(t.len() <= 20, "{t}");
        for f in batches[0].schema().fields() {
            assert!(f.name().len() <= 20, "{}", f.name());
        }
    }
}

#[test]
fn a_system_column_as_primary_key_gets_its_type_and_keeps_the_hint() {
    // Found by normalize_fuzz: `primary_key = "_dlt_id"` declared `_dlt_id` without a type,
    // and the row key then had nowhere to go ("column without builder").
    let mut hints = ResourceHints::new("Orders");
    hints.write_disposition = WriteDisposition::Merge;
    hints.primary_key = vec!["_dlt_id".into()];
    let (mut n, root) = normalizer(hints, NormalizerConfig::default());
    let out = run(&mut n, &root, &[json!({"x": 1}), json!({"x": 2, "l": [1]})]);
    let batch = one(&out, "orders");
    assert_eq!(batch.num_rows(), 2);
    assert!(col(&batch, "_dlt_id").iter().all(Option::is_some));
    let id = column(&n, "orders", "_dlt_id");
    assert!(id.primary_key && id.row_key && !id.nullable, "{id:?}");
    assert_eq!(id.data_type, Some(DataType::Text));
    assert_eq!(one(&out, "orders__l").num_rows(), 1);
}

#[test]
fn a_nested_table_name_claimed_by_another_path_gets_its_own_table() {
    // Found by normalize_fuzz: `a[].b` (a list in the items of list `a`) and `a.b` (a list in
    // object `a`) both name `t__a__b`, once as a child of `t__a` and once of `t`. dlt mixes
    // their rows in one table (parent ids then point into two tables); sluice keeps them apart.
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(&mut n, &root, &[json!({"a": [{"b": [1, 2]}]})]);
    assert_eq!(one(&out, "t__a__b").num_rows(), 2);
    let first_schema = n.into_schema();
    for load in ["2", "3"] {
        let mut n = Normalizer::new(first_schema.clone(), load, NormalizerConfig::default());
        let root = n.add_resource(&ResourceHints::new("t")).unwrap();
        let out = run(
            &mut n,
            &root,
            &[json!({"a": {"b": [3]}}), json!({"a": [{"b": [4]}]})],
        );
        let tagged: Vec<&String> = out.keys().filter(|t| t.starts_with("t__a__b__")).collect();
        assert_eq!(tagged.len(), 1, "{:?}", out.keys().collect::<Vec<_>>());
        let tagged = tagged[0].clone();
        assert_eq!(col(&one(&out, &tagged), "value"), vec![s("3")]);
        assert_eq!(col(&one(&out, "t__a__b"), "value"), vec![s("4")]);
        assert_eq!(
            n.schema().table(&tagged).unwrap().parent.as_deref(),
            Some("t")
        );
        assert_eq!(
            n.schema().table("t__a__b").unwrap().parent.as_deref(),
            Some("t__a")
        );
        assert!(
            n.stats()
                .warnings
                .iter()
                .any(|w| w.contains("already holds the rows of another path")),
            "{:?}",
            n.stats().warnings
        );
    }
}

#[test]
fn lists_whose_names_normalize_alike_get_distinct_tables() {
    // Found by normalize_fuzz: `Items` and `items` both name `t__items`; their rows got the
    // same `_dlt_id`s (parent, table and index alike). Now the second list has its own table,
    // recorded in the schema so that later loads agree.
    let (mut n, root) = normalizer(ResourceHints::new("t"), NormalizerConfig::default());
    let out = run(&mut n, &root, &[json!({"Items": [1], "items": [2, 3]})]);
    assert_eq!(col(&one(&out, "t__items"), "value"), vec![s("1")]);
    let tagged: Vec<String> = out
        .keys()
        .filter(|t| t.starts_with("t__items__"))
        .cloned()
        .collect();
    assert_eq!(tagged.len(), 1, "{:?}", out.keys().collect::<Vec<_>>());
    assert_eq!(col(&one(&out, &tagged[0]), "value"), vec![s("2"), s("3")]);
    let schema = n.into_schema();
    assert_eq!(
        schema.table("t__items").unwrap().source_path.as_deref(),
        Some("Items")
    );
    // A later load with only `items` still writes it to its own table.
    let mut n = Normalizer::new(schema, "2", NormalizerConfig::default());
    let root = n.add_resource(&ResourceHints::new("t")).unwrap();
    let out = run(&mut n, &root, &[json!({"items": [4]})]);
    assert_eq!(col(&one(&out, &tagged[0]), "value"), vec![s("4")]);
    assert!(!out.contains_key("t__items"));
}

#[test]
fn upsert_rows_take_their_id_from_the_primary_key() {
    // dlt's `key_hash`: the same key gives the same `_dlt_id` in every load, so the nested rows'
    // `_dlt_root_id` / `_dlt_parent_id` keep pointing at their root across loads.
    let ids = |load: &str| {
        let mut hints = ResourceHints::new("t");
        hints.write_disposition = WriteDisposition::Merge;
        hints.merge_strategy = Some(sluice_core::MergeStrategy::Upsert);
        hints.primary_key = vec!["id".into()];
        let mut n = Normalizer::new(Schema::new("shop"), load, NormalizerConfig::default());
        let root = n.add_resource(&hints).unwrap();
        let out = run(
            &mut n,
            &root,
            &[json!({"id": 1, "l": [1]}), json!({"id": 2})],
        );
        (
            col(&one(&out, "t"), "_dlt_id"),
            col(&one(&out, "t__l"), "_dlt_root_id"),
        )
    };
    let (a, nested_a) = ids("1");
    let (b, _) = ids("2");
    assert_eq!(a, b, "the same keys give the same ids in another load");
    assert_ne!(a[0], a[1]);
    assert_eq!(nested_a, vec![a[0].clone()]);
    // delete-insert keeps random ids
    let (mut n, root) = normalizer(
        {
            let mut h = ResourceHints::new("t");
            h.write_disposition = WriteDisposition::Merge;
            h.primary_key = vec!["id".into()];
            h
        },
        NormalizerConfig::default(),
    );
    let out = run(&mut n, &root, &[json!({"id": 1}), json!({"id": 1})]);
    let random = col(&one(&out, "t"), "_dlt_id");
    assert_ne!(random[0], random[1]);
}

fn scd2_hints(settings: sluice_core::schema::Scd2Settings) -> ResourceHints {
    let mut h = ResourceHints::new("dim");
    h.write_disposition = WriteDisposition::Merge;
    h.merge_strategy = Some(sluice_core::MergeStrategy::Scd2);
    h.scd2 = settings;
    h
}

#[test]
fn scd2_roots_get_validity_columns_and_a_content_hash_as_id() {
    let (mut n, root) = normalizer(scd2_hints(Default::default()), NormalizerConfig::default());
    let item = json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo"}, "xs": [{"a": 1}, {"a": 2}]});
    let out = run(&mut n, &root, std::slice::from_ref(&item));
    let dim = one(&out, "dim");
    // dlt's row hash of the whole item (nested list included).
    let id = col(&dim, "_dlt_id")[0].clone().unwrap();
    assert_eq!(id.len(), 14);
    assert_eq!(col(&dim, "_dlt_valid_from"), vec![None]);
    assert_eq!(col(&dim, "_dlt_valid_to"), vec![None]);
    let from = column(&n, "dim", "_dlt_valid_from");
    assert!(from.valid_from && from.nullable && from.data_type == Some(DataType::Timestamp));
    let to = column(&n, "dim", "_dlt_valid_to");
    assert!(to.valid_to && to.nullable && to.active_record_timestamp.is_none());
    let version = column(&n, "dim", "_dlt_id");
    assert!(version.row_version && !version.unique && !version.row_key && !version.nullable);
    // Nested rows: ids from the parent's hash, no root key (as dlt: scd2 does not propagate it).
    let xs = one(&out, "dim__xs");
    assert!(
        !names(&xs).contains(&"_dlt_root_id".to_string()),
        "{:?}",
        names(&xs)
    );
    assert_eq!(col(&xs, "_dlt_parent_id"), vec![s(&id), s(&id)]);
    assert_eq!(
        col(&xs, "_dlt_id"),
        vec![
            s(&digest128(&format!("{id}_dim__xs_0"), 10)),
            s(&digest128(&format!("{id}_dim__xs_1"), 10))
        ]
    );
    assert!(column(&n, "dim__xs", "_dlt_id").unique);
    // The same content in another load gets the same id; changed content another one.
    let (mut n2, root2) = normalizer(scd2_hints(Default::default()), NormalizerConfig::default());
    let mut changed = item.clone();
    changed["xs"][1]["a"] = json!(3);
    let out2 = run(&mut n2, &root2, &[item, changed]);
    let ids = col(&one(&out2, "dim"), "_dlt_id");
    assert_eq!(ids[0], s(&id));
    assert_ne!(
        ids[1],
        s(&id),
        "a change in a nested list makes a new version"
    );
}

#[test]
fn scd2_settings_name_columns_and_the_row_version() {
    let settings = sluice_core::schema::Scd2Settings {
        validity_column_names: Some(["ValidFrom".into(), "ValidTo".into()]),
        active_record_timestamp: Some("9999-12-31T00:00:00Z".into()),
        boundary_timestamp: Some("2024-08-21T12:15:00Z".into()),
        row_version_column_name: Some("RowHash".into()),
    };
    let (mut n, root) = normalizer(scd2_hints(settings), NormalizerConfig::default());
    let out = run(&mut n, &root, &[json!({"nk": 1, "RowHash": "h1"})]);
    let dim = one(&out, "dim");
    assert_eq!(col(&dim, "row_hash"), vec![s("h1")]);
    assert!(column(&n, "dim", "valid_from").valid_from);
    let to = column(&n, "dim", "valid_to");
    assert_eq!(
        to.active_record_timestamp.as_deref(),
        Some("9999-12-31T00:00:00Z")
    );
    let table = n.schema().table("dim").unwrap();
    assert_eq!(
        table.boundary_timestamp.as_deref(),
        Some("2024-08-21T12:15:00Z")
    );
    assert_eq!(table.row_version_column().unwrap().name, "row_hash");
    // `_dlt_id` stays random (and a row key) when the data brings its own version.
    let id = column(&n, "dim", "_dlt_id");
    assert!(!id.row_version && id.row_key && id.unique);
    // The version column is required.
    let e = n.push(&root, &json!({"nk": 2})).unwrap_err().to_string();
    assert!(e.contains("row_hash"), "{e}");
}

#[test]
fn scd2_validity_columns_must_be_timestamps() {
    let mut schema = Schema::new("shop");
    schema.tables.insert(
        "dim".into(),
        sluice_core::Table::new("dim").with_column(Column::new("_dlt_valid_to", DataType::Text)),
    );
    let mut n = Normalizer::new(schema, "1", NormalizerConfig::default());
    let e = n
        .add_resource(&scd2_hints(Default::default()))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("table `dim`") && e.contains("_dlt_valid_to"),
        "{e}"
    );
}
