//! `sluice load-file --destination filesystem` into an `s3://` bucket (moto's S3 server) writes
//! Parquet that DuckDB and pyarrow both read with the same tables, rows and types as the DuckDB
//! destination holds for the same input. Needs `SLUICE_TEST_S3_ENDPOINT` and
//! `SLUICE_TEST_S3_PYTHON` (a Python with boto3 and pyarrow), which `make test` sets.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn sluice(dir: &Path, args: &[&str], env: &[(&str, String)]) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Downloads every Parquet data file under `s3://bucket/prefix/` into `into/<table>/` and prints,
/// per table, the rows and the column types pyarrow reads.
const READ_WITH_PYARROW: &str = r#"
import json, os, sys, boto3
import pyarrow as pa, pyarrow.parquet as pq
endpoint, bucket, prefix, into = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
files = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for obj in page.get("Contents", []):
        rel = obj["Key"][len(prefix) + 1:]
        table = rel.split("/")[0]
        if table.startswith("_dlt") or not rel.endswith(".parquet"):
            continue
        os.makedirs(os.path.join(into, table), exist_ok=True)
        local = os.path.join(into, table, os.path.basename(rel))
        s3.download_file(bucket, obj["Key"], local)
        files.setdefault(table, []).append(local)
out = {}
for table, paths in files.items():
    t = pa.concat_tables([pq.read_table(p) for p in paths], promote_options="default")
    out[table] = {"rows": t.num_rows, "types": {f.name: str(f.type) for f in t.schema}}
print(json.dumps(out))
"#;

/// The pyarrow type of a column the DuckDB destination holds with `duckdb_type`.
fn arrow_type_of(duckdb_type: &str) -> String {
    match duckdb_type {
        "VARCHAR" | "JSON" => "string".into(),
        "BIGINT" => "int64".into(),
        "DOUBLE" => "double".into(),
        "BOOLEAN" => "bool".into(),
        "TIMESTAMP WITH TIME ZONE" => "timestamp[us, tz=UTC]".into(),
        "DATE" => "date32[day]".into(),
        other if other.starts_with("DECIMAL(") => {
            format!(
                "decimal128({})",
                &other[8..other.len() - 1].replace(',', ", ")
            )
        }
        other => panic!("no pyarrow mapping for {other}"),
    }
}

#[test]
fn s3_parquet_reads_back_like_the_duckdb_destination() {
    let what = "the S3 lake test";
    let (Some(endpoint), Some(python)) = (
        sluice_core::test_support::service_url("SLUICE_TEST_S3_ENDPOINT", what),
        sluice_core::test_support::service_url("SLUICE_TEST_S3_PYTHON", what),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bucket = format!("sluice-lake-{}", std::process::id());
    let made = Command::new(&python)
        .args(["-c", "import sys, urllib.request; urllib.request.urlopen(urllib.request.Request(sys.argv[1] + '/' + sys.argv[2], method='PUT'))", &endpoint, &bucket])
        .status()
        .unwrap();
    assert!(made.success(), "create bucket");

    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/orders.json");
    let file = file.to_str().unwrap();
    sluice(
        tmp.path(),
        &[
            "load-file",
            file,
            "--table",
            "orders",
            "--pipeline-name",
            "lake_ref",
        ],
        &[],
    );
    let s3_env = [
        (
            "DESTINATION__FILESYSTEM__BUCKET_URL",
            format!("s3://{bucket}/lake"),
        ),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_ACCESS_KEY_ID",
            "test".into(),
        ),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY",
            "test".into(),
        ),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__REGION_NAME",
            "us-east-1".into(),
        ),
        (
            "DESTINATION__FILESYSTEM__CREDENTIALS__ENDPOINT_URL",
            endpoint.clone(),
        ),
    ];
    sluice(
        tmp.path(),
        &[
            "load-file",
            file,
            "--table",
            "orders",
            "--pipeline-name",
            "lake_s3",
            "--destination",
            "filesystem",
            "--dataset",
            "lake_data",
        ],
        &s3_env,
    );

    // SQL on the s3:// dataset (DuckDB over local copies of the files).
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(tmp.path())
        .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
        .envs(s3_env.iter().map(|(k, v)| (*k, v.as_str())))
        .args([
            "query",
            "lake_s3",
            "SELECT COUNT(*) AS n FROM {dataset}.orders",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "n\n50");

    // pyarrow over the files in the bucket.
    let files = tmp.path().join("downloaded");
    let out = Command::new(&python)
        .args([
            "-c",
            READ_WITH_PYARROW,
            &endpoint,
            &bucket,
            "lake/lake_data",
            files.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let read = read.as_object().unwrap();

    // The DuckDB destination's tables, rows and column types.
    let reference = duckdb::Connection::open(tmp.path().join("lake_ref.duckdb")).unwrap();
    let mut stmt = reference
        .prepare("SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'lake_ref_data' AND table_name NOT LIKE '\\_dlt%' ESCAPE '\\' ORDER BY table_name, ordinal_position")
        .unwrap();
    let mut expected: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .unwrap()
    {
        let (t, c, ty) = row.unwrap();
        expected.entry(t).or_default().insert(c, ty);
    }
    assert!(expected.len() >= 4, "{expected:?}");
    assert_eq!(
        read.keys().cloned().collect::<Vec<_>>(),
        expected.keys().cloned().collect::<Vec<_>>()
    );

    let files_db = duckdb::Connection::open_in_memory().unwrap();
    for (table, columns) in &expected {
        let rows: i64 = reference
            .query_row(
                &format!("SELECT COUNT(*) FROM lake_ref_data.\"{table}\""),
                [],
                |r| r.get(0),
            )
            .unwrap();
        // pyarrow: same rows, same columns, the Arrow type of each DuckDB type.
        assert_eq!(
            read[table]["rows"].as_i64(),
            Some(rows),
            "{table}: pyarrow rows"
        );
        let types = read[table]["types"].as_object().unwrap();
        let got: BTreeMap<String, String> = types
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let want: BTreeMap<String, String> = columns
            .iter()
            .map(|(c, ty)| (c.clone(), arrow_type_of(ty)))
            .collect();
        assert_eq!(got, want, "{table}: pyarrow types");
        // DuckDB over the same files: same rows and the same types (JSON is text in Parquet).
        let glob = files.join(table).join("*.parquet");
        let scan = format!("read_parquet('{}', union_by_name = true)", glob.display());
        let n: i64 = files_db
            .query_row(&format!("SELECT COUNT(*) FROM {scan}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, rows, "{table}: DuckDB rows over the files");
        let mut d = files_db
            .prepare(&format!("DESCRIBE SELECT * FROM {scan}"))
            .unwrap();
        let described: BTreeMap<String, String> = d
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        let want_duck: BTreeMap<String, String> = columns
            .iter()
            .map(|(c, ty)| {
                (
                    c.clone(),
                    if ty == "JSON" {
                        "VARCHAR".to_string()
                    } else {
                        ty.clone()
                    },
                )
            })
            .collect();
        assert_eq!(described, want_duck, "{table}: DuckDB types over the files");
    }
}
