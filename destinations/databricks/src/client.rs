//! A client of Databricks' SQL Statement Execution API (`/api/2.0/sql/statements`) on reqwest.
//!
//! A statement is submitted with a `wait_timeout` (the answer comes back when it finished within
//! it), then polled with growing pauses while it is `PENDING` or `RUNNING`, and cancelled when
//! it runs longer than the statement timeout or when the future running it is dropped (the
//! load was aborted). Results come as `JSON_ARRAY` (inline, followed chunk by chunk) or as
//! `ARROW_STREAM` (external links: each chunk is fetched without the workspace token and
//! decoded with Arrow IPC). Errors carry Databricks' `error_code` and message, whether the
//! workspace answers with a non-2xx status or with HTTP 200 and state `FAILED`.
//!
//! The Files API of Unity Catalog volumes is in [`crate::files`].

use crate::auth::TokenSource;
use crate::config::DatabricksCredentials;
use crate::error::{DatabricksError, http_error};
use arrow::record_batch::RecordBatch;
use serde_json::{Value, json};
use sluice_core::sql::statement_kind;
use sluice_core::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the submit request waits for a statement before it answers with its id
/// (Databricks allows 5 to 50 seconds).
const WAIT_TIMEOUT: &str = "10s";

/// The format results come back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultFormat {
    /// Rows as JSON arrays of values, inline in the answers.
    JsonArray,
    /// Arrow IPC streams behind external links.
    ArrowStream,
}

/// A column of a result, as the manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    /// The column name.
    pub name: String,
    /// Its SQL type as text (`BIGINT`, `DECIMAL(38,9)`), when given.
    pub type_text: Option<String>,
}

/// What a finished statement returned.
#[derive(Debug, Clone, Default)]
pub struct StatementResult {
    /// The statement id.
    pub statement_id: String,
    /// The result's columns.
    pub columns: Vec<ResultColumn>,
    /// Rows of a `JSON_ARRAY` result, every value as text (`None` for NULL).
    pub rows: Vec<Vec<Option<String>>>,
    /// Batches of an `ARROW_STREAM` result, as decoded.
    pub batches: Vec<RecordBatch>,
    /// How many times the statement's state was polled before it finished.
    pub polls: u32,
}

/// The connection to one workspace and SQL warehouse.
#[derive(Debug, Clone)]
pub struct DatabricksClient {
    pub(crate) http: reqwest::Client,
    pub(crate) base_url: String,
    warehouse_id: String,
    catalog: String,
    pub(crate) tokens: Arc<TokenSource>,
    statement_timeout: Duration,
}

/// Cancels the statement when dropped before [`CancelOnDrop::disarm`] (the future running it
/// was dropped, or it ran too long).
struct CancelOnDrop {
    client: DatabricksClient,
    statement_id: Option<String>,
}

impl CancelOnDrop {
    fn disarm(&mut self) {
        self.statement_id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(id) = self.statement_id.take() else {
            return;
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let client = self.client.clone();
            handle.spawn(async move {
                if let Err(e) = client.cancel(&id).await {
                    tracing::debug!(target: "sluice::databricks", error = %e, "cannot cancel a statement");
                }
            });
        }
    }
}

