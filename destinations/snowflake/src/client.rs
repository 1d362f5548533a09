//! A small client for Snowflake's HTTP protocol, on reqwest.
//!
//! It covers what a loader needs and no more, behind a narrow interface
//! ([`SnowflakeClient::connect`], [`SnowflakeClient::query`], [`SnowflakeClient::put_file`],
//! [`SnowflakeClient::close`]) so that it can be swapped for a crate later:
//!
//! - login with password or key-pair (JWT) authentication (`POST /session/v1/login-request`);
//! - one statement per request (`POST /queries/v1/query-request` with
//!   `Authorization: Snowflake Token="…"`); results as JSON `rowset` or Arrow `rowsetBase64`,
//!   plus result `chunks[]` fetched from their URLs; asynchronous results are polled;
//! - errors carry Snowflake's code and message (the service answers HTTP 200 with
//!   `success: false`); lost connections, 429 and 5xx answers without a Snowflake error body are
//!   retried, then reported as transient;
//! - an expired session token is renewed with the master token, or the client logs in again;
//! - `PUT file://… @stage` follows the `stageInfo` the service returns: an upload to an S3
//!   stage (Snowflake on AWS) with SigV4 and the temporary credentials of the answer, encrypted
//!   on the client when the answer carries `encryptionMaterial` (see [`crate::stage_upload`]);
//!   an upload by HTTP `PUT` to a presigned URL (unencrypted GCS stages); or a copy to a local
//!   directory (`LOCAL_FS`). Azure stages and encrypted GCS stages are not supported yet.
//!
//! Secrets (password, private key and passphrase, tokens) never appear in errors, logs or
//! `Debug` output.

use crate::config::{CREDENTIALS_SETTING, SnowflakeCredentials};
use crate::convert::{self, RowType};
pub use crate::error::{SnowflakeError, snowflake_error};
use crate::error::{http_error, sf_error, statement_error};
use crate::keypair;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::record_batch::RecordBatch;
use base64::Engine;
use serde_json::{Value, json};
use sluice_core::config::Secret;
use sluice_core::sql::statement_kind;
use sluice_core::{Error, Result};
use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Session token expired: renew it with the master token.
const SESSION_EXPIRED: &str = "390112";
/// Codes that mean the session is gone: log in again.
const LOGIN_AGAIN: &[&str] = &["390104", "390111", "390114", "390103", "390113"];
/// The query runs on: poll its result URL.
const QUERY_IN_PROGRESS: &[&str] = &["333333", "333334"];

/// The result of one statement.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Snowflake's query id.
    pub query_id: Option<String>,
    /// The columns as Snowflake describes them.
    pub rowtype: Vec<RowType>,
    /// The rows, as plain Arrow (see [`crate::convert`]).
    pub batches: Vec<RecordBatch>,
    /// The raw `data` object (PUT answers carry `stageInfo` here).
    pub data: Value,
}

impl QueryResult {
    /// The schema of the result (also when there are no rows).
    pub fn schema(&self) -> SchemaRef {
        self.batches
            .first()
            .map(|b| b.schema())
            .unwrap_or_else(|| convert::schema_of(&self.rowtype))
    }

    /// Total rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

struct Session {
    token: Secret,
    master_token: Option<Secret>,
}

/// A logged-in connection to Snowflake.
pub struct SnowflakeClient {
    http: reqwest::Client,
    creds: SnowflakeCredentials,
    schema: Option<String>,
    session: Option<Session>,
    sequence: u64,
    retries: u32,
}

impl fmt::Debug for SnowflakeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnowflakeClient")
            .field("location", &self.creds.display())
            .field("logged_in", &self.session.is_some())
            .finish()
    }
}

