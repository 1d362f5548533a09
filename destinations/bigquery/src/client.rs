//! The wire side: authentication, the gcp-bigquery-client for datasets, tables and queries,
//! and load jobs through the upload endpoint on reqwest.

use crate::config::{BigQuerySettings, Credentials};
use arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder,
    Int64Builder, StringBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType as ArrowType, Field, Schema as ArrowSchema, TimeUnit};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use base64::Engine;
use gcp_bigquery_client::auth::Authenticator;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::data_format_options::DataFormatOptions;
use gcp_bigquery_client::model::error_proto::ErrorProto;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::query_response::QueryResponse;
use gcp_bigquery_client::model::table_field_schema::TableFieldSchema;
use gcp_bigquery_client::model::table_row::TableRow;
use serde_json::{Value, json};
use sluice_core::sql::statement_kind;
use sluice_core::{Error, Result, Secret};
use std::sync::Arc;
use std::time::Duration;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";

/// A fixed token (an `access_token` credential, or an empty one for an emulator).
#[derive(Clone)]
struct FixedToken(Secret);

#[async_trait]
impl Authenticator for FixedToken {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok(self.0.expose().to_string())
    }
}

/// A yup-oauth2 authenticator (service account or application-default credentials).
#[derive(Clone)]
struct YupToken(gcp_bigquery_client::yup_oauth2::authenticator::DefaultAuthenticator);

#[async_trait]
impl Authenticator for YupToken {
    async fn access_token(&self) -> std::result::Result<String, BQError> {
        Ok(self
            .0
            .token(&[SCOPE])
            .await?
            .token()
            .ok_or(BQError::NoToken)?
            .to_string())
    }
}

/// Build the authenticator for the configured credentials.
pub async fn authenticator(settings: &BigQuerySettings) -> Result<Arc<dyn Authenticator>> {
    use gcp_bigquery_client::yup_oauth2 as yup;
    let auth_err = |what: &str, e: std::io::Error| {
        Error::config(format!(
            "bigquery: cannot set up {what} for project {}: {e}",
            settings.project_id
        ))
    };
    Ok(match &settings.credentials {
        Credentials::AccessToken(t) => Arc::new(FixedToken(t.clone())),
        Credentials::Anonymous => Arc::new(FixedToken(Secret::new("anonymous"))),
        Credentials::ServiceAccount {
            client_email,
            private_key,
            private_key_id,
            token_uri,
        } => {
            let key = yup::ServiceAccountKey {
                key_type: Some("service_account".into()),
                project_id: Some(settings.project_id.clone()),
                private_key_id: private_key_id.clone(),
                private_key: private_key.expose().to_string(),
                client_email: client_email.clone(),
                client_id: None,
                auth_uri: None,
                token_uri: token_uri.clone(),
                auth_provider_x509_cert_url: None,
                client_x509_cert_url: None,
            };
            // The key's text never reaches the message: yup's errors name the problem only.
            let auth = yup::ServiceAccountAuthenticator::builder(key)
                .build()
                .await
                .map_err(|e| auth_err("the service account", e))?;
            Arc::new(YupToken(auth))
        }
        Credentials::ApplicationDefault => {
            let opts = yup::ApplicationDefaultCredentialsFlowOpts::default();
            let auth = match yup::ApplicationDefaultCredentialsAuthenticator::builder(opts).await {
                yup::authenticator::ApplicationDefaultCredentialsTypes::InstanceMetadata(a) => {
                    a.build().await
                }
                yup::authenticator::ApplicationDefaultCredentialsTypes::ServiceAccount(a) => {
                    a.build().await
                }
            }
            .map_err(|e| auth_err("application-default credentials", e))?;
            Arc::new(YupToken(auth))
        }
    })
}

/// BigQuery's error (reason and message) as a sluice error.
pub fn error_from_protos(context: &str, errors: &[ErrorProto]) -> Error {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.reason.as_deref().unwrap_or("error"),
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    let text = format!("bigquery: {context}: {}", parts.join("; "));
    let transient = errors.iter().any(|e| {
        matches!(
            e.reason.as_deref(),
            Some("backendError" | "rateLimitExceeded" | "internalError" | "jobBackendError")
        )
    });
    if transient {
        Error::transient(text)
    } else {
        Error::destination(text)
    }
}