impl DatabricksClient {
    /// A client for the workspace, warehouse and catalog of `credentials`; statements running
    /// longer than `statement_timeout` are cancelled.
    pub fn new(credentials: &DatabricksCredentials, statement_timeout: Duration) -> Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::internal("cannot build an HTTP client").with_source(e))?;
        Ok(Self {
            http,
            base_url: credentials.base_url.clone(),
            warehouse_id: credentials.warehouse_id.clone(),
            catalog: credentials.catalog.clone(),
            tokens: Arc::new(TokenSource::new(
                credentials.auth.clone(),
                &credentials.base_url,
            )),
            statement_timeout,
        })
    }

    /// The catalog statements run in.
    pub fn catalog(&self) -> &str {
        &self.catalog
    }

    /// Send a request built by `build` with the bearer token; an OAuth token the workspace
    /// refuses (401) is renewed once.
    pub(crate) async fn send(
        &self,
        context: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut renewed = false;
        loop {
            let token = self.tokens.token(&self.http).await?;
            let response = build(&self.http)
                .bearer_auth(token.expose())
                .send()
                .await
                .map_err(|e| http_error(context, e))?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED
                && self.tokens.is_oauth()
                && !renewed
            {
                renewed = true;
                self.tokens.invalidate().await;
                continue;
            }
            return Ok(response);
        }
    }

    /// The JSON body of `response`, or the Databricks error it carries.
    pub(crate) async fn json_body(
        response: reqwest::Response,
        context: &str,
    ) -> std::result::Result<Value, Error> {
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| http_error(context, e))?;
        let body: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({"message": text}))
        };
        if !(200..300).contains(&status) {
            return Err(DatabricksError::from_body(&body, status).into_error(context));
        }
        Ok(body)
    }

    /// Run `sql` and return its rows as JSON values (as text).
    pub async fn execute(&self, sql: &str) -> Result<StatementResult> {
        self.execute_as(sql, ResultFormat::JsonArray).await
    }

    /// Run `sql` and return its result in `format`.
    pub async fn execute_as(&self, sql: &str, format: ResultFormat) -> Result<StatementResult> {
        let context = format!("statement {}", statement_kind(sql));
        let (fmt, disposition) = match format {
            ResultFormat::JsonArray => ("JSON_ARRAY", "INLINE"),
            ResultFormat::ArrowStream => ("ARROW_STREAM", "EXTERNAL_LINKS"),
        };
        let body = json!({
            "statement": sql,
            "warehouse_id": self.warehouse_id,
            "catalog": self.catalog,
            "wait_timeout": WAIT_TIMEOUT,
            "on_wait_timeout": "CONTINUE",
            "format": fmt,
            "disposition": disposition,
        });
        let url = format!("{}/api/2.0/sql/statements", self.base_url);
        let started = Instant::now();
        let mut answer = self
            .submit_with_retries(&context, |http| http.post(&url).json(&body))
            .await?;
        let statement_id = answer
            .get("statement_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut guard = CancelOnDrop {
            client: self.clone(),
            statement_id: Some(statement_id.clone()).filter(|s| !s.is_empty()),
        };
        let mut polls = 0;
        let mut pause = Duration::from_millis(100);
        loop {
            let state = answer
                .pointer("/status/state")
                .and_then(Value::as_str)
                .unwrap_or("SUCCEEDED")
                .to_string();
            match state.as_str() {
                "PENDING" | "RUNNING" => {
                    if started.elapsed() > self.statement_timeout {
                        guard.disarm();
                        let _ = self.cancel(&statement_id).await;
                        return Err(Error::transient(format!(
                            "{context} ran longer than the statement timeout of {:?} and was \
                             cancelled (statement {statement_id})",
                            self.statement_timeout
                        )));
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(5));
                    polls += 1;
                    let poll_url = format!("{url}/{statement_id}");
                    let response = self.send(&context, |http| http.get(&poll_url)).await?;
                    answer = Self::json_body(response, &context).await?;
                }
                "SUCCEEDED" => break,
                other => {
                    guard.disarm();
                    let mut err = match answer.pointer("/status/error") {
                        Some(e) => DatabricksError::from_body(e, 200),
                        None => DatabricksError {
                            error_code: other.to_string(),
                            message: format!("the statement ended in state {other}"),
                            http_status: 200,
                            statement_id: None,
                        },
                    };
                    err.statement_id = Some(statement_id);
                    return Err(err.into_error(&context));
                }
            }
        }
        guard.disarm();
        let mut result = StatementResult {
            statement_id,
            columns: manifest_columns(&answer),
            polls,
            ..Default::default()
        };
        let first = answer.get("result").cloned().unwrap_or(Value::Null);
        match format {
            ResultFormat::JsonArray => self.collect_json(first, &mut result, &context).await?,
            ResultFormat::ArrowStream => self.collect_arrow(first, &mut result, &context).await?,
        }
        Ok(result)
    }

    /// Submit, trying again while the workspace answers that it is busy (429, 503): those
    /// statements were not accepted, so sending them again cannot run them twice.
    async fn submit_with_retries(
        &self,
        context: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Value> {
        let mut pause = Duration::from_millis(500);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let response = self.send(context, &build).await?;
            let status = response.status().as_u16();
            match Self::json_body(response, context).await {
                Err(e) if matches!(status, 429 | 503) && attempt < 5 => {
                    tracing::debug!(target: "sluice::databricks", error = %e, "busy; submitting again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => return other,
            }
        }
    }

    /// Ask Databricks to cancel a statement (it may have finished already).
    pub async fn cancel(&self, statement_id: &str) -> Result<()> {
        let url = format!(
            "{}/api/2.0/sql/statements/{statement_id}/cancel",
            self.base_url
        );
        let context = "cancel a statement";
        let response = self.send(context, |http| http.post(&url)).await?;
        Self::json_body(response, context).await.map(|_| ())
    }

    /// The rows of a JSON_ARRAY result: the first chunk, then each `next_chunk_internal_link`.
    async fn collect_json(
        &self,
        mut chunk: Value,
        result: &mut StatementResult,
        context: &str,
    ) -> Result<()> {
        loop {
            if let Some(rows) = chunk.get("data_array").and_then(Value::as_array) {
                for row in rows {
                    let cells = row.as_array().map(Vec::as_slice).unwrap_or_default();
                    result.rows.push(cells.iter().map(value_text).collect());
                }
            }
            let Some(next) = chunk
                .get("next_chunk_internal_link")
                .and_then(Value::as_str)
            else {
                return Ok(());
            };
            let url = format!("{}{next}", self.base_url);
            let response = self.send(context, |http| http.get(&url)).await?;
            chunk = Self::json_body(response, context).await?;
        }
    }

    /// The batches of an ARROW_STREAM result: every external link of every chunk, fetched
    /// without the workspace token (the links are presigned cloud storage URLs).
    async fn collect_arrow(
        &self,
        mut chunk: Value,
        result: &mut StatementResult,
        context: &str,
    ) -> Result<()> {
        loop {
            let links = chunk
                .get("external_links")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let mut next = chunk
                .get("next_chunk_internal_link")
                .and_then(Value::as_str)
                .map(str::to_string);
            for link in &links {
                let Some(href) = link.get("external_link").and_then(Value::as_str) else {
                    continue;
                };
                let mut request = self.http.get(href);
                if let Some(headers) = link.get("http_headers").and_then(Value::as_object) {
                    for (k, v) in headers {
                        if let Some(v) = v.as_str() {
                            request = request.header(k, v);
                        }
                    }
                }
                let response = request.send().await.map_err(|e| http_error(context, e))?;
                if !response.status().is_success() {
                    return Err(Error::transient(format!(
                        "{context}: fetching a result chunk answered HTTP {}",
                        response.status()
                    )));
                }
                let bytes = response.bytes().await.map_err(|e| http_error(context, e))?;
                result.batches.extend(decode_arrow_stream(&bytes)?);
                if next.is_none() {
                    next = link
                        .get("next_chunk_internal_link")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                }
            }
            let Some(next) = next else {
                return Ok(());
            };
            let url = format!("{}{next}", self.base_url);
            let response = self.send(context, |http| http.get(&url)).await?;
            chunk = Self::json_body(response, context).await?;
        }
    }
}

/// The record batches of an Arrow IPC stream.
pub fn decode_arrow_stream(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| Error::destination("cannot read an Arrow result stream").with_source(e))?;
    reader
        .map(|b| {
            b.map_err(|e| Error::destination("cannot read an Arrow result batch").with_source(e))
        })
        .collect()
}

