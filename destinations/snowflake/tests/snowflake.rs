//! The Snowflake client and destination against a Snowflake protocol peer (fakesnow in server
//! mode, started by `scripts/services/fakesnow.sh`; `make test` sets `SLUICE_TEST_SNOWFLAKE_URL`).
//! Without that variable the tests print a notice and pass without running; under CI they fail.
//! What is here is Snowflake's own (the client, its errors, key-pair login, a COPY failing in the
//! commit); the load contract every destination shares is checked by
//! integration-tests/tests/snowflake_contract.rs.

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;
use sluice_core::DestinationFactoryExt;
use sluice_core::arrow_types::arrow_schema;
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::{
    ChainJob, Column, ConfigProvider, DataType, Destination, DestinationConfig, DestinationFactory,
    LoadCommit, MergeStrategy, Schema, SchemaChange, Table, TableJob, WriteDisposition,
};
use sluice_snowflake::client::{SnowflakeClient, snowflake_error};
use sluice_snowflake::{SnowflakeCredentials, SnowflakeFactory};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

const DATABASE: &str = "SLUICE_TEST";

fn peer() -> Option<String> {
    sluice_core::test_support::service_url("SLUICE_TEST_SNOWFLAKE_URL", "the snowflake tests")
}

fn creds(url: &str) -> SnowflakeCredentials {
    SnowflakeCredentials::parse_url(&format!(
        "snowflake://loader:not-checked@local/{DATABASE}?warehouse=WH&role=LOADER&base_url={url}"
    ))
    .unwrap()
}

static N: AtomicU32 = AtomicU32::new(0);

fn dataset(name: &str) -> String {
    format!(
        "sf_{name}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn config(url: &str, dataset: &str) -> DestinationConfig {
    let provider = ConfigProvider::empty().with_env([
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE", DATABASE),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME", "loader"),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD", "s3cret-pw"),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__HOST", "local"),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL", url),
    ]);
    DestinationConfig {
        destination_name: "snowflake".into(),
        pipeline_name: "sf_test".into(),
        dataset_name: dataset.into(),
        working_dir: std::env::temp_dir(),
        section: provider.section(&["destination", "snowflake"]),
    }
}

async fn connect(url: &str, dataset: &str) -> Box<dyn Destination> {
    let cfg = config(url, dataset);
    SnowflakeFactory.validate(&cfg).unwrap();
    let mut d = SnowflakeFactory.open(&cfg).await.unwrap();
    assert!(!d.location().contains("s3cret-pw"));
    d.initialize().await.unwrap();
    d
}

fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(
                b.columns()
                    .iter()
                    .map(|c| {
                        if c.is_null(r) {
                            "null".into()
                        } else {
                            array_value_to_string(c, r).unwrap()
                        }
                    })
                    .collect(),
            );
        }
    }
    out
}

