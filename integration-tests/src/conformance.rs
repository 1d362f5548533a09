//! The conformance suite every destination passes.
//!
//! Each case runs real pipelines (file source → normalizer → package → destination) against
//! the destination under test and checks what landed by querying it back. A destination's
//! test file builds a [`Target`] and calls each case from its own `#[tokio::test]`.

use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use serde_json::{Value, json};
use sluice_core::{ConfigProvider, Registry, ResourceHints, Result, WriteDisposition};
use sluice_pipeline::{FileSource, Pipeline, PipelineOptions, RunInfo};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

mod scd2;
pub use scd2::{scd2, scd2_after_append, scd2_row_version, scd2_settings};

/// The destination under test.
#[derive(Clone)]
pub struct Target {
    /// Registry holding the destination.
    pub registry: Registry,
    /// Destination name.
    pub destination: String,
    /// Configuration (credentials) for it.
    pub config: ConfigProvider,
    /// Cases the destination cannot pass by design, as `(case, reason)`: each is reported as
    /// `SKIPPED <case> on <destination>: <reason>` instead of run.
    pub skip: &'static [(&'static str, &'static str)],
}

impl Target {
    /// Whether `case` is declared unsupported; prints the `SKIPPED` line when it is.
    pub fn skips(&self, case: &str) -> bool {
        match self.skip.iter().find(|(c, _)| *c == case) {
            Some((_, reason)) => {
                println!("SKIPPED {case} on {}: {reason}", self.destination);
                true
            }
            None => false,
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One case: a pipeline with its own working dir and dataset.
pub struct Case {
    target: Target,
    dir: tempfile::TempDir,
    /// Pipeline name (unique per case and process).
    pub name: String,
}

impl Case {
    /// A fresh case named after `case`.
    pub fn new(target: &Target, case: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("conf_{case}_{}_{n}", std::process::id());
        Self {
            target: target.clone(),
            dir: tempfile::tempdir().expect("temp dir"),
            name,
        }
    }

    /// The pipeline (same name, dir and dataset on every call, so state carries over).
    pub fn pipeline(&self) -> Result<Pipeline> {
        let mut o = PipelineOptions::new(&self.name, &self.target.destination);
        o.pipelines_dir = Some(self.dir.path().join("pipelines"));
        o.working_dir = Some(self.dir.path().to_path_buf());
        o.config = Some(self.target.config.clone());
        o.dataset_name = Some(format!("{}_data", self.name));
        Pipeline::new(&self.target.registry, o)
    }

    /// Write `items` as a JSON file and load them as `hints.name`.
    pub async fn load(&self, items: Value, hints: ResourceHints) -> Result<RunInfo> {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path: PathBuf = self.dir.path().join(format!("input_{n}.json"));
        std::fs::write(&path, serde_json::to_vec(&items)?)?;
        let source = FileSource::new(&hints.name.clone(), vec![path])
            .with_source_name(&self.name)
            .with_hints(hints);
        self.pipeline()?.run(Box::new(source)).await
    }

    /// Rows in a table.
    pub async fn count(&self, table: &str) -> Result<u64> {
        self.pipeline()?.dataset().await?.row_count(table).await
    }

    /// Run SQL built from the quoted table name (`{t}`) and quoted columns and return cells as text.
    /// `sql` uses `{t}` for the table and `{c0}`, `{c1}`, … for `columns`.
    pub async fn select(
        &self,
        table: &str,
        columns: &[&str],
        sql: &str,
    ) -> Result<Vec<Vec<String>>> {
        let mut ds = self.pipeline()?.dataset().await?;
        let mut text = sql.replace("{t}", &ds.qualified_table(table));
        for (i, c) in columns.iter().enumerate() {
            text = text.replace(&format!("{{c{i}}}"), &ds.quote(c));
        }
        Ok(cells(&ds.query(&text).await?))
    }

    /// The pipeline's working dir.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

/// All cells of `batches` as display strings (NULL as `null`).
pub fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(row) {
                            "null".to_string()
                        } else {
                            array_value_to_string(c, row).unwrap_or_default()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn hints(name: &str, wd: WriteDisposition, pk: &[&str]) -> ResourceHints {
    let mut h = ResourceHints::new(name);
    h.write_disposition = wd;
    h.primary_key = pk.iter().map(|s| s.to_string()).collect();
    h
}

/// Scalars of each JSON type round-trip; null-only columns are not created.
pub async fn round_trip(t: &Target) -> Result<()> {
    let case = Case::new(t, "round_trip");
    let info = case
        .load(
            json!([
                {"id": 1, "name": "alpha", "price": 1.5, "active": true, "created": "2026-01-01T10:00:00Z", "day": "2026-01-01", "note": null},
                {"id": 2, "name": "beta", "price": 2.25, "active": false, "created": "2026-01-02T11:30:00+02:00", "day": "2026-01-02", "note": null}
            ]),
            hints("items", WriteDisposition::Append, &[]),
        )
        .await?;
    assert_eq!(info.packages.len(), 1);
    assert_eq!(info.rows_per_table()["items"], 2);
    assert_eq!(case.count("items").await?, 2);
    let rows = case
        .select(
            "items",
            &["id", "name", "active"],
            "SELECT {c0}, {c1}, {c2} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(
        rows,
        vec![vec!["1", "alpha", "true"], vec!["2", "beta", "false"]]
    );
    let sum = case
        .select("items", &["price"], "SELECT SUM({c0}) FROM {t}")
        .await?;
    assert_eq!(sum[0][0].parse::<f64>().unwrap(), 3.75);
    let ts = case
        .select(
            "items",
            &["created", "id"],
            "SELECT {c0} FROM {t} ORDER BY {c1}",
        )
        .await?;
    assert!(
        ts[1][0].contains("2026-01-02") && ts[1][0].contains("09:30"),
        "timestamp normalized to UTC: {ts:?}"
    );
    let schema = case.pipeline()?.schema(&case.name)?.expect("schema stored");
    let table = schema.table("items").expect("items table");
    assert_eq!(
        table.columns["created"].data_type,
        Some(sluice_core::DataType::Timestamp)
    );
    assert_eq!(
        table.columns["day"].data_type,
        Some(sluice_core::DataType::Text)
    );
    assert!(
        !table.columns.contains_key("note"),
        "null-only column is not created"
    );
    Ok(())
}

/// Nested objects flatten to `a__b`; lists become child tables linked by `_dlt_parent_id`.
pub async fn nested_tables(t: &Target) -> Result<()> {
    let case = Case::new(t, "nested");
    case.load(
        json!([
            {"id": 1, "customer": {"name": "Ada", "address": {"city": "London"}},
             "items": [{"sku": "a", "tags": ["x", "y"]}, {"sku": "b", "tags": []}]},
            {"id": 2, "customer": {"name": "Linus"}, "items": [{"sku": "c", "tags": ["z"]}]}
        ]),
        hints("orders", WriteDisposition::Append, &[]),
    )
    .await?;
    assert_eq!(case.count("orders").await?, 2);
    assert_eq!(case.count("orders__items").await?, 3);
    assert_eq!(case.count("orders__items__tags").await?, 3);
    let city = case
        .select(
            "orders",
            &["customer__address__city", "id"],
            "SELECT {c0} FROM {t} WHERE {c1} = 1",
        )
        .await?;
    assert_eq!(city, vec![vec!["London"]]);
    let tags = case
        .select(
            "orders__items__tags",
            &["value", "_dlt_list_idx"],
            "SELECT {c0} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(tags, vec![vec!["x"], vec!["y"], vec!["z"]]);
    // every child row points at an existing parent row
    let mut ds = case.pipeline()?.dataset().await?;
    let sql = format!(
        "SELECT COUNT(*) FROM {} AS c JOIN {} AS p ON c.{} = p.{}",
        ds.qualified_table("orders__items"),
        ds.qualified_table("orders"),
        ds.quote("_dlt_parent_id"),
        ds.quote("_dlt_id")
    );
    assert_eq!(
        sluice_pipeline::dataset::first_u64(&ds.query(&sql).await?)?,
        3
    );
    Ok(())
}

/// A new column in a later load is added; older rows hold NULL.
pub async fn add_column(t: &Target) -> Result<()> {
    let case = Case::new(t, "add_column");
    let h = hints("events", WriteDisposition::Append, &[]);
    case.load(json!([{"id": 1, "a": "x"}]), h.clone()).await?;
    case.load(json!([{"id": 2, "a": "y", "b": 5}]), h).await?;
    let rows = case
        .select(
            "events",
            &["id", "b"],
            "SELECT {c0}, {c1} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(rows, vec![vec!["1", "null"], vec!["2", "5"]]);
    Ok(())
}

/// A value whose type does not fit its column goes to a variant column `<col>__v_<type>`.
pub async fn variant_column(t: &Target) -> Result<()> {
    let case = Case::new(t, "variant");
    let h = hints("readings", WriteDisposition::Append, &[]);
    case.load(json!([{"id": 1, "v": 5}]), h.clone()).await?;
    case.load(json!([{"id": 2, "v": "five"}]), h).await?;
    let rows = case
        .select(
            "readings",
            &["id", "v", "v__v_text"],
            "SELECT {c0}, {c1}, {c2} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(
        rows,
        vec![vec!["1", "5", "null"], vec!["2", "null", "five"]]
    );
    Ok(())
}

/// Replace swaps the whole table and its nested tables.
pub async fn replace(t: &Target) -> Result<()> {
    let case = Case::new(t, "replace");
    let h = hints("snap", WriteDisposition::Replace, &[]);
    case.load(
        json!([{"id": 1, "xs": [1, 2]}, {"id": 2, "xs": [3]}, {"id": 3, "xs": []}]),
        h.clone(),
    )
    .await?;
    assert_eq!(case.count("snap").await?, 3);
    assert_eq!(case.count("snap__xs").await?, 3);
    case.load(json!([{"id": 10, "xs": [7]}]), h).await?;
    assert_eq!(
        case.select("snap", &["id"], "SELECT {c0} FROM {t}").await?,
        vec![vec!["10"]]
    );
    assert_eq!(
        case.select("snap__xs", &["value"], "SELECT {c0} FROM {t}")
            .await?,
        vec![vec!["7"]]
    );
    Ok(())
}

/// Merge (delete-insert) updates rows by primary key, replaces their nested rows, and
/// deduplicates keys within one load.
pub async fn merge(t: &Target) -> Result<()> {
    let case = Case::new(t, "merge");
    let h = hints("customers", WriteDisposition::Merge, &["id"]);
    case.load(
        json!([
            {"id": 1, "name": "a", "phones": ["1-1", "1-2"]},
            {"id": 2, "name": "b", "phones": ["2-1"]}
        ]),
        h.clone(),
    )
    .await?;
    case.load(
        json!([
            {"id": 1, "name": "A", "phones": ["1-3"]},
            {"id": 3, "name": "c", "phones": []},
            {"id": 3, "name": "c", "phones": []}
        ]),
        h,
    )
    .await?;
    let rows = case
        .select(
            "customers",
            &["id", "name"],
            "SELECT {c0}, {c1} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(rows, vec![vec!["1", "A"], vec!["2", "b"], vec!["3", "c"]]);
    let phones = case
        .select(
            "customers__phones",
            &["value"],
            "SELECT {c0} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(phones, vec![vec!["1-3"], vec!["2-1"]]);
    Ok(())
}

fn hard_delete_hints(strategy: sluice_core::MergeStrategy) -> ResourceHints {
    let mut h = hints("customers", WriteDisposition::Merge, &["id"]);
    h.merge_strategy = Some(strategy);
    let mut deleted = sluice_core::Column::new("deleted", sluice_core::DataType::Bool);
    deleted.hard_delete = true;
    h.columns = vec![deleted];
    h
}

/// Rows whose `hard_delete` column is true delete their key (and nested rows) and are not
/// inserted; false or absent, they merge as usual.
async fn hard_delete(
    t: &Target,
    case_name: &str,
    strategy: sluice_core::MergeStrategy,
) -> Result<()> {
    let case = Case::new(t, case_name);
    let h = hard_delete_hints(strategy);
    case.load(
        json!([
            {"id": 1, "name": "a", "phones": ["1-1"]},
            {"id": 2, "name": "b", "phones": ["2-1"]},
            {"id": 3, "name": "c"}
        ]),
        h.clone(),
    )
    .await?;
    case.load(
        json!([
            {"id": 1, "deleted": true},
            {"id": 2, "name": "B", "deleted": false, "phones": ["2-2"]},
            {"id": 4, "name": "d", "deleted": true, "phones": ["4-1"]}
        ]),
        h,
    )
    .await?;
    let rows = case
        .select(
            "customers",
            &["id", "name"],
            "SELECT {c0}, {c1} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(rows, vec![vec!["2", "B"], vec!["3", "c"]], "{case_name}");
    let phones = case
        .select(
            "customers__phones",
            &["value"],
            "SELECT {c0} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(phones, vec![vec!["2-2"]], "{case_name}");
    Ok(())
}

/// `hard_delete` with the delete-insert strategy.
pub async fn merge_hard_delete(t: &Target) -> Result<()> {
    hard_delete(t, "merge_hd", sluice_core::MergeStrategy::DeleteInsert).await
}

/// `hard_delete` with the upsert strategy.
pub async fn upsert_hard_delete(t: &Target) -> Result<()> {
    hard_delete(t, "upsert_hd", sluice_core::MergeStrategy::Upsert).await
}

/// A package that was committed at the destination but not marked loaded locally (a crash
/// between the two) is recognized by its load id and not written twice.
pub async fn idempotent_reload(t: &Target) -> Result<()> {
    let case = Case::new(t, "reload");
    let info = case
        .load(
            json!([{"id": 1, "xs": [1]}, {"id": 2, "xs": [2]}]),
            hints("r", WriteDisposition::Append, &[]),
        )
        .await?;
    let load_id = &info.packages[0].load_id;
    let p = case.pipeline()?;
    let loaded = p.paths().loaded_packages().join(load_id);
    let pending = p.paths().normalized_packages().join(load_id);
    std::fs::rename(&loaded, &pending)?;
    let again = case
        .load(
            json!([{"id": 3}]),
            hints("r", WriteDisposition::Append, &[]),
        )
        .await?;
    assert!(
        again.pending_only,
        "the pending package is loaded first, nothing new extracted"
    );
    assert!(again.packages[0].already_loaded);
    assert_eq!(case.count("r").await?, 2);
    assert_eq!(case.count("r__xs").await?, 2);
    Ok(())
}

/// Unicode, SQL-reserved words and identifiers holding `"` and `;` load and query back; three
/// keys that normalize to the same name keep three columns.
pub async fn unicode_and_reserved_identifiers(t: &Target) -> Result<()> {
    let case = Case::new(t, "idents");
    case.load(
        json!([{
            "select": 1, "from": "f", "Ünïcödé名": "ü", "weird\"name;drop": "w",
            "Order ID": "a", "orderId": "b", "order_id": "c"
        }]),
        hints("order", WriteDisposition::Append, &[]),
    )
    .await?;
    let schema = case.pipeline()?.schema(&case.name)?.expect("schema");
    let table = schema.table("order").expect("table named order");
    let names: Vec<&str> = table.columns.keys().map(|s| s.as_str()).collect();
    for n in ["select", "from", "weird_name_drop"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let order_cols: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with("order_id"))
        .collect();
    assert_eq!(order_cols.len(), 3, "three distinct columns: {names:?}");
    let cols: Vec<&str> = ["select", "from", "weird_name_drop"]
        .into_iter()
        .chain(order_cols.iter().copied())
        .collect();
    let sql = format!(
        "SELECT {} FROM {{t}}",
        (0..cols.len())
            .map(|i| format!("{{c{i}}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rows = case.select("order", &cols, &sql).await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][..3], &["1", "f", "w"]);
    let mut order_values = rows[0][3..].to_vec();
    order_values.sort();
    assert_eq!(order_values, vec!["a", "b", "c"]);
    Ok(())
}

/// Integers beyond i64 load (into a decimal or text variant) instead of failing.
pub async fn big_integers(t: &Target) -> Result<()> {
    let case = Case::new(t, "bigint");
    let items: Value = serde_json::from_str(
        r#"[{"id": 1, "n": 5}, {"id": 2, "n": 9223372036854775808}, {"id": 3, "n": 123456789012345678901234567890123456789012345}]"#,
    )?;
    case.load(items, hints("nums", WriteDisposition::Append, &[]))
        .await?;
    assert_eq!(case.count("nums").await?, 3);
    let rows = case
        .select(
            "nums",
            &["id", "n", "n__v_text"],
            "SELECT {c0}, {c1}, {c2} FROM {t} ORDER BY {c0}",
        )
        .await?;
    assert_eq!(rows[0][1], "5");
    assert_eq!(rows[2][2], "123456789012345678901234567890123456789012345");
    let dec = case
        .select(
            "nums",
            &["id", "n__v_decimal"],
            "SELECT {c1} FROM {t} WHERE {c0} = 2",
        )
        .await?;
    assert!(dec[0][0].starts_with("9223372036854775808"), "{dec:?}");
    Ok(())
}

/// Expands to one `#[tokio::test]` per conformance case, each calling `$target` (an expression
/// evaluating to a [`Target`]; it may `return` early from the test to skip when a service is
/// not configured).
#[macro_export]
macro_rules! conformance_tests {
    ($target:expr) => {
        $crate::conformance_tests!(@cases $target;
            round_trip, nested_tables, add_column, variant_column, replace, merge,
            merge_hard_delete, upsert_hard_delete, scd2, scd2_settings, scd2_row_version, scd2_after_append, idempotent_reload,
            unicode_and_reserved_identifiers, big_integers);
    };
    (@cases $target:expr; $($case:ident),*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let target: $crate::conformance::Target = $target;
                if target.skips(stringify!($case)) {
                    return;
                }
                $crate::conformance::$case(&target).await.unwrap();
            }
        )*
    };
}