/// A client error as a sluice error (reason and message of BigQuery's answer when there is one).
pub fn bq_error(context: &str, e: BQError) -> Error {
    match e {
        BQError::ResponseError { error } => {
            let e = &error.error;
            let reasons: Vec<String> = e
                .errors
                .iter()
                .map(|m| {
                    format!(
                        "{}: {}",
                        m.get("reason").map(String::as_str).unwrap_or("error"),
                        m.get("message").map(String::as_str).unwrap_or(&e.message)
                    )
                })
                .collect();
            let detail = if reasons.is_empty() {
                e.message.clone()
            } else {
                reasons.join("; ")
            };
            let text = format!("bigquery: {context}: HTTP {}: {detail}", e.code);
            if e.code == 429 || e.code >= 500 {
                Error::transient(text)
            } else {
                Error::destination(text)
            }
        }
        BQError::RequestError(r) => {
            Error::transient(format!("bigquery: {context}: request failed: {r}"))
        }
        other => Error::destination(format!("bigquery: {context}: {other}")),
    }
}

/// Whether a client error is a 404.
pub fn is_not_found(e: &BQError) -> bool {
    matches!(e, BQError::ResponseError { error } if error.error.code == 404)
}

/// The result of one statement: rows (with schema) and DML counts.
#[derive(Debug, Default)]
pub struct QueryResult {
    /// Result fields.
    pub fields: Vec<TableFieldSchema>,
    /// All rows.
    pub rows: Vec<TableRow>,
    /// Rows changed by a DML statement.
    pub dml_rows: u64,
}

