//! Turning the errors of gcp-bigquery-client, of the HTTP requests on the upload endpoint and
//! of BigQuery's jobs into sluice errors of the right kind, with BigQuery's reasons and
//! messages. Rate limits, server errors, failed requests and BigQuery's backend reasons are
//! [`ErrorKind::Transient`](sluice_core::ErrorKind::Transient); the rest is a destination
//! error. No message names the destination: the pipeline adds that once.

use crate::jobs::JobError;
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::error_proto::ErrorProto;
use serde_json::Value;
use sluice_core::Error;

/// BigQuery's error (reason and message) as a sluice error.
pub(crate) fn error_from_protos(context: &str, errors: &[ErrorProto]) -> Error {
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
    let text = format!("{context}: {}", parts.join("; "));
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
pub(crate) fn bq_error(context: &str, e: BQError) -> Error {
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
            let text = format!("{context}: HTTP {}: {detail}", e.code);
            if e.code == 429 || e.code >= 500 {
                Error::transient(text)
            } else {
                Error::destination(text)
            }
        }
        BQError::RequestError(r) => Error::transient(format!("{context}: request failed: {r}")),
        other => Error::destination(format!("{context}: {other}")),
    }
}

/// Whether a client error is a 404.
pub(crate) fn is_not_found(e: &BQError) -> bool {
    matches!(e, BQError::ResponseError { error } if error.error.code == 404)
}

/// Whether a client error is a 409 (the dataset or table exists already).
pub(crate) fn is_conflict(e: &BQError) -> bool {
    matches!(e, BQError::ResponseError { error } if error.error.code == 409)
}

/// An HTTP request on the upload or jobs endpoint that got no (readable) answer: transient.
pub(crate) fn request_error(context: &str, e: reqwest::Error) -> Error {
    Error::transient(format!("{context}: {e}"))
}

/// An error answer of the upload or jobs endpoint (reasons and messages of its JSON body).
pub(crate) fn http_error(context: &str, status: reqwest::StatusCode, body: &Value) -> Error {
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
    let text = format!("{context}: HTTP {}: {detail}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() {
        Error::transient(text)
    } else {
        Error::destination(text)
    }
}

/// A load job that finished with an error.
pub(crate) fn job_failed(job_id: &str, target: &str, e: &JobError) -> Error {
    Error::destination(format!(
        "load job {job_id} into table {target} failed: {}: {}",
        e.reason, e.message
    ))
}

/// The authenticator could not be set up (yup-oauth2's errors name the problem, never the key).
pub(crate) fn auth_error(what: &str, project_id: &str, e: std::io::Error) -> Error {
    Error::config(format!(
        "cannot set up {what} for project {project_id}: {e}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn http_errors_keep_reasons_and_name_no_destination() {
        let body = json!({"error": {"message": "m", "errors": [{"reason": "invalid", "message": "bad row"}]}});
        let e = http_error(
            "load job j into table t",
            reqwest::StatusCode::BAD_REQUEST,
            &body,
        );
        assert_eq!(e.kind(), sluice_core::ErrorKind::Destination);
        assert_eq!(
            e.message(),
            "load job j into table t: HTTP 400: invalid: bad row"
        );
        let e = http_error("x", reqwest::StatusCode::SERVICE_UNAVAILABLE, &json!({}));
        assert_eq!(e.kind(), sluice_core::ErrorKind::Transient);
        assert_eq!(e.message(), "x: HTTP 503: no details");
    }

    #[test]
    fn backend_reasons_are_transient() {
        let proto = |reason: &str| ErrorProto {
            reason: Some(reason.into()),
            message: Some("m".into()),
            ..ErrorProto::default()
        };
        let e = error_from_protos("query failed", &[proto("backendError")]);
        assert_eq!(e.kind(), sluice_core::ErrorKind::Transient);
        assert_eq!(e.message(), "query failed: backendError: m");
        let e = error_from_protos("query failed", &[proto("invalidQuery")]);
        assert_eq!(e.kind(), sluice_core::ErrorKind::Destination);
    }
}
