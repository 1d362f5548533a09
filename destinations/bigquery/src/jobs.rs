//! Load jobs: uploads through the upload endpoint (`uploadType=multipart`, on reqwest with the
//! client's token) and job look-ups (jobs.get), with what became of a job.

use crate::error::{bq_error, http_error, request_error};
use gcp_bigquery_client::auth::Authenticator;
use serde_json::{Value, json};
use sluice_core::Result;
use std::sync::Arc;
use std::time::Duration;

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
            .map_err(|e| request_error(&format!("cannot look up job {job_id}"), e))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(JobState::Missing);
        }
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| request_error(&format!("job {job_id}: unreadable answer"), e))?;
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
            .map_err(|e| request_error(&format!("upload of load job {job_id} failed"), e))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .map_err(|e| request_error(&format!("load job {job_id}: unreadable answer"), e))?;
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