fn write_parquet(
    dir: &Path,
    name: &str,
    table: &Table,
    columns: Vec<ArrayRef>,
) -> std::path::PathBuf {
    let schema = arrow_schema(table);
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = dir.join(name);
    let mut w = ParquetFileWriter::create(&path, schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
    path
}

fn job(
    load_id: &str,
    wd: WriteDisposition,
    ms: MergeStrategy,
    table: &Table,
    files: Vec<std::path::PathBuf>,
    rows: u64,
) -> ChainJob {
    let scratch_dir = files
        .first()
        .and_then(|f| f.parent())
        .map_or_else(std::env::temp_dir, |d| d.join(".scratch"));
    ChainJob {
        load_id: load_id.into(),
        disposition: sluice_core::ChainDisposition::of(wd).expect("a written disposition"),
        merge_strategy: ms,
        root: TableJob {
            table: table.clone(),
            files,
            rows,
        },
        nested: vec![],
        schema_name: "test".into(),
        scratch_dir,
    }
}

fn schema_with(table: &Table) -> Schema {
    let mut s = Schema::new("sf_test");
    s.tables.insert(table.name.clone(), table.clone());
    s.bump_version();
    s
}

#[tokio::test]
async fn client_logs_in_and_reads_json_and_arrow_results() {
    let Some(url) = peer() else { return };
    let mut c = SnowflakeClient::connect(creds(&url), None).await.unwrap();
    // SELECT answers come as Arrow.
    let r = c
        .query("SELECT 1 AS A, 'x''y' AS B, 2.5::FLOAT AS C")
        .await
        .unwrap();
    assert_eq!(r.data["queryResultFormat"], "arrow");
    assert_eq!(cells(&r.batches), vec![vec!["1", "x'y", "2.5"]]);
    // DML answers come as JSON rowsets.
    let ds = dataset("client");
    c.query(&format!(
        "CREATE SCHEMA IF NOT EXISTS \"{}\"",
        ds.to_uppercase()
    ))
    .await
    .unwrap();
    c.query(&format!(
        "CREATE TABLE \"{}\".\"T\" (\"A\" NUMBER(19,0))",
        ds.to_uppercase()
    ))
    .await
    .unwrap();
    let r = c
        .query(&format!(
            "INSERT INTO \"{}\".\"T\" (\"A\") SELECT 1 UNION ALL SELECT 2",
            ds.to_uppercase()
        ))
        .await
        .unwrap();
    assert_eq!(r.data["queryResultFormat"], "json");
    assert_eq!(cells(&r.batches), vec![vec!["2"]]);
    // An empty result keeps its columns.
    let r = c
        .query(&format!(
            "SELECT \"A\" FROM \"{}\".\"T\" WHERE 1 = 0",
            ds.to_uppercase()
        ))
        .await
        .unwrap();
    assert_eq!(r.num_rows(), 0);
    assert_eq!(r.schema().field(0).name(), "A");
    // A lost session is replaced by a new login.
    c.invalidate_session_for_tests();
    let r = c.query("SELECT 42").await.unwrap();
    assert_eq!(cells(&r.batches), vec![vec!["42"]]);
    c.close().await.unwrap();
}

#[tokio::test]
async fn sql_errors_carry_snowflakes_code_and_message() {
    let Some(url) = peer() else { return };
    let mut c = SnowflakeClient::connect(creds(&url), None).await.unwrap();
    let err = c.query("SELEC 1").await.unwrap_err();
    let sf = snowflake_error(&err).expect("a snowflake error");
    assert_eq!(sf.code, "001003");
    assert!(!sf.message.trim().is_empty(), "{sf}");
    assert!(err.to_string().contains(sf.message.trim()), "{err}");
    assert!(err.to_string().contains("001003"), "{err}");
    let err = c
        .query("SELECT * FROM NO_SUCH_SCHEMA.NO_SUCH_TABLE")
        .await
        .unwrap_err();
    let sf = snowflake_error(&err).expect("a snowflake error");
    assert_eq!(sf.code, "002003");
    assert_eq!(sf.sql_state.as_deref(), Some("42S02"));
    // The destination's query error names code and message too, never the password.
    let ds = dataset("errors");
    let mut d = connect(&url, &ds).await;
    let err = d
        .query("SELECT * FROM NOPE.NOPE")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("002003") && err.contains("does not exist"),
        "{err}"
    );
    assert!(!err.contains("s3cret-pw"));
}

/// An RSA private key made by the `openssl` command-line tool in `dir` at test time (never
/// committed): encrypted PKCS#8 PEM under `passphrase`. `None`, with a notice, without openssl.
fn openssl_encrypted_key(dir: &Path, passphrase: &str) -> Option<String> {
    let openssl = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
    };
    let Ok(out) = openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ]) else {
        eprintln!("SKIPPED: the openssl command-line tool is needed to make a test key");
        return None;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pass = format!("pass:{passphrase}");
    let out = openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        "key.pem",
        "-passout",
        &pass,
        "-out",
        "rsa_key.p8",
    ])
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(std::fs::read_to_string(dir.join("rsa_key.p8")).unwrap())
}

