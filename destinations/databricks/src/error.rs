//! Databricks' errors mapped to sluice errors, in one place: the `error_code` and `message` of a
//! failed request or statement ([`DatabricksError`]), and transport failures. Messages say what
//! failed; the pipeline adds the destination's name. Tokens travel in headers, never in URLs or
//! messages.

use serde_json::Value;
use sluice_core::Error;
use std::fmt;

/// An error reported by Databricks: its error code, message and, for statements, the statement
/// id and SQL state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabricksError {
    /// Databricks' error code (`INVALID_PARAMETER_VALUE`, `TABLE_OR_VIEW_NOT_FOUND`, …).
    pub error_code: String,
    /// Databricks' message.
    pub message: String,
    /// The HTTP status of the answer (200 for a statement that ran and failed).
    pub http_status: u16,
    /// The statement id, when a statement got one.
    pub statement_id: Option<String>,
}

impl fmt::Display for DatabricksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "databricks error {}", self.error_code)?;
        if self.http_status != 200 {
            write!(f, " (HTTP {})", self.http_status)?;
        }
        write!(f, ": {}", self.message.trim())
    }
}

impl std::error::Error for DatabricksError {}

impl DatabricksError {
    /// The error of an answer body (`{"error_code": …, "message": …}`, or a statement
    /// status's `error`), with what is missing filled in.
    pub fn from_body(body: &Value, http_status: u16) -> Self {
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        Self {
            error_code: text("error_code")
                .or_else(|| text("error"))
                .unwrap_or_else(|| "UNKNOWN".into()),
            message: text("message")
                .or_else(|| text("detail"))
                .unwrap_or_else(|| "no message".into()),
            http_status,
            statement_id: None,
        }
    }

    /// Whether trying again later may succeed: rate limits and temporary unavailability.
    pub fn is_transient(&self) -> bool {
        matches!(self.http_status, 429 | 502 | 503 | 504)
            || matches!(
                self.error_code.as_str(),
                "TEMPORARILY_UNAVAILABLE" | "REQUEST_LIMIT_EXCEEDED"
            )
    }

    /// The sluice error of this Databricks error, for `context`.
    pub fn into_error(self, context: &str) -> Error {
        let e = if self.is_transient() {
            Error::transient(format!("{context} failed"))
        } else {
            Error::destination(format!("{context} failed"))
        };
        e.with_source(self)
    }
}

/// Whether a sluice error was caused by a Databricks error, and which.
pub fn databricks_error(err: &Error) -> Option<&DatabricksError> {
    std::error::Error::source(err)?.downcast_ref::<DatabricksError>()
}

/// A transient error for a failed HTTP exchange (`context` says which).
pub(crate) fn http_error(context: &str, e: reqwest::Error) -> Error {
    // reqwest errors name the URL, which never holds a secret here (tokens go in headers).
    Error::transient(format!("{context}: the request failed")).with_source(e.without_url())
}

/// The error of a query run for a caller ([`sluice_core::Destination::query`]): Databricks'
/// code and message in the text, or the error as it is when Databricks did not answer.
pub(crate) fn query_error(e: Error) -> Error {
    match databricks_error(&e) {
        Some(de) => Error::destination(format!("query failed: {de}")),
        None => e.context("query failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_become_errors() {
        let e = DatabricksError::from_body(
            &serde_json::json!({"error_code": "TABLE_OR_VIEW_NOT_FOUND", "message": "no t"}),
            200,
        );
        assert_eq!(
            e.to_string(),
            "databricks error TABLE_OR_VIEW_NOT_FOUND: no t"
        );
        assert!(!e.is_transient());
        let e = DatabricksError::from_body(&serde_json::json!({"message": "slow down"}), 429);
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "databricks error UNKNOWN (HTTP 429): slow down"
        );
        let err = e.clone().into_error("run a statement");
        assert!(err.is_retryable());
        assert_eq!(databricks_error(&err), Some(&e));
    }
}