/// Run one statement with jobs.query, wait for it, and page through all rows.
pub async fn run_query(
    client: &gcp_bigquery_client::Client,
    settings: &BigQuerySettings,
    sql: &str,
    context: &str,
) -> Result<QueryResult> {
    let mut req = QueryRequest::new(sql);
    req.use_legacy_sql = false;
    req.location = Some(settings.location.clone());
    req.timeout_ms = Some(60_000);
    req.format_options = Some(DataFormatOptions {
        use_int64_timestamp: Some(true),
    });
    tracing::trace!(target: "sluice::bigquery", statement = %statement_kind(sql), "query");
    let mut resp: QueryResponse = client
        .job()
        .query(&settings.project_id, req)
        .await
        .map_err(|e| bq_error(context, e))?;
    loop {
        if let Some(errors) = resp.errors.as_ref().filter(|e| !e.is_empty()) {
            return Err(error_from_protos(context, errors));
        }
        if resp.job_complete.unwrap_or(true) {
            break;
        }
        let job_id = job_id_of(&resp, context)?;
        resp = client
            .job()
            .get_query_results(
                &settings.project_id,
                &job_id,
                GetQueryResultsParameters {
                    location: Some(settings.location.clone()),
                    timeout_ms: Some(60_000),
                    format_options: Some(DataFormatOptions {
                        use_int64_timestamp: Some(true),
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| bq_error(context, e))?
            .into();
    }
    let mut out = QueryResult {
        fields: resp
            .schema
            .as_ref()
            .and_then(|s| s.fields.clone())
            .unwrap_or_default(),
        dml_rows: resp
            .num_dml_affected_rows
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
        rows: resp.rows.take().unwrap_or_default(),
    };
    let mut page_token = resp.page_token.clone();
    while let Some(token) = page_token.filter(|t| !t.is_empty()) {
        let job_id = job_id_of(&resp, context)?;
        let page = client
            .job()
            .get_query_results(
                &settings.project_id,
                &job_id,
                GetQueryResultsParameters {
                    location: Some(settings.location.clone()),
                    page_token: Some(token),
                    format_options: Some(DataFormatOptions {
                        use_int64_timestamp: Some(true),
                    }),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| bq_error(context, e))?;
        if let Some(errors) = page.errors.as_ref().filter(|e| !e.is_empty()) {
            return Err(error_from_protos(context, errors));
        }
        out.rows.extend(page.rows.unwrap_or_default());
        page_token = page.page_token;
    }
    Ok(out)
}

fn job_id_of(resp: &QueryResponse, context: &str) -> Result<String> {
    resp.job_reference
        .as_ref()
        .and_then(|r| r.job_id.clone())
        .ok_or_else(|| Error::destination(format!("bigquery: {context}: the answer has no job id")))
}

/// The type name of a field, upper case (`INTEGER`, `STRING`, …).
fn field_type_name(f: &TableFieldSchema) -> String {
    serde_json::to_value(&f.r#type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "STRING".into())
}

/// The Arrow type of a BigQuery result field.
fn arrow_type(f: &TableFieldSchema) -> ArrowType {
    if f.mode.as_deref() == Some("REPEATED") {
        return ArrowType::Utf8;
    }
    match field_type_name(f).as_str() {
        "INTEGER" | "INT64" => ArrowType::Int64,
        "FLOAT" | "FLOAT64" => ArrowType::Float64,
        "BOOLEAN" | "BOOL" => ArrowType::Boolean,
        "TIMESTAMP" => ArrowType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        "DATETIME" => ArrowType::Timestamp(TimeUnit::Microsecond, None),
        "DATE" => ArrowType::Date32,
        "TIME" => ArrowType::Time64(TimeUnit::Microsecond),
        "NUMERIC" => ArrowType::Decimal128(38, 9),
        "BYTES" => ArrowType::Binary,
        _ => ArrowType::Utf8,
    }
}

fn cell_text(row: &TableRow, i: usize) -> Option<String> {
    let v = row.columns.as_ref()?.get(i)?.value.as_ref()?;
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn parse_micros_timestamp(s: &str) -> Option<i64> {
    if let Ok(us) = s.parse::<i64>() {
        return Some(us);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1_000_000.0).round() as i64);
    }
    let t = s.trim_end_matches(" UTC").replace(' ', "T");
    chrono::DateTime::parse_from_rfc3339(&t)
        .ok()
        .map(|t| t.timestamp_micros())
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        })
}

fn parse_time_micros(s: &str) -> Option<i64> {
    let t = chrono::NaiveTime::parse_from_str(s, "%H:%M:%S%.f").ok()?;
    use chrono::Timelike;
    Some(i64::from(t.num_seconds_from_midnight()) * 1_000_000 + i64::from(t.nanosecond() / 1000))
}

fn parse_decimal(s: &str, scale: u32) -> Option<i128> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if frac.len() > scale as usize {
        return None;
    }
    let mut text = String::with_capacity(int.len() + scale as usize);
    text.push_str(if int.is_empty() { "0" } else { int });
    text.push_str(frac);
    for _ in frac.len()..scale as usize {
        text.push('0');
    }
    let v: i128 = text.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// Turn query rows into one Arrow batch, with BigQuery's result types mapped to Arrow.
pub fn to_record_batch(result: &QueryResult) -> Result<RecordBatch> {
    let fields: Vec<Field> = result
        .fields
        .iter()
        .map(|f| Field::new(&f.name, arrow_type(f), true))
        .collect();
    let schema = Arc::new(ArrowSchema::new(fields));
    let n = result.rows.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(result.fields.len());
    for (i, f) in result.fields.iter().enumerate() {
        let bad = |v: &str| {
            Error::destination(format!(
                "bigquery: cannot read value '{v}' of column {} as {}",
                f.name,
                field_type_name(f)
            ))
        };
        let texts = result.rows.iter().map(|r| cell_text(r, i));
        let array: ArrayRef = match arrow_type(f) {
            ArrowType::Int64 => {
                let mut b = Int64Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(t.parse().map_err(|_| bad(&t))?),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Float64 => {
                let mut b = Float64Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(match t.as_str() {
                            "NaN" => f64::NAN,
                            "Infinity" => f64::INFINITY,
                            "-Infinity" => f64::NEG_INFINITY,
                            _ => t.parse().map_err(|_| bad(&t))?,
                        }),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Boolean => {
                let mut b = BooleanBuilder::with_capacity(n);
                for t in texts {
                    match t.as_deref() {
                        None => b.append_null(),
                        Some("true" | "TRUE" | "True") => b.append_value(true),
                        Some("false" | "FALSE" | "False") => b.append_value(false),
                        Some(other) => return Err(bad(other)),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Timestamp(_, tz) => {
                let mut b = TimestampMicrosecondBuilder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            b.append_value(parse_micros_timestamp(&t).ok_or_else(|| bad(&t))?)
                        }
                    }
                }
                Arc::new(b.finish().with_timezone_opt(tz))
            }
            ArrowType::Date32 => {
                let mut b = Date32Builder::with_capacity(n);
                let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch");
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            let d = chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d")
                                .map_err(|_| bad(&t))?;
                            b.append_value((d - epoch).num_days() as i32)
                        }
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Time64(_) => {
                let mut b = Time64MicrosecondBuilder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(parse_time_micros(&t).ok_or_else(|| bad(&t))?),
                    }
                }
                Arc::new(b.finish())
            }
            ArrowType::Decimal128(p, s) => {
                let mut b = Decimal128Builder::with_capacity(n);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => {
                            b.append_value(parse_decimal(&t, s as u32).ok_or_else(|| bad(&t))?)
                        }
                    }
                }
                Arc::new(b.finish().with_precision_and_scale(p, s)?)
            }
            ArrowType::Binary => {
                let mut b = BinaryBuilder::with_capacity(n, 0);
                for t in texts {
                    match t {
                        None => b.append_null(),
                        Some(t) => b.append_value(
                            base64::engine::general_purpose::STANDARD
                                .decode(&t)
                                .map_err(|_| bad(&t))?,
                        ),
                    }
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::with_capacity(n, 0);
                for t in texts {
                    b.append_option(t);
                }
                Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    if columns.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Load jobs through the upload endpoint (reqwest, multipart), with the client's token.
pub struct Uploader {
    /// HTTP client for uploads and job look-ups.
    pub http: reqwest::Client,
    /// The token source.
    pub auth: Arc<dyn Authenticator>,
    /// The upload root (`…/upload/bigquery/v2`).
    pub upload_root: String,
    /// The REST root (`…/bigquery/v2`).
    pub rest_root: String,
    /// Project of the jobs.
    pub project_id: String,
    /// Location of the jobs.
    pub location: String,
}

/// What became of a load job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// No job with that id.
    Missing,
    /// Pending or running.
    Running,
    /// Done without errors; rows loaded.
    Succeeded(u64),
    /// Done with an error.
    Failed(JobError),
}

/// A job's error, kept as text (reason and message).
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// BigQuery's reason.
    pub reason: String,
    /// BigQuery's message.
    pub message: String,
}

impl Uploader {
    async fn token(&self) -> Result<String> {
        self.auth
            .access_token()
            .await
            .map_err(|e| bq_error("cannot get an access token", e))
    }

    /// The state of job `job_id` (jobs.get).
    pub async fn job_state(&self, job_id: &str) -> Result<JobState> {
        let url = format!(
            "{}/projects/{}/jobs/{}",
            self.rest_root, self.project_id, job_id
        );
        let resp = self
            .http
            .get(&url)
            .query(&[("location", self.location.as_str())])
            .bearer_auth(self.token().await?)
            .send()
            .await
            .map_err(|e| Error::transient(format!("bigquery: cannot look up job {job_id}: {e}")))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(JobState::Missing);
        }
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            Error::transient(format!("bigquery: job {job_id}: unreadable answer: {e}"))
        })?;
        if !status.is_success() {
            return Err(http_error(
                &format!("cannot look up job {job_id}"),
                status,
                &body,
            ));
        }
        Ok(state_of(&body))
    }

    /// Upload `data` (NDJSON) as a load job with id `job_id` into `table` of `dataset`.
    /// Returns the job's state as the server reports it and the id the server gave the job
    /// (which equals `job_id` on BigQuery).
    pub async fn submit(
        &self,
        job_id: &str,
        dataset: &str,
        table: &str,
        write_disposition: &str,
        data: Vec<u8>,
        timeout: Duration,
    ) -> Result<(JobState, String)> {
        let meta = json!({
            "jobReference": {"projectId": self.project_id, "jobId": job_id, "location": self.location},
            "configuration": {"load": {
                "destinationTable": {"projectId": self.project_id, "datasetId": dataset, "tableId": table},
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "writeDisposition": write_disposition,
                "createDisposition": "CREATE_NEVER",
                "maxBadRecords": 0,
                "ignoreUnknownValues": false,
            }}
        });
        let boundary = format!("sluice_{}", rand::random::<u64>());
        let mut body = Vec::with_capacity(data.len() + 1024);
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{meta}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&data);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/projects/{}/jobs?uploadType=multipart",
            self.upload_root, self.project_id
        );
        let resp = self
            .http
            .post(&url)
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/related; boundary={boundary}"),
            )
            .bearer_auth(self.token().await?)
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                Error::transient(format!("bigquery: upload of load job {job_id} failed: {e}"))
            })?;
        let status = resp.status();
        let body: Value = resp.json().await.map_err(|e| {
            Error::transient(format!(
                "bigquery: load job {job_id}: unreadable answer: {e}"
            ))
        })?;
        if status == reqwest::StatusCode::CONFLICT {
            // The job exists already (a retry after a lost answer): its state tells.
            return Ok((self.job_state(job_id).await?, job_id.to_string()));
        }
        if !status.is_success() {
            return Err(http_error(
                &format!("load job {job_id} into table {table}"),
                status,
                &body,
            ));
        }
        let actual = body["jobReference"]["jobId"]
            .as_str()
            .unwrap_or(job_id)
            .to_string();
        Ok((state_of(&body), actual))
    }
}