// fakesnow's login handler (`login_request` in fakesnow/server.py, fakesnow 0.12.1) reads the
// database, schema and SESSION_PARAMETERS and checks no credentials at all: this test proves
// that a key-pair login request (AUTHENTICATOR = SNOWFLAKE_JWT, TOKEN, no PASSWORD) is accepted
// and that the session it opens runs statements, end to end through the config. That the JWT is
// right (RS256 signature, claims, fingerprint) is proven by the unit tests in src/keypair.rs and
// src/client.rs, which verify it against the public key openssl derives.
#[tokio::test]
async fn key_pair_login_runs_statements() {
    let Some(url) = peer() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let passphrase = "kp-test-passphrase";
    let Some(key) = openssl_encrypted_key(tmp.path(), passphrase) else {
        return;
    };
    let provider = ConfigProvider::empty().with_env([
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE", DATABASE),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME", "loader"),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__HOST", "local"),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL",
            url.as_str(),
        ),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__PRIVATE_KEY",
            key.as_str(),
        ),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__PRIVATE_KEY_PASSPHRASE",
            passphrase,
        ),
    ]);
    let ds = dataset("keypair");
    let cfg = DestinationConfig {
        destination_name: "snowflake".into(),
        pipeline_name: "sf_test".into(),
        dataset_name: ds.clone(),
        working_dir: std::env::temp_dir(),
        section: provider.section(&["destination", "snowflake"]),
    };
    SnowflakeFactory.validate(&cfg).unwrap();

    // The client on its own.
    let creds = SnowflakeCredentials::from_section(&cfg.section).unwrap();
    assert!(creds.uses_key_pair() && creds.password.is_none());
    let shown = format!("{creds:?}");
    assert!(!shown.contains(passphrase) && !shown.contains(key.lines().nth(2).unwrap()));
    let mut c = SnowflakeClient::connect(creds, None).await.unwrap();
    let r = c.query("SELECT 41 + 1 AS A").await.unwrap();
    assert_eq!(cells(&r.batches), vec![vec!["42"]]);
    // A lost session is replaced by a new key-pair login.
    c.invalidate_session_for_tests();
    let r = c.query("SELECT 'again' AS B").await.unwrap();
    assert_eq!(cells(&r.batches), vec![vec!["again"]]);
    c.close().await.unwrap();

    // The destination, as a pipeline connects it.
    let mut d = SnowflakeFactory.open(&cfg).await.unwrap();
    assert!(!d.location().contains(passphrase));
    d.initialize().await.unwrap();
    let batches = d.query("SELECT 7 AS N").await.unwrap();
    assert_eq!(cells(&batches), vec![vec!["7"]]);

    // A wrong passphrase is a configuration error that names the setting, not the secret.
    let wrong = ConfigProvider::empty().with_env([
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE", DATABASE),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME", "loader"),
        ("DESTINATION__SNOWFLAKE__CREDENTIALS__HOST", "local"),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL",
            url.as_str(),
        ),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__PRIVATE_KEY",
            key.as_str(),
        ),
        (
            "DESTINATION__SNOWFLAKE__CREDENTIALS__PRIVATE_KEY_PASSPHRASE",
            "not-the-passphrase",
        ),
    ]);
    let err = SnowflakeFactory
        .validate(&DestinationConfig {
            section: wrong.section(&["destination", "snowflake"]),
            ..cfg
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("destination.snowflake.credentials.private_key")
            && !err.contains("not-the-passphrase"),
        "{err}"
    );
}

/// Atomicity where it matters: the second table's `COPY INTO` fails inside the commit, so the
/// first table's rows, already copied in the same transaction, must not be visible, and the load
/// is not recorded. (A test that aborts before the commit cannot tell: the COPY statements only
/// run at commit time.) DDL runs before `BEGIN` and Snowflake commits DDL on its own: the tables
/// stay, empty, and the next attempt reuses them.
#[tokio::test]
async fn a_copy_failing_in_the_commit_rolls_back_the_tables_before_it() {
    let Some(url) = peer() else { return };
    let ds = dataset("atomic");
    let mut d = connect(&url, &ds).await;
    let dir = tempfile::tempdir().unwrap();
    let a = Table::new("a").with_column(Column::new("id", DataType::Bigint));
    let b = Table::new("b").with_column(Column::new("id", DataType::Bigint));
    let fa = write_parquet(
        dir.path(),
        "a.0.parquet",
        &a,
        vec![Arc::new(Int64Array::from(vec![1, 2]))],
    );
    // b's file holds text where the table has a number: its COPY fails.
    let b_as_text = Table::new("b").with_column(Column::new("id", DataType::Text));
    let fb = write_parquet(
        dir.path(),
        "b.0.parquet",
        &b_as_text,
        vec![Arc::new(StringArray::from(vec!["not a number"]))],
    );
    let mut schema = schema_with(&a);
    schema.tables.insert(b.name.clone(), b.clone());
    let ja = job(
        "5000.1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        &a,
        vec![fa],
        2,
    );
    let jb = job(
        "5000.1",
        WriteDisposition::Append,
        MergeStrategy::DeleteInsert,
        &b,
        vec![fb],
        1,
    );
    d.begin_load("5000.1").await.unwrap();
    d.apply_schema_changes(&[
        SchemaChange::CreateTable { table: a.clone() },
        SchemaChange::CreateTable { table: b.clone() },
    ])
    .await
    .unwrap();
    d.write_chain(&ja).await.unwrap();
    d.write_chain(&jb).await.unwrap();
    let err = d
        .commit_load(&LoadCommit {
            load_id: "5000.1".into(),
            schema: schema.clone(),
            state: None,
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("5000.1"), "{err}");
    let count = |t: &str| format!("SELECT COUNT(*) FROM \"{}\".\"{t}\"", ds.to_uppercase());
    assert_eq!(
        cells(&d.query(&count("A")).await.unwrap()),
        vec![vec!["0"]],
        "the first table's COPY was rolled back with the failed second one"
    );
    assert_eq!(cells(&d.query(&count("B")).await.unwrap()), vec![vec!["0"]]);
    assert!(!d.is_loaded("5000.1").await.unwrap());
}
