//! A randomized test of the normalizer: random JSON items, and items of the corpus in
//! `fuzz/corpus/normalize/` damaged at random, pushed through a [`Normalizer`] over several
//! loads with the schema evolving from one load to the next (as a pipeline does), under random
//! settings (batch size, nesting budget, write disposition, primary key, schema contract).
//!
//! It never compares against hand-written answers; it checks what must hold for any input:
//! - nothing panics; an item is refused only with a schema or input error that says why, and
//!   under the default (evolve) contract no item without a primary key is refused at all;
//! - every batch belongs to a table of the schema, and each of its columns has the Arrow type
//!   the schema's column says;
//! - the rows per table equal what the stats report, and every accepted item is one root row;
//! - `_dlt_id`s are present and unique per table, every nested row's `_dlt_parent_id` is a
//!   `_dlt_id` of its parent table in the same load, and `_dlt_list_idx` counts 0, 1, 2, … under
//!   each parent; `_dlt_load_id` is the load's id;
//! - the schema only grows (no column lost or retyped between loads), and survives a JSON
//!   round trip unchanged;
//! - batches survive a Parquet round trip (written with the pipeline's writer) unchanged.
//!
//! A short run (a fixed seed, 400 cases) is part of `cargo test`; `make fuzz` runs it for
//! `SLUICE_FUZZ_SECONDS` from a seed taken from the clock, printed so that a failure can be
//! replayed with `SLUICE_FUZZ_SEED`.

use crate::{Normalizer, NormalizerConfig};
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value};
use sluice_core::arrow_types::arrow_type;
use sluice_core::schema::{C_DLT_ID, C_DLT_LIST_IDX, C_DLT_LOAD_ID, C_DLT_PARENT_ID};
use sluice_core::{
    ContractMode, ErrorKind, MergeStrategy, ResourceHints, Schema, SchemaContract, WriteDisposition,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

/// Keys that collide after snake_case, look like system columns, or are odd.
const KEYS: &[&str] = &[
    "id",
    "ID",
    "Id",
    "name",
    "order id",
    "orderId",
    "order_id",
    "items",
    "tags",
    "a",
    "b",
    "createdAt",
    "created_at",
    "",
    "_dlt_id",
    "_dlt_parent_id",
    "value",
    "x__y",
    "__",
    "ÄÖü",
    "🦀",
    "1abc",
    "select",
    "a.b",
    "k\"q",
    "amount",
];

/// Number literals, parsed with serde_json's arbitrary precision (big integers, exponents).
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "42",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "18446744073709551616",
    "123456789012345678901234567890",
    "12345678901234567890123456789012345678901234567890",
    "1.5",
    "-0.0",
    "1e308",
    "1e400",
    "2E-3",
    "0.1",
];

const STRINGS: &[&str] = &[
    "",
    "x",
    "päge",
    "2024-01-02T03:04:05Z",
    "2024-01-02T03:04:05.123456+02:00",
    "2024-01-02",
    "12:30:00",
    "5",
    "1.25",
    "true",
    "null",
    "\u{0}",
    "a\"b",
    "🦀🦀",
    "9999-12-31T23:59:59Z",
    "0000-01-01",
];

fn key(rng: &mut StdRng) -> String {
    if rng.random_bool(0.03) {
        // Long keys meet the identifier length rules.
        return "k".repeat(rng.random_range(60..400));
    }
    KEYS[rng.random_range(0..KEYS.len())].to_string()
}

fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..6) {
        0 => Value::Null,
        1 => Value::Bool(rng.random_bool(0.5)),
        2 => Value::from(rng.random_range(-1000i64..1000)),
        3 => serde_json::from_str(NUMBERS[rng.random_range(0..NUMBERS.len())]).expect("a number"),
        4 if rng.random_bool(0.02) => Value::String("s".repeat(rng.random_range(1000..100_000))),
        _ => Value::String(STRINGS[rng.random_range(0..STRINGS.len())].to_string()),
    }
}

/// A random JSON value at most `depth` levels deep.
fn value(rng: &mut StdRng, depth: u32) -> Value {
    let kind = if depth == 0 {
        0
    } else {
        rng.random_range(0..10)
    };
    match kind {
        0..=5 => scalar(rng),
        6 | 7 => object(rng, depth - 1),
        _ => {
            let n = rng.random_range(0..5);
            let same_shape = rng.random_bool(0.5);
            let first = value(rng, depth - 1);
            Value::Array(
                (0..n)
                    .map(|_| {
                        if same_shape {
                            first.clone()
                        } else {
                            value(rng, depth - 1)
                        }
                    })
                    .collect(),
            )
        }
    }
}