/// A JSON cell as text: real Databricks sends strings, the stand-in native JSON values.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// The columns of a statement answer's manifest.
fn manifest_columns(answer: &Value) -> Vec<ResultColumn> {
    answer
        .pointer("/manifest/schema/columns")
        .and_then(Value::as_array)
        .map(|cols| {
            cols.iter()
                .map(|c| ResultColumn {
                    name: c
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    type_text: c
                        .get("type_text")
                        .or_else(|| c.get("type_name"))
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_manifests() {
        assert_eq!(value_text(&json!("x")), Some("x".into()));
        assert_eq!(value_text(&json!(12)), Some("12".into()));
        assert_eq!(value_text(&json!(true)), Some("true".into()));
        assert_eq!(value_text(&Value::Null), None);
        let cols = manifest_columns(&json!({"manifest": {"schema": {"columns": [
            {"name": "a", "type_text": "BIGINT", "type_name": "LONG"},
            {"name": "b", "type_name": "STRING"}
        ]}}}));
        assert_eq!(cols[0].type_text.as_deref(), Some("BIGINT"));
        assert_eq!(cols[1].type_text.as_deref(), Some("STRING"));
        assert!(decode_arrow_stream(&[]).unwrap().is_empty());
        assert!(decode_arrow_stream(b"not arrow").is_err());
    }
}
