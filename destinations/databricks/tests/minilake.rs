//! The Databricks client and destination against MiniLake, a local stand-in for a Databricks
//! workspace (started by `scripts/services/minilake.sh`; `make test` sets
//! `SLUICE_TEST_DATABRICKS_STANDIN_URL` and `SLUICE_TEST_DATABRICKS_PYTHON`, the virtualenv with
//! sqlglot and pyarrow). Without them the tests print a notice and pass without running; under
//! CI they fail.
//!
//! What runs for real on MiniLake: the Statement Execution API (submit, state, JSON and Arrow
//! results, errors, cancel), the Files API of volumes, and the SQL sluice sends for the
//! `insert_values` format (DDL, inserts, deletes, MERGE, the system tables) executed by DuckDB.
//! What MiniLake cannot run: `COPY INTO` and `CREATE VOLUME` (its DuckDB does not know them);
//! for those the exact text is parsed with sqlglot's databricks dialect, and the staged Parquet
//! files are read back with pyarrow. MiniLake does not check tokens, nor does it run OAuth.

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::{
    ChainDisposition, ChainJob, Column, ConfigProvider, DataType, Destination, DestinationConfig,
    LoadCommit, MergeStrategy, Schema, SchemaChange, Table, TableJob,
};
use sluice_databricks::client::{DatabricksClient, ResultFormat};
use sluice_databricks::error::databricks_error;
use sluice_databricks::{DatabricksDestination, settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const CATALOG: &str = "sluice_tests";

struct StandIn {
    url: String,
    python: String,
    warehouse: String,
}

async fn stand_in() -> Option<StandIn> {
    let url = sluice_core::test_support::service_url(
        "SLUICE_TEST_DATABRICKS_STANDIN_URL",
        "the databricks tests on MiniLake",
    )?;
    let python = sluice_core::test_support::service_url(
        "SLUICE_TEST_DATABRICKS_PYTHON",
        "the databricks tests on MiniLake (sqlglot and pyarrow)",
    )?;
    let warehouse = sluice_databricks::stand_in::warehouse(&url).await.unwrap();
    sluice_databricks::stand_in::catalog(&url, CATALOG)
        .await
        .unwrap();
    Some(StandIn {
        url,
        python,
        warehouse,
    })
}

static N: AtomicU32 = AtomicU32::new(0);

fn dataset(name: &str) -> String {
    format!(
        "dbx_{name}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn config(s: &StandIn, dataset: &str, extra: &[(&str, &str)]) -> DestinationConfig {
    let mut env: Vec<(String, String)> = vec![
        ("SERVER_HOSTNAME".into(), s.url.clone()),
        (
            "HTTP_PATH".into(),
            format!("/sql/1.0/warehouses/{}", s.warehouse),
        ),
        ("CATALOG".into(), CATALOG.into()),
        ("ACCESS_TOKEN".into(), "dapi-test-token".into()),
    ];
    env = env
        .into_iter()
        .map(|(k, v)| (format!("DESTINATION__DATABRICKS__CREDENTIALS__{k}"), v))
        .collect();
    for (k, v) in extra {
        env.push((format!("DESTINATION__DATABRICKS__{k}"), v.to_string()));
    }
    DestinationConfig {
        destination_name: "databricks".into(),
        pipeline_name: "dbx_test".into(),
        dataset_name: dataset.into(),
        working_dir: std::env::temp_dir(),
        section: ConfigProvider::empty()
            .with_env(env)
            .section(&["destination", "databricks"]),
    }
}

fn client(s: &StandIn) -> DatabricksClient {
    let settings = settings(&config(s, "unused", &[])).unwrap();
    DatabricksClient::new(&settings.credentials, Duration::from_secs(60)).unwrap()
}

/// Run `script` with the stand-in's Python, `input` on stdin; its stdout as JSON.
fn python(s: &StandIn, script: &str, input: &Value) -> Value {
    use std::io::Write;
    let mut child = std::process::Command::new(&s.python)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the stand-in's python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// Parses each statement with sqlglot's databricks dialect and describes what it found.
const SQLGLOT_CHECK: &str = r#"
import json, sys, logging
logging.disable(logging.WARNING)
import sqlglot
from sqlglot import exp
out = []
for sql in json.load(sys.stdin):
    try:
        e = sqlglot.parse_one(sql, read="databricks")
    except Exception as ex:
        out.append({"sql": sql[:300], "error": str(ex)[:300]})
        continue
    d = {"sql": sql[:300], "kind": type(e).__name__}
    table = e.this if isinstance(e.this, exp.Table) else e.find(exp.Table)
    if table is not None:
        d["table"] = [p.name for p in table.parts]
    if isinstance(e, exp.Copy):
        d["files"] = [f.name for f in e.args.get("files") or []]
        params = {}
        for p in e.args.get("params") or []:
            if p.args.get("expression") is not None:
                params[p.this.name] = p.expression.name
            else:
                params[p.this.name] = {x.this.name: x.args["value"].name
                                       for x in p.expressions if isinstance(x, exp.Property)}
        d["params"] = params
    if isinstance(e, exp.Merge):
        d["on"] = e.args["on"].sql(dialect="databricks")
        d["whens"] = len(list(e.find_all(exp.When)))
    if isinstance(e, (exp.Create, exp.Alter)):
        d["columns"] = [[c.name, c.args["kind"].sql(dialect="databricks")]
                        for c in e.find_all(exp.ColumnDef) if c.args.get("kind") is not None]
    if isinstance(e, exp.Insert) and isinstance(e.expression, exp.Values):
        d["rows"] = len(e.expression.expressions)
    # The tree prints back as Databricks SQL that parses again.
    sqlglot.parse_one(e.sql(dialect="databricks"), read="databricks")
    out.append(d)
print(json.dumps(out))
"#;

/// Reads Parquet files with pyarrow: their columns and rows.
const PYARROW_READ: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = []
for path in json.load(sys.stdin):
    t = pq.read_table(path)
    out.append({"columns": t.column_names, "rows": t.num_rows,
                "types": [str(f.type) for f in t.schema],
                "values": json.loads(json.dumps(t.to_pylist(), default=str))})
print(json.dumps(out))
"#;

fn write_parquet(path: &Path, table: &Table, columns: Vec<ArrayRef>) -> PathBuf {
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = ParquetFileWriter::create(path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path.to_path_buf()
}

fn texts(v: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(v.to_vec()))
}

fn orders(merge: Option<MergeStrategy>) -> Table {
    let mut t = Table::new("orders")
        .with_column(Column::new("id", DataType::Bigint).primary_key())
        .with_column(Column::new("name", DataType::Text))
        .with_column(Column::new("amount", DataType::Decimal))
        .with_column(Column::new(C_DLT_LOAD_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null());
    t.merge_strategy = merge;
    t
}

fn items() -> Table {
    Table::nested("orders__items", "orders")
        .with_column(Column::new("sku", DataType::Text))
        .with_column(Column::new(C_DLT_ROOT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_PARENT_ID, DataType::Text).not_null())
        .with_column(Column::new(C_DLT_ID, DataType::Text).not_null())
}

/// A chain of two orders (one with a quote in its name) and one item, in `dir`.
fn chain(
    dir: &Path,
    load_id: &str,
    disposition: ChainDisposition,
    strategy: MergeStrategy,
) -> ChainJob {
    let root = orders(Some(strategy));
    let amount: ArrayRef = Arc::new(
        arrow::array::Decimal128Array::from(vec![1_500_000_000i128, 2_250_000_000])
            .with_precision_and_scale(38, 9)
            .unwrap(),
    );
    let root_file = write_parquet(
        &dir.join(format!("orders.{load_id}.parquet")),
        &root,
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            texts(&["a", "it's \\ b"]),
            amount,
            texts(&[load_id, load_id]),
            texts(&["r1", "r2"]),
        ],
    );
    let nested = items();
    let item_file = write_parquet(
        &dir.join(format!("orders__items.{load_id}.parquet")),
        &nested,
        vec![
            texts(&["x"]),
            texts(&["r1"]),
            texts(&["r1"]),
            texts(&["i1"]),
        ],
    );
    ChainJob {
        load_id: load_id.into(),
        disposition,
        merge_strategy: strategy,
        root: TableJob {
            table: root,
            files: vec![root_file],
            rows: 2,
        },
        nested: vec![TableJob {
            table: nested,
            files: vec![item_file],
            rows: 1,
        }],
        schema_name: "shop".into(),
        scratch_dir: dir.join("scratch"),
    }
}

fn creation() -> (Schema, Vec<SchemaChange>) {
    let mut schema = Schema::new("shop");
    for t in [orders(Some(MergeStrategy::Upsert)), items()] {
        schema.tables.insert(t.name.clone(), t);
    }
    schema.bump_version();
    let changes = schema.changes_since(&Schema::new("shop"));
    (schema, changes)
}

#[tokio::test]
async fn statements_return_json_and_arrow_and_errors_carry_codes() {
    let Some(s) = stand_in().await else { return };
    let c = client(&s);
    let r = c
        .execute("SELECT 1 AS n, 'it' || chr(39) || 's' AS s, CAST('1.25' AS DECIMAL(10,2)) AS d")
        .await
        .unwrap();
    assert!(!r.statement_id.is_empty());
    assert_eq!(
        r.polls, 0,
        "MiniLake finishes statements within the wait timeout"
    );
    assert_eq!(
        r.rows,
        vec![vec![
            Some("1".into()),
            Some("it's".into()),
            Some("1.25".into())
        ]]
    );
    assert_eq!(r.columns[2].type_text.as_deref(), Some("DECIMAL(10,2)"));

    let r = c
        .execute_as(
            "SELECT 7 AS n, CAST('2026-01-02 03:04:05' AS TIMESTAMP) AS t",
            ResultFormat::ArrowStream,
        )
        .await
        .unwrap();
    assert_eq!(
        r.batches.len(),
        1,
        "one Arrow batch behind the external link"
    );
    let typed = sluice_databricks::convert::to_batches(&r).unwrap();
    let cells: Vec<String> = typed[0]
        .columns()
        .iter()
        .map(|a| arrow::util::display::array_value_to_string(a, 0).unwrap())
        .collect();
    assert_eq!(cells, ["7", "2026-01-02T03:04:05Z"]);

    // MiniLake answers SQL errors with HTTP 400 (Databricks: 200 and state FAILED); both
    // carry the error code and message.
    let e = c.execute("SELECT no_such_column").await.unwrap_err();
    let de = databricks_error(&e).expect("a Databricks error");
    assert_eq!(de.error_code, "INVALID_REQUEST");
    assert_eq!(de.http_status, 400);
    assert!(de.message.contains("no_such_column"), "{de}");
    assert!(!e.is_retryable());
    let e = c.cancel("no-such-statement").await.unwrap_err();
    assert_eq!(databricks_error(&e).unwrap().error_code, "NOT_FOUND");
}

#[tokio::test]
async fn oauth_without_a_token_endpoint_names_the_settings_not_the_secret() {
    let Some(s) = stand_in().await else { return };
    let config = config(&s, "unused", &[]);
    let mut section_env = vec![];
    for (k, v) in [
        ("SERVER_HOSTNAME", s.url.as_str()),
        ("WAREHOUSE_ID", s.warehouse.as_str()),
        ("CATALOG", CATALOG),
        ("CLIENT_ID", "sp-app"),
        ("CLIENT_SECRET", "very-secret-oauth"),
    ] {
        section_env.push((
            format!("DESTINATION__DATABRICKS__CREDENTIALS__{k}"),
            v.to_string(),
        ));
    }
    let config = DestinationConfig {
        section: ConfigProvider::empty()
            .with_env(section_env)
            .section(&["destination", "databricks"]),
        ..config
    };
    let settings = settings(&config).unwrap();
    let c = DatabricksClient::new(&settings.credentials, Duration::from_secs(60)).unwrap();
    // MiniLake has no /oidc/v1/token: the error says where the token comes from.
    let e = c.execute("SELECT 1").await.unwrap_err();
    let text = format!("{e} {:?}", std::error::Error::source(&e));
    assert!(
        text.contains("/oidc/v1/token") && text.contains("client_secret"),
        "{text}"
    );
    assert!(!text.contains("very-secret-oauth"), "{text}");
}

#[tokio::test]
async fn volume_files_upload_list_download_and_delete() {
    let Some(s) = stand_in().await else { return };
    let c = client(&s);
    let schema = dataset("vol");
    sluice_databricks::stand_in::schema(&s.url, CATALOG, &schema)
        .await
        .unwrap();
    sluice_databricks::stand_in::volume(&s.url, CATALOG, &schema, "stage")
        .await
        .unwrap();
    let root = sluice_databricks::files::volume_path(CATALOG, &schema, "stage");
    let path = format!("{root}/load 1/t/a ü.parquet");
    c.put_file(&path, b"PAR1 bytes".to_vec()).await.unwrap();
    c.put_file(&path, b"PAR1 again".to_vec()).await.unwrap();
    assert_eq!(c.get_file(&path).await.unwrap(), b"PAR1 again");
    let listed = c.list_directory(&format!("{root}/load 1")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].is_directory && listed[0].path.ends_with("/load 1/t"));
    c.delete_tree(&format!("{root}/load 1")).await.unwrap();
    assert!(c.list_directory(&root).await.unwrap().is_empty());
    // Deleting what is gone is no error; downloading it is, with Databricks' code.
    c.delete_file(&path).await.unwrap();
    let e = c.get_file(&path).await.unwrap_err();
    assert_eq!(
        databricks_error(&e).unwrap().error_code,
        "RESOURCE_DOES_NOT_EXIST"
    );
}

#[tokio::test]
async fn staged_parquet_goes_to_the_volume_and_copy_into_is_databricks_sql() {
    let Some(s) = stand_in().await else { return };
    let ds = dataset("staged");
    sluice_databricks::stand_in::schema(&s.url, CATALOG, &ds)
        .await
        .unwrap();
    sluice_databricks::stand_in::volume(&s.url, CATALOG, &ds, "stage")
        .await
        .unwrap();
    let volume = format!("{CATALOG}.{ds}.stage");
    let settings = settings(&config(&s, &ds, &[("STAGING_VOLUME_NAME", &volume)])).unwrap();
    let mut d = DatabricksDestination::connect(settings).unwrap();
    d.record_statements();
    let dir = tempfile::tempdir().unwrap();
    let (_, changes) = creation();
    let load_id = "1767323045.123";
    let job = chain(
        dir.path(),
        load_id,
        ChainDisposition::Append,
        MergeStrategy::DeleteInsert,
    );
    d.initialize().await.unwrap();
    d.begin_load(load_id).await.unwrap();
    d.apply_schema_changes(&changes).await.unwrap();
    // MiniLake's DuckDB cannot parse COPY INTO: the load stops there, with its error.
    let e = d.write_chain(&job).await.unwrap_err();
    let de = databricks_error(&e).expect("MiniLake's error");
    assert!(de.message.contains("COPY"), "{de}");

    // The file went to the volume under its deterministic name; pyarrow reads it back.
    let folder = format!(
        "{}/{}",
        d.load_folder(load_id),
        sluice_core::staging::table_folder("orders")
    );
    let staged = d.client().list_directory(&folder).await.unwrap();
    assert_eq!(staged.len(), 1, "{staged:?}");
    let name = sluice_core::staging::file_name(0, &job.root.files[0]);
    assert_eq!(staged[0].path, format!("{folder}/{name}"));
    let local = dir.path().join("downloaded.parquet");
    std::fs::write(&local, d.client().get_file(&staged[0].path).await.unwrap()).unwrap();
    let read = python(&s, PYARROW_READ, &json!([local]));
    assert_eq!(
        read[0]["columns"],
        json!(["id", "name", "amount", "_dlt_load_id", "_dlt_id"])
    );
    assert_eq!(read[0]["rows"], 2);
    assert_eq!(read[0]["types"][2], "decimal128(38, 9)");
    assert_eq!(read[0]["values"][1]["name"], "it's \\ b");
    assert_eq!(read[0]["values"][0]["amount"], "1.500000000");

    let copy = d
        .recorded_statements()
        .iter()
        .find(|s| s.starts_with("COPY INTO"))
        .cloned()
        .expect("a COPY INTO was sent");
    let checked = python(&s, SQLGLOT_CHECK, &json!([copy]));
    let c = &checked[0];
    assert_eq!(c["kind"], "Copy", "{c}");
    assert_eq!(c["table"], json!([ds, "orders"]));
    assert_eq!(c["files"], json!([folder]));
    assert_eq!(c["params"]["FILEFORMAT"], "PARQUET");
    assert_eq!(c["params"]["COPY_OPTIONS"], json!({"mergeSchema": "true"}));

    // The abort deletes what was staged.
    d.abort_load().await.unwrap();
    assert!(
        d.client()
            .list_directory(&d.load_folder(load_id))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn every_statement_of_a_load_is_databricks_sql() {
    let Some(s) = stand_in().await else { return };
    let ds = dataset("sqltext");
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&config(&s, &ds, &[("LOADER_FILE_FORMAT", "insert_values")])).unwrap();
    let mut d = DatabricksDestination::connect(settings).unwrap();
    d.record_statements();
    let (schema, changes) = creation();
    d.initialize().await.unwrap();
    let mut statements = Vec::new();
    for (n, (disposition, strategy)) in [
        (ChainDisposition::Append, MergeStrategy::DeleteInsert),
        (ChainDisposition::Replace, MergeStrategy::DeleteInsert),
        (ChainDisposition::Merge, MergeStrategy::DeleteInsert),
        (ChainDisposition::Merge, MergeStrategy::Upsert),
    ]
    .into_iter()
    .enumerate()
    {
        let load_id = format!("17673230{n}.5");
        d.begin_load(&load_id).await.unwrap();
        d.apply_schema_changes(&changes).await.unwrap();
        d.write_chain(&chain(dir.path(), &load_id, disposition, strategy))
            .await
            .unwrap();
        d.commit_load(&LoadCommit {
            load_id: load_id.clone(),
            schema: schema.clone(),
            state: None,
        })
        .await
        .unwrap();
        assert!(d.is_loaded(&load_id).await.unwrap());
    }
    d.apply_schema_changes(&[SchemaChange::AddColumns {
        table: "orders".into(),
        columns: vec![Column::new("note", DataType::Text)],
    }])
    .await
    .unwrap();
    let rows = d
        .query(&format!(
            "SELECT `id`, `name`, `amount` FROM `{ds}`.`orders` ORDER BY `id`"
        ))
        .await
        .unwrap();
    let cells = |r: usize, c: usize| {
        arrow::util::display::array_value_to_string(rows[0].column(c), r).unwrap()
    };
    assert_eq!(
        [cells(1, 0), cells(1, 1), cells(1, 2)],
        ["2", "it's \\ b", "2.250000000"]
    );
    statements.extend(d.recorded_statements().iter().cloned());
    let volume = ("c".to_string(), ds.clone(), "v".to_string());
    statements.push(sluice_databricks::load::create_volume_sql(
        &|s| format!("`{s}`"),
        &volume,
    ));
    statements.push(sluice_databricks::load::copy_into_sql(
        &format!("`{ds}`.`orders`"),
        "/Volumes/c/x/v/1/orders_abc",
        true,
    ));
    let checked = python(&s, SQLGLOT_CHECK, &json!(statements));
    let checked = checked.as_array().unwrap();
    assert_eq!(checked.len(), statements.len());
    for c in checked {
        assert!(c.get("error").is_none(), "not Databricks SQL: {c}");
        if c["kind"] == "Command" {
            // sqlglot 30.31 has no CREATE VOLUME: the only statement it cannot parse.
            assert!(
                c["sql"]
                    .as_str()
                    .unwrap()
                    .starts_with("CREATE VOLUME IF NOT EXISTS `c`."),
                "{c}"
            );
        }
    }
    let kinds = |k: &str| {
        checked
            .iter()
            .filter(|c| c["kind"] == k)
            .collect::<Vec<_>>()
    };
    let create = kinds("Create");
    let orders = create
        .iter()
        .find(|c| c["table"] == json!([ds, "orders"]))
        .expect("CREATE TABLE orders");
    assert_eq!(
        orders["columns"],
        json!([
            ["id", "BIGINT"],
            ["name", "STRING"],
            ["amount", "DECIMAL(38, 9)"],
            ["_dlt_load_id", "STRING"],
            ["_dlt_id", "STRING"]
        ])
    );
    assert!(
        create
            .iter()
            .any(|c| c["table"] == json!([ds, "_dlt_loads"]))
    );
    let alter = kinds("Alter");
    assert_eq!(alter.len(), 1, "{alter:?}");
    assert_eq!(alter[0]["columns"], json!([["note", "STRING"]]));
    let merges = kinds("Merge");
    assert!(
        merges
            .iter()
            .any(|m| m["table"] == json!([ds, "orders"]) && m["whens"] == 2),
        "{merges:?}"
    );
    let inserts = kinds("Insert");
    assert!(
        inserts
            .iter()
            .any(|i| i["table"] == json!([ds, "orders"]) && i["rows"] == 2)
    );
    assert!(
        inserts
            .iter()
            .any(|i| i["table"] == json!([ds, "_dlt_loads"]))
    );
    assert!(!kinds("Delete").is_empty());
    let copy = kinds("Copy");
    assert_eq!(copy.len(), 1);
    assert_eq!(
        copy[0]["params"]["COPY_OPTIONS"],
        json!({"mergeSchema": "true", "force": "true"})
    );
}