fn object(rng: &mut StdRng, depth: u32) -> Value {
    let mut map = Map::new();
    for _ in 0..rng.random_range(0..6) {
        map.insert(key(rng), value(rng, depth));
    }
    Value::Object(map)
}

/// The corpus: JSON files under `fuzz/corpus/normalize/`, each an array of items.
fn corpus() -> Vec<Vec<Value>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/normalize");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} is readable: {e}", dir.display()))
        .map(|e| e.expect("a corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus files in {}", dir.display());
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("a corpus file");
            match serde_json::from_str(&text) {
                Ok(Value::Array(items)) => items,
                other => panic!("{} is a JSON array of items: {other:?}", p.display()),
            }
        })
        .collect()
}

/// Replace, drop or rename something somewhere inside `v`.
fn damage(rng: &mut StdRng, v: &mut Value) {
    match v {
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.7) => {
            let i = rng.random_range(0..map.len());
            let k = map.keys().nth(i).expect("a key").clone();
            match rng.random_range(0..4) {
                0 => {
                    map.shift_remove(&k);
                }
                1 => {
                    let old = map.shift_remove(&k).expect("the key");
                    map.insert(key(rng), old);
                }
                2 => {
                    map.insert(k, value(rng, 3));
                }
                _ => damage(rng, map.get_mut(&k).expect("the key")),
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.7) => {
            let i = rng.random_range(0..items.len());
            damage(rng, &mut items[i]);
        }
        other => *other = value(rng, 3),
    }
}

fn items(rng: &mut StdRng, corpus: &[Vec<Value>]) -> Vec<Value> {
    let n = rng.random_range(1..25);
    if rng.random_bool(0.4) {
        let file = &corpus[rng.random_range(0..corpus.len())];
        return (0..n)
            .map(|_| {
                let mut item = file[rng.random_range(0..file.len())].clone();
                for _ in 0..rng.random_range(0..4) {
                    damage(rng, &mut item);
                }
                item
            })
            .collect();
    }
    (0..n)
        .map(|_| {
            if rng.random_bool(0.92) {
                let depth = rng.random_range(0..6);
                object(rng, depth)
            } else {
                value(rng, 3)
            }
        })
        .collect()
}

fn contract(rng: &mut StdRng) -> Option<SchemaContract> {
    let modes = [
        ContractMode::Evolve,
        ContractMode::Freeze,
        ContractMode::DiscardRow,
        ContractMode::DiscardValue,
    ];
    rng.random_bool(0.25).then(|| SchemaContract {
        tables: modes[rng.random_range(0..4)],
        columns: modes[rng.random_range(0..4)],
        data_type: modes[rng.random_range(0..4)],
    })
}

/// Whether `key` is a key of `v` or of anything inside it.
fn mentions_key(v: &Value, key: &str) -> bool {
    match v {
        Value::Object(map) => map.iter().any(|(k, v)| k == key || mentions_key(v, key)),
        Value::Array(items) => items.iter().any(|v| mentions_key(v, key)),
        _ => false,
    }
}

/// Text of every cell of a string column (`None` for nulls).
fn strings(batch: &RecordBatch, name: &str) -> Option<Vec<Option<String>>> {
    let col = batch.column_by_name(name)?;
    let col = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8).expect("castable");
    let s = col.as_string::<i32>();
    Some(
        (0..s.len())
            .map(|i| (!s.is_null(i)).then(|| s.value(i).to_string()))
            .collect(),
    )
}

