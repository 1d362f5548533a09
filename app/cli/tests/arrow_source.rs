//! Library sources that hand in Arrow record batches (as dlt accepts Arrow tables), loaded
//! into DuckDB and Postgres: names normalized, Arrow types mapped (a `UInt64` beyond i64 kept
//! exactly, decimals with their scale, timestamps, booleans), a column added by a later batch,
//! JSON pages and batches in one resource, a merge on a primary key without duplicates, and a
//! nested Arrow column refused with its name, nothing loaded.

mod support;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Array, Float64Array, Int64Array, ListArray,
    StringArray, TimestampMicrosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use sluice_core::{ConfigProvider, ResourceHints, WriteDisposition};
use sluice_pipeline::{ArrowSource, Pipeline, PipelineOptions};
use std::path::Path;
use std::sync::Arc;
use support::{destinations, unique_dataset};

fn pipeline(dir: &Path, destination: &str, env: &[(String, String)], dataset: &str) -> Pipeline {
    let mut options = PipelineOptions::new("arrow_in", destination);
    options.pipelines_dir = Some(dir.join("pipelines"));
    options.working_dir = Some(dir.to_path_buf());
    options.dataset_name = Some(dataset.to_string());
    options.config = Some(ConfigProvider::empty().with_env(env.iter().cloned()));
    Pipeline::new(&sluice::registry(), options).unwrap()
}

/// Orders `ids` as one batch: `Order ID`, `Customer Name`, an exact `u64`, a decimal with
/// scale 2, a UTC timestamp and a flag.
fn orders(ids: &[i64]) -> RecordBatch {
    let n = ids.len();
    let schema = Schema::new(vec![
        Field::new("Order ID", DataType::Int64, false),
        Field::new("Customer Name", DataType::Utf8, true),
        Field::new("big", DataType::UInt64, true),
        Field::new("amount", DataType::Decimal128(10, 2), true),
        Field::new(
            "placed_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("paid", DataType::Boolean, true),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.to_vec())),
        Arc::new(StringArray::from_iter(
            ids.iter().map(|i| Some(format!("c{i}"))),
        )),
        Arc::new(UInt64Array::from(vec![u64::MAX; n])),
        Arc::new(
            Decimal128Array::from(
                ids.iter()
                    .map(|i| i128::from(*i) * 100 + 25)
                    .collect::<Vec<_>>(),
            )
            .with_precision_and_scale(10, 2)
            .unwrap(),
        ),
        Arc::new(
            TimestampMicrosecondArray::from(vec![1_700_000_000_000_000; n]).with_timezone("UTC"),
        ),
        Arc::new(BooleanArray::from(
            ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(Arc::new(schema), columns).unwrap()
}

/// Orders `ids` with one more column, `weight`.
fn orders_with_weight(ids: &[i64]) -> RecordBatch {
    let base = orders(ids);
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("weight", DataType::Float64, true));
    let mut columns = base.columns().to_vec();
    columns.push(Arc::new(Float64Array::from(vec![1.5; ids.len()])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

async fn text(p: &Pipeline, sql: &str) -> Vec<Vec<String>> {
    let mut dataset = p.dataset().await.unwrap();
    let batches = dataset.query(sql).await.unwrap();
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(
                (0..b.num_columns())
                    .map(|c| arrow::util::display::array_value_to_string(b.column(c), r).unwrap())
                    .collect(),
            );
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrow_batches_load_with_their_types_and_merge_by_key() {
    for (destination, env) in destinations("arrow batches from a library source") {
        let dir = tempfile::tempdir().unwrap();
        let dataset = unique_dataset("arrow_in");
        let mut p = pipeline(dir.path(), destination, &env, &dataset);
        let mut hints = ResourceHints::new("orders");
        hints.write_disposition = WriteDisposition::Merge;
        hints.primary_key = vec!["order_id".to_string()];
        let source = ArrowSource::new("shop").with_batches(
            hints.clone(),
            vec![orders(&[1, 2, 3]), orders_with_weight(&[4, 5])],
        );
        p.run(Box::new(source)).await.unwrap();
        let q = |sql: &str| sql.replace("{d}", &dataset);
        let rows = text(
            &p,
            &q("SELECT order_id, customer_name, CAST(big AS VARCHAR), CAST(amount AS VARCHAR), paid, weight FROM {d}.orders ORDER BY order_id"),
        )
        .await;
        assert_eq!(rows.len(), 5, "{destination}: {rows:?}");
        assert_eq!(rows[0][0], "1", "{destination}");
        assert_eq!(rows[0][1], "c1", "{destination}");
        assert_eq!(
            rows[0][2], "18446744073709551615",
            "{destination}: u64 kept exactly"
        );
        assert!(
            rows[0][3].starts_with("1.25"),
            "{destination}: {}",
            rows[0][3]
        );
        assert_eq!(rows[1][4], "true", "{destination}");
        assert_eq!(rows[0][5], "", "{destination}: NULL before the column came");
        assert_eq!(rows[4][5], "1.5", "{destination}");
        let ids = text(
            &p,
            &q("SELECT COUNT(DISTINCT _dlt_id), COUNT(_dlt_load_id) FROM {d}.orders"),
        )
        .await;
        assert_eq!(
            ids,
            vec![vec!["5".to_string(), "5".to_string()]],
            "{destination}"
        );

        // The same orders again, with changed names: merged on the key, not duplicated.
        let mut again = orders(&[2, 3]);
        let names: ArrayRef = Arc::new(StringArray::from(vec!["x2", "x3"]));
        let mut cols = again.columns().to_vec();
        cols[1] = names;
        again = RecordBatch::try_new(again.schema(), cols).unwrap();
        let source = ArrowSource::new("shop").with_batches(hints.clone(), vec![again]);
        p.run(Box::new(source)).await.unwrap();
        let rows = text(
            &p,
            &q("SELECT order_id, customer_name FROM {d}.orders ORDER BY order_id"),
        )
        .await;
        assert_eq!(rows.len(), 5, "{destination}: {rows:?}");
        assert_eq!(rows[1][1], "x2", "{destination}");

        // A nested Arrow column is refused with its name; nothing of the batch loads.
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1)])]);
        let bad = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("Order ID", DataType::Int64, false),
                Field::new("tags", list.data_type().clone(), true),
            ])),
            vec![Arc::new(Int64Array::from(vec![9])), Arc::new(list)],
        )
        .unwrap();
        let source = ArrowSource::new("shop").with_batches(hints.clone(), vec![bad]);
        let err = p.run(Box::new(source)).await.unwrap_err().to_string();
        assert!(
            err.contains("resource orders") && err.contains("column `tags`"),
            "{destination}: {err}"
        );
        let n = text(&p, &q("SELECT COUNT(*) FROM {d}.orders")).await;
        assert_eq!(n, vec![vec!["5".to_string()]], "{destination}");
    }
}