fn request_id() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl SnowflakeClient {
    /// Log in to Snowflake with `creds`; `schema` becomes the session's current schema.
    pub async fn connect(creds: SnowflakeCredentials, schema: Option<String>) -> Result<Self> {
        // reqwest is built without a bundled crypto provider: use ring, as the rest of sluice.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(3600))
            .build()
            .map_err(|e| Error::config("cannot build the HTTP client").with_source(e))?;
        let mut client = Self {
            http,
            creds,
            schema,
            session: None,
            sequence: 0,
            retries: 3,
        };
        client.login().await?;
        Ok(client)
    }

    /// The credentials this client logs in with.
    pub fn credentials(&self) -> &SnowflakeCredentials {
        &self.creds
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.base_url)
    }

    /// Send a request, retrying lost connections, 429 and 5xx answers without a Snowflake
    /// error body. Returns the status and the JSON body.
    async fn send_json(
        &self,
        context: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<(u16, Value)> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = build().send().await;
            let retry_reason = match outcome {
                Err(e)
                    if attempt <= self.retries
                        && (e.is_connect() || e.is_timeout() || e.is_request()) =>
                {
                    format!("{e}")
                }
                Err(e) => return Err(http_error(context, e)),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let bytes = resp.bytes().await.map_err(|e| http_error(context, e))?;
                    match serde_json::from_slice::<Value>(&bytes) {
                        Ok(v) if v.get("success").is_some() => return Ok((status, v)),
                        _ if (status == 429 || status >= 500) && attempt <= self.retries => {
                            format!("HTTP {status}")
                        }
                        _ if status == 429 || status >= 500 => {
                            return Err(Error::transient(format!("{context}: HTTP {status}")));
                        }
                        _ => {
                            return Err(Error::destination(format!(
                                "{context}: HTTP {status} with an unexpected answer ({} bytes)",
                                bytes.len()
                            )));
                        }
                    }
                }
            };
            let delay = Duration::from_millis(250 * 2u64.pow(attempt - 1));
            tracing::debug!(target: "sluice::snowflake", %context, %retry_reason, ?delay, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Log in (again) and keep the session token: with the private key (key-pair
    /// authentication, `AUTHENTICATOR = SNOWFLAKE_JWT` and a freshly signed JWT as `TOKEN`)
    /// when one is configured, else with the password.
    pub async fn login(&mut self) -> Result<()> {
        let c = &self.creds;
        let key_pair = c.key_pair().await?;
        let account = c.account_name();
        // Sign a first token now, so that a key that cannot sign fails before any request.
        let first_token = match &key_pair {
            Some(k) => Some(k.jwt(&c.account, &c.username, chrono::Utc::now().timestamp())?),
            None => None,
        };
        let password = c.password.as_ref().map(|p| p.expose()).unwrap_or_default();
        // The body is built for every attempt: a retried key-pair login carries a fresh token.
        let body = || {
            let mut data = json!({
                "CLIENT_APP_ID": "sluice",
                "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
                "ACCOUNT_NAME": account,
                "LOGIN_NAME": c.username,
                "CLIENT_ENVIRONMENT": {"APPLICATION": "sluice", "OS": std::env::consts::OS},
                "SESSION_PARAMETERS": {
                    "AUTOCOMMIT": true,
                    "TIMEZONE": "UTC",
                    "CLIENT_SESSION_KEEP_ALIVE": false,
                },
            });
            match (&key_pair, &first_token) {
                (Some(k), Some(first)) => {
                    let token = k
                        .jwt(&c.account, &c.username, chrono::Utc::now().timestamp())
                        .unwrap_or_else(|_| first.clone());
                    data["AUTHENTICATOR"] = json!(keypair::AUTHENTICATOR);
                    data["TOKEN"] = json!(token.expose());
                }
                _ => data["PASSWORD"] = json!(password),
            }
            json!({ "data": data })
        };
        let mut query: Vec<(&str, String)> = vec![
            ("requestId", request_id()),
            ("databaseName", c.database.clone()),
        ];
        if let Some(s) = &self.schema {
            query.push(("schemaName", s.clone()));
        }
        if let Some(w) = &c.warehouse {
            query.push(("warehouse", w.clone()));
        }
        if let Some(r) = &c.role {
            query.push(("roleName", r.clone()));
        }
        let url = self.url("/session/v1/login-request");
        let (_, answer) = self
            .send_json("login", || {
                self.http
                    .post(&url)
                    .query(&query)
                    .header("Accept", "application/json")
                    .json(&body())
            })
            .await?;
        if answer.get("success").and_then(|s| s.as_bool()) != Some(true) {
            let e = sf_error(&answer);
            let how = match &key_pair {
                Some(k) => format!(
                    " with key-pair authentication (public key fingerprint {}: it must equal \
                     RSA_PUBLIC_KEY_FP or RSA_PUBLIC_KEY_2_FP of DESC USER {}, and the account \
                     identifier in {CREDENTIALS_SETTING}.host must be right)",
                    k.fingerprint(),
                    c.username
                ),
                None => String::new(),
            };
            return Err(Error::config(format!(
                "cannot log in as '{}' at {}{how}",
                c.username,
                c.display()
            ))
            .with_source(e));
        }
        let data = &answer["data"];
        let token = data["token"]
            .as_str()
            .ok_or_else(|| Error::destination("the login answer has no session token"))?;
        self.session = Some(Session {
            token: Secret::new(token),
            master_token: data
                .get("masterToken")
                .and_then(|t| t.as_str())
                .map(Secret::new),
        });
        let auth = if key_pair.is_some() {
            "key pair"
        } else {
            "password"
        };
        tracing::debug!(target: "sluice::snowflake", location = %c.display(), %auth, "logged in");
        Ok(())
    }

    fn auth_header(token: &Secret) -> String {
        format!("Snowflake Token=\"{}\"", token.expose())
    }

    /// Renew the session token with the master token; log in again when that fails.
    async fn renew(&mut self) -> Result<()> {
        let Some(Session {
            token,
            master_token: Some(master),
        }) = &self.session
        else {
            return self.login().await;
        };
        let url = self.url("/session/token-request");
        let body = json!({"oldSessionToken": token.expose(), "requestType": "RENEW"});
        let auth = Self::auth_header(master);
        let renewed = self
            .send_json("renew the session", || {
                self.http
                    .post(&url)
                    .query(&[("requestId", request_id())])
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
                    .json(&body)
            })
            .await;
        match renewed {
            Ok((_, v)) if v["success"].as_bool() == Some(true) => {
                let data = &v["data"];
                if let Some(t) = data["sessionToken"].as_str() {
                    self.session = Some(Session {
                        token: Secret::new(t),
                        master_token: data["masterToken"]
                            .as_str()
                            .map(Secret::new)
                            .or_else(|| self.session.take().and_then(|s| s.master_token)),
                    });
                    return Ok(());
                }
                self.login().await
            }
            _ => self.login().await,
        }
    }

    /// Post one statement; returns the `data` of a successful answer. Renews the session
    /// once when it expired, and polls results of statements that run on asynchronously.
    async fn post_query(&mut self, sql: &str) -> Result<Value> {
        let mut renewed = false;
        loop {
            let token = match &self.session {
                Some(s) => s.token.clone(),
                None => {
                    self.login().await?;
                    continue;
                }
            };
            self.sequence += 1;
            let body = json!({
                "sqlText": sql,
                "asyncExec": false,
                "sequenceId": self.sequence,
                "querySubmissionTime": chrono::Utc::now().timestamp_millis(),
            });
            let url = self.url("/queries/v1/query-request");
            let auth = Self::auth_header(&token);
            let rid = request_id();
            let context = format!("statement {}", statement_kind(sql));
            let (_, mut answer) = self
                .send_json(&context, || {
                    self.http
                        .post(&url)
                        .query(&[("requestId", rid.as_str())])
                        .header("Authorization", &auth)
                        .header("Accept", "application/snowflake")
                        .json(&body)
                })
                .await?;
            // Poll a result that is not ready yet.
            let mut polls = 0u32;
            while answer["success"].as_bool() != Some(true)
                && QUERY_IN_PROGRESS.contains(&sf_error(&answer).code.as_str())
            {
                let Some(path) = answer["data"]["getResultUrl"].as_str().map(str::to_string) else {
                    break;
                };
                polls += 1;
                tokio::time::sleep(Duration::from_millis((100 * polls as u64).min(2000))).await;
                let url = self.url(&path);
                answer = self
                    .send_json(&context, || {
                        self.http
                            .get(&url)
                            .header("Authorization", &auth)
                            .header("Accept", "application/snowflake")
                    })
                    .await?
                    .1;
            }
            if answer["success"].as_bool() == Some(true) {
                return Ok(answer["data"].take());
            }
            let err = sf_error(&answer);
            if !renewed && (err.code == SESSION_EXPIRED || LOGIN_AGAIN.contains(&err.code.as_str()))
            {
                renewed = true;
                tracing::debug!(target: "sluice::snowflake", code = %err.code, "session expired, renewing");
                if err.code == SESSION_EXPIRED {
                    self.renew().await?;
                } else {
                    self.login().await?;
                }
                continue;
            }
            return Err(statement_error(&context, err));
        }
    }

    /// Run one statement and return its result as plain Arrow.
    pub async fn query(&mut self, sql: &str) -> Result<QueryResult> {
        tracing::trace!(target: "sluice::snowflake", statement = %statement_kind(sql), "query");
        let data = self.post_query(sql).await?;
        self.read_result(data).await
    }

    async fn read_result(&self, data: Value) -> Result<QueryResult> {
        let rowtype: Vec<RowType> = match data.get("rowtype") {
            Some(v) if !v.is_null() => serde_json::from_value(v.clone()).map_err(|e| {
                Error::destination("the result has an unreadable rowtype").with_source(e)
            })?,
            _ => Vec::new(),
        };
        let format = data["queryResultFormat"]
            .as_str()
            .unwrap_or("json")
            .to_ascii_lowercase();
        let mut batches = Vec::new();
        if format == "arrow" {
            if let Some(b64) = data["rowsetBase64"].as_str().filter(|s| !s.is_empty()) {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| {
                        Error::destination("the Arrow rowset is not base64").with_source(e)
                    })?;
                batches.extend(read_ipc(&bytes)?);
            }
        } else if let Some(rows) = data.get("rowset").filter(|r| !r.is_null()) {
            let rows = json_rows(rows)?;
            if !rows.is_empty() {
                batches.push(convert::json_rowset_to_batch(&rowtype, &rows)?);
            }
        }
        // Large results come in chunks, fetched from their URLs.
        if let Some(chunks) = data["chunks"].as_array() {
            let mut headers: Vec<(String, String)> = data["chunkHeaders"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            if headers.is_empty()
                && let Some(qrmk) = data["qrmk"].as_str()
            {
                headers.push((
                    "x-amz-server-side-encryption-customer-algorithm".into(),
                    "AES256".into(),
                ));
                headers.push((
                    "x-amz-server-side-encryption-customer-key".into(),
                    qrmk.into(),
                ));
            }
            for (i, chunk) in chunks.iter().enumerate() {
                let Some(url) = chunk["url"].as_str() else {
                    continue;
                };
                let bytes = self.fetch_chunk(url, &headers, i).await?;
                if format == "arrow" {
                    batches.extend(read_ipc(&bytes)?);
                } else {
                    let text = String::from_utf8_lossy(&bytes);
                    let rows: Value = serde_json::from_str(&format!("[{text}]")).map_err(|e| {
                        Error::destination(format!("result chunk {i} is not JSON")).with_source(e)
                    })?;
                    let rows = json_rows(&rows)?;
                    if !rows.is_empty() {
                        batches.push(convert::json_rowset_to_batch(&rowtype, &rows)?);
                    }
                }
            }
        }
        Ok(QueryResult {
            query_id: data["queryId"].as_str().map(str::to_string),
            rowtype,
            batches,
            data,
        })
    }

    async fn fetch_chunk(
        &self,
        url: &str,
        headers: &[(String, String)],
        i: usize,
    ) -> Result<Vec<u8>> {
        let context = format!("fetch result chunk {i}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self.http.get(url);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let outcome = req.send().await;
            match outcome {
                Ok(resp) if resp.status().is_success() => {
                    let bytes = resp.bytes().await.map_err(|e| http_error(&context, e))?;
                    return gunzip_if_needed(&bytes);
                }
                Ok(resp) if attempt > self.retries || resp.status().is_client_error() => {
                    return Err(Error::transient(format!(
                        "{context}: HTTP {}",
                        resp.status().as_u16()
                    )));
                }
                Err(e) if attempt > self.retries => return Err(http_error(&context, e)),
                _ => tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1))).await,
            }
        }
    }

    /// Upload a local file to a stage location (`@"DB"."SCHEMA"."STAGE"/path`) with
    /// `PUT`, following the `stageInfo` of the answer.
    pub async fn put_file(&mut self, local: &Path, stage_location: &str) -> Result<()> {
        let abs = std::path::absolute(local)?;
        let path_text = abs.to_string_lossy().replace('\\', "/");
        let sql = format!(
            "PUT {} {stage_location} AUTO_COMPRESS = FALSE OVERWRITE = TRUE",
            sluice_core::sql::literal_backslash_escaped(&format!("file://{path_text}"))
        );
        let data = self.post_query(&sql).await?;
        let info = &data["stageInfo"];
        let location_type = info["locationType"]
            .as_str()
            .unwrap_or("")
            .to_ascii_uppercase();
        let file_name = abs
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let encrypted = data
            .get("encryptionMaterial")
            .is_some_and(|m| !m.is_null() && m.get("queryStageMasterKey").is_some());
        match location_type.as_str() {
            "GCS" if !encrypted => {
                let url = info["presignedUrl"]
                    .as_str()
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| {
                        Error::destination("the PUT answer for a GCS stage has no presigned URL")
                    })?;
                let bytes = tokio::fs::read(&abs).await.map_err(|e| {
                    Error::storage(format!("cannot read load file {}", abs.display()))
                        .with_source(e)
                })?;
                let context = format!("upload {file_name} to the stage");
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    let resp = self
                        .http
                        .put(url)
                        .header("Content-Type", "application/octet-stream")
                        .body(bytes.clone())
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) if attempt > self.retries || r.status().is_client_error() => {
                            return Err(Error::destination(format!(
                                "{context}: HTTP {}",
                                r.status().as_u16()
                            )));
                        }
                        Err(e) if attempt > self.retries => return Err(http_error(&context, e)),
                        _ => {
                            tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt - 1)))
                                .await
                        }
                    }
                }
            }
            "S3" => {
                crate::stage_upload::S3Stage::from_put_answer(&data)?
                    .upload(&abs)
                    .await?;
            }
            "LOCAL_FS" => {
                let dir = info["location"].as_str().unwrap_or_default();
                let dir = Path::new(dir);
                tokio::fs::create_dir_all(dir).await?;
                tokio::fs::copy(&abs, dir.join(&file_name))
                    .await
                    .map_err(|e| {
                        Error::storage(format!("cannot copy {} to the local stage", abs.display()))
                            .with_source(e)
                    })?;
            }
            other => {
                return Err(Error::destination(format!(
                    "uploads to {} stages{} are not supported yet; \
                     supported are S3 stages (with or without client-side encryption), \
                     GCS stages that answer PUT with a presigned URL (without encryption) \
                     and LOCAL_FS stages",
                    if other.is_empty() { "unknown" } else { other },
                    if encrypted {
                        " with client-side encryption"
                    } else {
                        ""
                    }
                )));
            }
        }
        tracing::debug!(target: "sluice::snowflake", file = %file_name, "uploaded to stage");
        Ok(())
    }

    /// End the session (best effort: a session that is gone already is fine).
    pub async fn close(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let url = self.url("/session");
        let auth = Self::auth_header(&session.token);
        let _ = self
            .send_json("close the session", || {
                self.http
                    .post(&url)
                    .query(&[("delete", "true"), ("requestId", &request_id())])
                    .header("Authorization", &auth)
                    .header("Accept", "application/json")
            })
            .await;
        Ok(())
    }

    /// Forget the session token without telling the service (tests of re-login).
    pub fn invalidate_session_for_tests(&mut self) {
        if let Some(s) = &mut self.session {
            s.token = Secret::new("expired");
        }
    }
}

