//! `PUT` to Snowflake S3 stages ([`sluice_snowflake::stage_upload`]) against a real S3 API
//! server (moto, started by `scripts/services/moto.sh`, which prints `SLUICE_TEST_S3_ENDPOINT`).
//! Encrypted objects are decrypted with snowflake-connector-python's own
//! `SnowflakeEncryptionUtil.decrypt_file`, run by the Python of the fakesnow virtualenv
//! (`scripts/services/fakesnow.sh start` creates it). Without the endpoint the S3 tests print a
//! notice and pass without running.

use arrow::array::{ArrayRef, Int64Array, StringArray};
use arrow::record_batch::RecordBatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, GetOptions, ObjectStore};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sluice_snowflake::stage_upload::{S3Stage, SINGLE_PUT_LIMIT};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const KEY_ID: &str = "ASIATESTKEYID0001";
const SECRET: &str = "test-secret-access-key/0001";
const TOKEN: &str = "test-session-token-FQoGZXIvYXdzE0001";

fn endpoint(test: &str) -> Option<String> {
    sluice_core::test_support::service_url(
        "SLUICE_TEST_S3_ENDPOINT",
        &format!("S3 stage test {test}"),
    )
    .map(|e| e.trim_end_matches('/').to_string())
}

/// The Python of the fakesnow virtualenv, which has snowflake-connector-python. The S3 tests
/// run only when the test services are up (`make test` starts fakesnow, which creates it), so a
/// missing interpreter is a broken setup, not a reason to skip the decryption check.
fn connector_python() -> PathBuf {
    let cache = std::env::var_os("SLUICE_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/sluice")))
        .expect("SLUICE_CACHE_DIR or HOME is set");
    let python = cache.join("venvs/fakesnow/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the decryption check needs snowflake-connector-python \
         (run `bash scripts/services/fakesnow.sh start` once, or `make test`)",
        python.display()
    );
    python
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:016x}", rand::random::<u64>())
}

/// Create a bucket on moto.
async fn create_bucket(endpoint: &str, bucket: &str) {
    sluice_core::test_support::create_s3_bucket(endpoint, bucket).await
}

/// The `data` of a `PUT` answer for an S3 stage, as Snowflake on AWS sends it.
fn put_answer(endpoint: &str, location: &str, master_key: Option<&str>) -> Value {
    let mut data = json!({
        "command": "UPLOAD",
        "src_locations": ["/tmp/x.parquet"],
        "autoCompress": false,
        "overwrite": true,
        "stageInfo": {
            "locationType": "S3",
            "location": location,
            "path": location.split_once('/').map(|(_, p)| p).unwrap_or(""),
            "region": "us-east-1",
            "storageAccount": null,
            "isClientSideEncrypted": master_key.is_some(),
            "endPoint": endpoint,
            "useS3RegionalUrl": false,
            "creds": {"AWS_KEY_ID": KEY_ID, "AWS_SECRET_KEY": SECRET, "AWS_TOKEN": TOKEN, "AWS_ID": KEY_ID}
        },
        "encryptionMaterial": null
    });
    if let Some(k) = master_key {
        data["encryptionMaterial"] = json!({
            "queryStageMasterKey": k,
            "queryId": "01b8f2c4-0000-4a1b-0000-00012d6b7c41",
            "smkId": 2_517_398_i64
        });
    }
    data
}

fn random_key(len: usize) -> String {
    let bytes: Vec<u8> = (0..len).map(|_| rand::random()).collect();
    BASE64.encode(bytes)
}

/// A small Parquet file in `dir`.
fn parquet_file(dir: &Path, name: &str, rows: i64) -> PathBuf {
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
    let names: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..rows).map(|i| format!("name-{i}")),
    ));
    let batch = RecordBatch::try_from_iter([("id", ids), ("name", names)]).unwrap();
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    path
}

/// moto, read with plain credentials.
fn reader(endpoint: &str, bucket: &str) -> impl ObjectStore {
    AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("reader")
        .with_secret_access_key("reader")
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .unwrap()
}