/// What one load must satisfy; returns the schema it leaves.
fn check_load(
    case: &str,
    schema: Schema,
    rng: &mut StdRng,
    corpus: &[Vec<Value>],
    dir: &std::path::Path,
    keyed: &mut bool,
) -> Option<Schema> {
    let load_id = format!("1700000000.{}", rng.random_range(0..1000));
    let config = NormalizerConfig {
        batch_size: [1, 2, 3, 7, 10_000][rng.random_range(0..5)],
        default_max_nesting: [0, 1, 2, 1000][rng.random_range(0..4)],
        ..NormalizerConfig::default()
    };
    let before = schema.clone();
    let mut n = Normalizer::new(schema, &load_id, config);
    let mut hints = ResourceHints::new(["orders", "Orders", "t", "ÄÖ"][rng.random_range(0..4)]);
    hints.write_disposition = [
        WriteDisposition::Append,
        WriteDisposition::Replace,
        WriteDisposition::Merge,
    ][rng.random_range(0..3)];
    if hints.write_disposition == WriteDisposition::Merge && rng.random_bool(0.5) {
        hints.merge_strategy = Some(MergeStrategy::Upsert);
    }
    if rng.random_bool(0.2) {
        hints.primary_key = vec![key(rng)];
        // A key column stays not null in the schema: later loads may refuse items without it.
        *keyed = true;
    }
    if rng.random_bool(0.2) {
        hints.max_table_nesting = Some(rng.random_range(0..4));
    }
    hints.schema_contract = contract(rng);
    let root = match n.add_resource(&hints) {
        Ok(root) => root,
        Err(e) => {
            // Hints that cannot apply to the stored schema (a new primary key on existing data,
            // …) are refused with a reason, not a panic.
            assert!(!e.to_string().is_empty(), "{case}: an empty error");
            return None;
        }
    };
    // The contract in force: this load's, or one an earlier load left on the table.
    let contract = n.schema().contract_for(&root);
    let strict = [contract.tables, contract.columns, contract.data_type]
        .iter()
        .any(|m| *m != ContractMode::Evolve);
    let items = items(rng, corpus);
    // Items may bring their own `_dlt_id` (kept, as dlt keeps it), and upsert rows take theirs
    // from the primary key: uniqueness is the data's then.
    let own_ids = items.iter().any(|i| mentions_key(i, C_DLT_ID)) || *keyed;
    let mut batches: Vec<(String, RecordBatch)> = Vec::new();
    let mut accepted = 0u64;
    for item in &items {
        match n.push(&root, item) {
            Ok(()) => accepted += 1,
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Schema | ErrorKind::Input),
                    "{case}: refused with a {:?} error: {e}; item {item}, hints {hints:?}, \
                     schema {}",
                    e.kind(),
                    n.schema().to_json().unwrap_or_default()
                );
                assert!(
                    strict || *keyed,
                    "{case}: the evolve contract refused {item}: {e}"
                );
                assert!(e.to_string().len() > 10, "{case}: a terse error: {e}");
            }
        }
        batches.extend(n.take_ready());
    }
    match n.flush() {
        Ok(rest) => batches.extend(rest),
        Err(e) => panic!("{case}: flush failed: {e}"),
    }
    let stats = n.stats().clone();
    let schema = n.into_schema();

    // Batches fit the schema; rows add up.
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    for (table, batch) in &batches {
        let t = schema
            .table(table)
            .unwrap_or_else(|| panic!("{case}: a batch of table {table} not in the schema"));
        for field in batch.schema().fields() {
            let col = t.columns.get(field.name()).unwrap_or_else(|| {
                panic!("{case}: column {table}.{} not in the schema", field.name())
            });
            assert_eq!(
                field.data_type(),
                &arrow_type(col),
                "{case}: type of {table}.{}",
                field.name()
            );
        }
        *rows.entry(table.clone()).or_default() += batch.num_rows() as u64;
    }
    for (table, count) in &stats.rows {
        assert_eq!(
            rows.get(table).copied().unwrap_or(0),
            *count,
            "{case}: rows of {table}"
        );
    }
    if !strict {
        assert_eq!(
            rows.get(&root).copied().unwrap_or(0),
            accepted,
            "{case}: one root row per accepted item of {root}: rows {rows:?}, stats {stats:?}, \
             hints {hints:?}, items {items:?}"
        );
    }

    // Row keys, parent keys, list indexes and load ids.
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for (table, batch) in &batches {
        let dlt_ids = strings(batch, C_DLT_ID).unwrap_or_else(|| panic!("{case}: {table} ids"));
        let set = ids.entry(table.clone()).or_default();
        for id in dlt_ids {
            let id = id.unwrap_or_else(|| panic!("{case}: a null _dlt_id in {table}"));
            assert!(
                set.insert(id.clone()) || own_ids,
                "{case}: _dlt_id {id} twice in {table}"
            );
        }
    }
    for (table, batch) in &batches {
        let t = schema.table(table).expect("checked above");
        let Some(parent) = &t.parent else {
            if let Some(load_ids) = strings(batch, C_DLT_LOAD_ID) {
                assert!(
                    load_ids
                        .iter()
                        .all(|l| l.as_deref() == Some(load_id.as_str())),
                    "{case}: _dlt_load_id of {table}"
                );
            }
            continue;
        };
        let parents = strings(batch, C_DLT_PARENT_ID)
            .unwrap_or_else(|| panic!("{case}: {table} has no _dlt_parent_id"));
        let idx = batch
            .column_by_name(C_DLT_LIST_IDX)
            .unwrap_or_else(|| panic!("{case}: {table} has no _dlt_list_idx"))
            .as_primitive::<Int64Type>();
        for (i, p) in parents.iter().enumerate() {
            let p = p
                .as_ref()
                .unwrap_or_else(|| panic!("{case}: a null parent in {table}"));
            assert!(
                ids.get(parent).is_some_and(|s| s.contains(p)),
                "{case}: {table} row {i} points at {p}, not a row of {parent} (contract \
                 {contract:?}, stats {stats:?}), items {items:?}"
            );
            assert!(idx.is_valid(i), "{case}: a null _dlt_list_idx in {table}");
        }
    }
    // Under each parent the list indexes are 0, 1, 2, … (over all batches of the table).
    let mut per_parent: HashMap<(String, String), Vec<i64>> = HashMap::new();
    for (table, batch) in &batches {
        if schema.table(table).is_some_and(|t| t.parent.is_some()) {
            let parents = strings(batch, C_DLT_PARENT_ID).expect("checked above");
            let idx = batch
                .column_by_name(C_DLT_LIST_IDX)
                .expect("checked above")
                .as_primitive::<Int64Type>();
            for (i, p) in parents.into_iter().enumerate() {
                per_parent
                    .entry((table.clone(), p.expect("checked above")))
                    .or_default()
                    .push(idx.value(i));
            }
        }
    }
    // (Items that bring the same `_dlt_id` twice share their nested rows' parents, and a
    // discard contract leaves gaps where it dropped rows.)
    for ((table, parent), mut idx) in per_parent.into_iter().filter(|_| !own_ids && !strict) {
        idx.sort_unstable();
        let want: Vec<i64> = (0..idx.len() as i64).collect();
        assert_eq!(
            idx, want,
            "{case}: list indexes under {parent} in {table} (strict {strict}, contract {contract:?}), items {items:?}"
        );
    }

    // The schema only grows and survives JSON.
    for (name, old) in &before.tables {
        let new = schema
            .table(name)
            .unwrap_or_else(|| panic!("{case}: table {name} lost"));
        for (c, col) in &old.columns {
            let now = new
                .columns
                .get(c)
                .unwrap_or_else(|| panic!("{case}: column {name}.{c} lost"));
            if col.data_type.is_some() {
                assert_eq!(now.data_type, col.data_type, "{case}: {name}.{c} retyped");
            }
        }
    }
    let json = schema.to_json().expect("the schema serializes");
    assert_eq!(
        Schema::from_json(&json).expect("the schema reads back"),
        schema,
        "{case}: the schema's JSON round trip"
    );

    // Parquet round trip, for some loads (it is the slow part).
    if rng.random_bool(0.2) {
        for (i, (table, batch)) in batches.iter().enumerate() {
            let path = dir.join(format!("{i}.parquet"));
            let mut w = sluice_core::parquet_io::ParquetFileWriter::create(&path, batch.schema())
                .expect("a parquet file");
            w.write(batch).expect("the batch writes");
            w.finish().expect("the file finishes");
            let back: Vec<RecordBatch> = sluice_core::parquet_io::read_parquet(&path, 1 << 20)
                .expect("the file opens")
                .collect::<sluice_core::Result<_>>()
                .expect("the file reads");
            let back = arrow::compute::concat_batches(&batch.schema(), &back).expect("concat");
            assert_eq!(&back, batch, "{case}: Parquet round trip of {table}");
            std::fs::remove_file(&path).expect("remove");
        }
    }
    Some(schema)
}

#[test]
fn the_normalizer_keeps_its_invariants_on_random_items() {
    let (seed, deadline) = sluice_core::test_support::fuzz_budget();
    let corpus = corpus();
    let dir = std::env::temp_dir().join(format!("sluice-normalize-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut cases, mut loads) = (0u64, 0u64);
    while cases < 400 || Instant::now() < deadline {
        let mut schema = Schema::new("fuzz");
        let mut keyed = false;
        for load in 0..rng.random_range(1..4) {
            let case = format!("seed {seed}, case {cases}, load {load}");
            match check_load(&case, schema, &mut rng, &corpus, &dir, &mut keyed) {
                Some(next) => schema = next,
                None => break,
            }
            loads += 1;
        }
        cases += 1;
    }
    std::fs::remove_dir_all(&dir).ok();
    println!("{cases} cases, {loads} loads kept every invariant");
    assert!(
        loads >= cases,
        "most cases load at least once: {loads} of {cases}"
    );
}