fn json_rows(rows: &Value) -> Result<Vec<Vec<Option<String>>>> {
    let arr = rows
        .as_array()
        .ok_or_else(|| Error::destination("the JSON rowset is not a list"))?;
    Ok(arr
        .iter()
        .map(|r| {
            r.as_array()
                .map(|cells| {
                    cells
                        .iter()
                        .map(|c| match c {
                            Value::Null => None,
                            Value::String(s) => Some(s.clone()),
                            other => Some(other.to_string()),
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
        .collect())
}

fn gunzip_if_needed(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| Error::destination("cannot unzip a result chunk").with_source(e))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Make every field of an Arrow schema nullable, at any depth.
fn nullable_field(f: &arrow::datatypes::Field) -> arrow::datatypes::Field {
    use arrow::datatypes::{DataType as T, Field};
    let dt = match f.data_type() {
        T::Struct(children) => T::Struct(
            children
                .iter()
                .map(|c| Arc::new(nullable_field(c)))
                .collect::<Vec<_>>()
                .into(),
        ),
        T::List(c) => T::List(Arc::new(nullable_field(c))),
        T::LargeList(c) => T::LargeList(Arc::new(nullable_field(c))),
        other => other.clone(),
    };
    Field::new(f.name(), dt, true).with_metadata(f.metadata().clone())
}

/// Rewrite the schema message at the start of an IPC stream so that every field is nullable.
/// Snowflake peers send struct children declared non-nullable that hold nulls (a NULL
/// timestamp as a valid struct with null `epoch`), which arrow's reader rejects; record batch
/// messages do not encode nullability, so they stay as they are.
fn relax_ipc_schema(bytes: &[u8]) -> Result<Vec<u8>> {
    let bad = |m: &str| Error::destination(format!("unreadable Arrow rowset ({m})"));
    let word = |at: usize| -> Option<u32> {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (len_at, prefix) = if word(0) == Some(0xFFFF_FFFF) {
        (4, 8)
    } else {
        (0, 4)
    };
    let len = word(len_at).ok_or_else(|| bad("too short"))? as usize;
    let metadata = bytes
        .get(prefix..prefix + len)
        .ok_or_else(|| bad("truncated schema message"))?;
    let message = arrow::ipc::root_as_message(metadata).map_err(|e| bad(&e.to_string()))?;
    let fb = message
        .header_as_schema()
        .ok_or_else(|| bad("the stream does not start with a schema"))?;
    let schema = arrow::ipc::convert::try_fb_to_schema(fb)?;
    let relaxed = arrow::datatypes::Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| nullable_field(f))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    );
    let mut out = Vec::with_capacity(bytes.len() + 64);
    {
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut out, &relaxed)?;
        w.flush()?;
    }
    // Drop the end-of-stream marker the writer added, then append the original batches.
    if out.ends_with(&[0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) {
        out.truncate(out.len() - 8);
    }
    out.extend_from_slice(&bytes[prefix + len..]);
    Ok(out)
}

/// Read an Arrow IPC stream and normalize Snowflake's encodings.
fn read_ipc(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    let bytes = relax_ipc_schema(bytes)?;
    let reader = StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| Error::destination("unreadable Arrow rowset").with_source(e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch =
            batch.map_err(|e| Error::destination("unreadable Arrow rowset").with_source(e))?;
        out.push(convert::normalize_batch(&batch)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_show_code_state_and_message() {
        let body = json!({"success": false, "code": "002003", "message": "Table 'X' does not exist",
            "data": {"sqlState": "42S02", "queryId": "q1"}});
        let e = sf_error(&body);
        assert_eq!(
            e.to_string(),
            "snowflake error 002003 (42S02): Table 'X' does not exist"
        );
        let wrapped = Error::destination("statement SELECT failed").with_source(e.clone());
        assert_eq!(snowflake_error(&wrapped), Some(&e));
        assert_eq!(statement_kind("PUT 'file:///x' @\"S\""), "PUT");
        assert_eq!(request_id().len(), 36);
    }
}

/// The login request on the wire, against a local listener that records it.
#[cfg(test)]
mod login_tests {
    use super::*;
    use crate::keypair::test_keys::{PASSPHRASE, keys};
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use pkcs8::DecodePublicKey;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Answer one login request with a session token; return its JSON body.
    async fn serve_one_login(listener: tokio::net::TcpListener) -> Value {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let body_start = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the request ended");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..body_start]).to_ascii_lowercase();
        assert!(
            head.starts_with("post /session/v1/login-request?"),
            "{head}"
        );
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .expect("a content-length")
            .trim()
            .parse()
            .unwrap();
        while buf.len() < body_start + len {
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let body: Value = serde_json::from_slice(&buf[body_start..body_start + len]).unwrap();
        let answer = json!({"success": true, "data": {"token": "session-token"}}).to_string();
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
        sock.write_all(resp.as_bytes()).await.unwrap();
        sock.shutdown().await.ok();
        body
    }

    async fn login_body(creds_url: impl Fn(&str) -> String) -> Value {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(serve_one_login(listener));
        let creds = SnowflakeCredentials::parse_url(&creds_url(&base)).unwrap();
        let client = SnowflakeClient::connect(creds, None).await.unwrap();
        assert!(format!("{client:?}").contains("logged_in: true"));
        server.await.unwrap()
    }

    #[tokio::test]
    async fn key_pair_login_sends_a_jwt_and_no_password() {
        let Some(k) = keys() else { return };
        let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
        let before = chrono::Utc::now().timestamp();
        let body = login_body(|base| {
            format!(
                "snowflake://Loader:ignored-pw@xy12345.eu-central-1/DB?private_key={}&private_key_passphrase={}&base_url={base}",
                enc(&k.encrypted_pem),
                enc(PASSPHRASE)
            )
        })
        .await;
        let data = &body["data"];
        assert_eq!(data["AUTHENTICATOR"], "SNOWFLAKE_JWT");
        assert_eq!(data["LOGIN_NAME"], "Loader");
        assert_eq!(data["ACCOUNT_NAME"], "XY12345");
        assert!(data.get("PASSWORD").is_none(), "{data}");
        let text = body.to_string();
        assert!(!text.contains("ignored-pw") && !text.contains(PASSPHRASE));

        let jwt = data["TOKEN"].as_str().unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let public = rsa::RsaPublicKey::from_public_key_der(&k.public_der).unwrap();
        let sig = Signature::try_from(URL_SAFE_NO_PAD.decode(sig).unwrap().as_slice()).unwrap();
        VerifyingKey::<sha2::Sha256>::new(public)
            .verify(input.as_bytes(), &sig)
            .expect("the token is signed with the configured key");
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(input.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            claims["iss"],
            format!("XY12345.LOADER.SHA256:{}", k.fingerprint)
        );
        assert_eq!(claims["sub"], "XY12345.LOADER");
        let iat = claims["iat"].as_i64().unwrap();
        assert!(iat >= before && iat <= chrono::Utc::now().timestamp());
        assert!(claims["exp"].as_i64().unwrap() <= iat + 3600);
    }

    #[tokio::test]
    async fn password_login_sends_the_password_and_no_token() {
        let body =
            login_body(|base| format!("snowflake://loader:pw-1@acc/DB?base_url={base}")).await;
        assert_eq!(body["data"]["PASSWORD"], "pw-1");
        assert!(body["data"].get("AUTHENTICATOR").is_none());
        assert!(body["data"].get("TOKEN").is_none());
    }
}