/// The bytes and `x-amz-meta-*` metadata of an object.
async fn object(
    endpoint: &str,
    bucket: &str,
    key: &str,
) -> (Vec<u8>, std::collections::BTreeMap<String, String>) {
    let got = reader(endpoint, bucket)
        .get_opts(&ObjectPath::parse(key).unwrap(), GetOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cannot read back {key}: {e}"));
    let meta = got
        .attributes
        .iter()
        .filter_map(|(k, v)| match k {
            Attribute::Metadata(name) => Some((name.to_string(), v.to_string())),
            _ => None,
        })
        .collect();
    (got.bytes().await.unwrap().to_vec(), meta)
}

/// Decrypt `encrypted` with the connector's `SnowflakeEncryptionUtil.decrypt_file`; the
/// script also checks the material descriptor against the connector's `matdesc_to_unicode`.
fn connector_decrypt(
    python: &Path,
    encrypted: &Path,
    meta: &std::collections::BTreeMap<String, String>,
    master_key: &str,
    key_bits: usize,
) -> Vec<u8> {
    const SCRIPT: &str = r#"
import sys
from snowflake.connector.constants import EncryptionMetadata, MaterialDescriptor
from snowflake.connector.encryption_util import SnowflakeEncryptionUtil, matdesc_to_unicode
from snowflake.connector.storage_client import SnowflakeFileEncryptionMaterial

src, master_key, key, iv, matdesc, key_bits = sys.argv[1:7]
material = SnowflakeFileEncryptionMaterial(
    query_stage_master_key=master_key,
    query_id="01b8f2c4-0000-4a1b-0000-00012d6b7c41",
    smk_id=2517398,
)
expected = matdesc_to_unicode(MaterialDescriptor(
    smk_id=material.smk_id, query_id=material.query_id, key_size=int(key_bits)))
if matdesc != expected:
    sys.exit(f"matdesc {matdesc!r} != connector's {expected!r}")
out = SnowflakeEncryptionUtil.decrypt_file(
    EncryptionMetadata(key=key, iv=iv, matdesc=matdesc), material, src,
    tmp_dir=sys.argv[7])
with open(out, "rb") as f:
    sys.stdout.buffer.write(f.read())
"#;
    let tmp = encrypted.parent().unwrap();
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(encrypted)
        .arg(master_key)
        .arg(&meta["x-amz-key"])
        .arg(&meta["x-amz-iv"])
        .arg(&meta["x-amz-matdesc"])
        .arg(key_bits.to_string())
        .arg(tmp)
        .output()
        .expect("run the connector's python");
    assert!(
        out.status.success(),
        "the connector's decrypt_file failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Upload `file` through the public API, read it back, check metadata, and decrypt it with
/// the connector.
async fn upload_and_check(endpoint: &str, file: &Path, master_key: Option<&str>) {
    let bucket = unique("sfc-stage");
    create_bucket(endpoint, &bucket).await;
    let location = format!("{bucket}/stages/{}/", unique("q"));
    let data = put_answer(endpoint, &location, master_key);
    let stage = S3Stage::from_put_answer(&data).unwrap();
    assert_eq!(stage.is_encrypted(), master_key.is_some());
    stage.upload(file).await.unwrap();

    let plain = std::fs::read(file).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    let key = format!("{}{name}", location.split_once('/').unwrap().1);
    let (stored, meta) = object(endpoint, &bucket, &key).await;
    assert_eq!(
        meta.get("sfc-digest"),
        Some(&BASE64.encode(Sha256::digest(&plain))),
        "{meta:?}"
    );
    let Some(master_key) = master_key else {
        assert_eq!(stored, plain, "an unencrypted stage stores the file as is");
        assert_eq!(meta.len(), 1, "only sfc-digest: {meta:?}");
        return;
    };
    let key_bits = BASE64.decode(master_key).unwrap().len() * 8;
    assert_eq!(
        meta.keys().collect::<Vec<_>>(),
        ["sfc-digest", "x-amz-iv", "x-amz-key", "x-amz-matdesc"],
        "{meta:?}"
    );
    assert_eq!(
        meta["x-amz-matdesc"],
        format!(
            r#"{{"queryId":"01b8f2c4-0000-4a1b-0000-00012d6b7c41","smkId":"2517398","keySize":"{key_bits}"}}"#
        )
    );
    assert_eq!(BASE64.decode(&meta["x-amz-iv"]).unwrap().len(), 16);
    assert_eq!(
        BASE64.decode(&meta["x-amz-key"]).unwrap().len(),
        key_bits / 8 + 16,
        "the file key, padded, encrypted with the master key"
    );
    assert_eq!(stored.len(), (plain.len() / 16 + 1) * 16, "AES-CBC, PKCS#7");
    assert_ne!(&stored[..64], &plain[..64], "the object is encrypted");

    let python = connector_python();
    let dir = tempfile::tempdir().unwrap();
    let enc_path = dir.path().join("object.enc");
    std::fs::write(&enc_path, &stored).unwrap();
    let decrypted = connector_decrypt(&python, &enc_path, &meta, master_key, key_bits);
    assert!(
        decrypted == plain,
        "the connector's decryption differs from the file ({} vs {} bytes)",
        decrypted.len(),
        plain.len()
    );
}

#[tokio::test]
async fn encrypted_parquet_with_a_256_bit_master_key() {
    let Some(endpoint) = endpoint("encrypted_parquet_with_a_256_bit_master_key") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = parquet_file(dir.path(), "orders.1.parquet", 1000);
    upload_and_check(&endpoint, &file, Some(&random_key(32))).await;
}

#[tokio::test]
async fn encrypted_parquet_with_a_128_bit_master_key() {
    let Some(endpoint) = endpoint("encrypted_parquet_with_a_128_bit_master_key") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = parquet_file(dir.path(), "orders.2.parquet", 37);
    upload_and_check(&endpoint, &file, Some(&random_key(16))).await;
}

#[tokio::test]
async fn large_encrypted_file_goes_multipart() {
    let Some(endpoint) = endpoint("large_encrypted_file_goes_multipart") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.1.parquet");
    // Two full parts and a short one (not a multiple of the block size).
    let size = 2 * SINGLE_PUT_LIMIT + 1_000_003;
    let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&path, bytes).unwrap();
    upload_and_check(&endpoint, &path, Some(&random_key(32))).await;
}

#[tokio::test]
async fn unencrypted_stage_stores_the_plain_file() {
    let Some(endpoint) = endpoint("unencrypted_stage_stores_the_plain_file") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = parquet_file(dir.path(), "orders.3.parquet", 10);
    upload_and_check(&endpoint, &file, None).await;
}

fn assert_no_secret(err: &str, master_key: &str) {
    for secret in [KEY_ID, SECRET, TOKEN, master_key] {
        assert!(!err.contains(secret), "a secret leaked into: {err}");
    }
}

#[test]
fn missing_or_wrong_credentials_are_named_without_secrets() {
    let master_key = random_key(32);
    let cases: [(&str, Value, &str); 4] = [
        (
            "AWS_SECRET_KEY",
            Value::Null,
            "stageInfo.creds.AWS_SECRET_KEY",
        ),
        ("AWS_KEY_ID", json!(""), "stageInfo.creds.AWS_KEY_ID"),
        ("AWS_KEY_ID", json!(12345), "stageInfo.creds.AWS_KEY_ID"),
        (
            "AWS_TOKEN",
            json!({"t": TOKEN}),
            "stageInfo.creds.AWS_TOKEN",
        ),
    ];
    for (field, value, named) in cases {
        let mut data = put_answer("http://127.0.0.1:1", "bucket/p/", Some(&master_key));
        data["stageInfo"]["creds"][field] = value;
        let err = S3Stage::from_put_answer(&data).unwrap_err().to_string();
        assert!(err.contains(named), "{err}");
        assert_no_secret(&err, &master_key);
    }
    let mut data = put_answer("http://127.0.0.1:1", "bucket/p/", Some(&master_key));
    data["stageInfo"].as_object_mut().unwrap().remove("creds");
    let err = S3Stage::from_put_answer(&data).unwrap_err().to_string();
    assert!(err.contains("stageInfo.creds.AWS_KEY_ID"), "{err}");

    let data = put_answer("http://127.0.0.1:1", "bucket/p/", Some("bm90IGEga2V5"));
    let err = S3Stage::from_put_answer(&data).unwrap_err().to_string();
    assert!(
        err.contains("encryptionMaterial.queryStageMasterKey"),
        "{err}"
    );
    assert!(!err.contains("bm90IGEga2V5"), "{err}");

    let stage = S3Stage::from_put_answer(&put_answer(
        "http://127.0.0.1:1",
        "bucket/p/",
        Some(&master_key),
    ))
    .unwrap();
    assert_no_secret(&format!("{stage:?}"), &master_key);
}

#[tokio::test]
async fn a_failed_upload_names_the_bucket_without_secrets() {
    let Some(endpoint) = endpoint("a_failed_upload_names_the_bucket_without_secrets") else {
        return;
    };
    let master_key = random_key(32);
    let bucket = unique("sfc-missing");
    let data = put_answer(&endpoint, &format!("{bucket}/stages/x/"), Some(&master_key));
    let dir = tempfile::tempdir().unwrap();
    let file = parquet_file(dir.path(), "orders.4.parquet", 5);
    let err = S3Stage::from_put_answer(&data)
        .unwrap()
        .upload(&file)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&bucket) && text.contains("orders.4.parquet"),
        "{text}"
    );
    assert_no_secret(&text, &master_key);
    assert_no_secret(&format!("{err:?}"), &master_key);
}