fn http_error(context: &str, status: reqwest::StatusCode, body: &Value) -> Error {
    let err = &body["error"];
    let reasons: Vec<String> = err["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    format!(
                        "{}: {}",
                        e["reason"].as_str().unwrap_or("error"),
                        e["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let detail = if reasons.is_empty() {
        err["message"].as_str().unwrap_or("no details").to_string()
    } else {
        reasons.join("; ")
    };
    let text = format!("bigquery: {context}: HTTP {}: {detail}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() {
        Error::transient(text)
    } else {
        Error::destination(text)
    }
}

fn state_of(job: &Value) -> JobState {
    let status = &job["status"];
    match status["state"].as_str() {
        Some("DONE") => {
            if let Some(e) = status.get("errorResult").filter(|e| !e.is_null()) {
                JobState::Failed(JobError {
                    reason: e["reason"].as_str().unwrap_or("error").to_string(),
                    message: e["message"].as_str().unwrap_or("").to_string(),
                })
            } else {
                let rows = job["statistics"]["load"]["outputRows"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    .or_else(|| job["statistics"]["load"]["outputRows"].as_u64())
                    .unwrap_or(0);
                JobState::Succeeded(rows)
            }
        }
        _ => JobState::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_times_parse() {
        assert_eq!(parse_decimal("1.25", 9), Some(1_250_000_000));
        assert_eq!(parse_decimal("-3", 2), Some(-300));
        assert_eq!(parse_time_micros("01:02:03.5"), Some(3_723_500_000));
        assert_eq!(
            parse_micros_timestamp("1767261600123456"),
            Some(1_767_261_600_123_456)
        );
        assert_eq!(
            parse_micros_timestamp("1.7672616E9"),
            Some(1_767_261_600_000_000)
        );
    }

    #[test]
    fn job_states_are_read() {
        let ok = json!({"status": {"state": "DONE"}, "statistics": {"load": {"outputRows": "4"}}});
        assert_eq!(state_of(&ok), JobState::Succeeded(4));
        let bad = json!({"status": {"state": "DONE", "errorResult": {"reason": "invalid", "message": "m"}}});
        assert!(matches!(state_of(&bad), JobState::Failed(e) if e.reason == "invalid"));
        assert_eq!(
            state_of(&json!({"status": {"state": "RUNNING"}})),
            JobState::Running
        );
    }
}
