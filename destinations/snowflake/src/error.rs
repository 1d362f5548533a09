//! Snowflake's errors mapped to sluice errors, in one place: the code, SQL state and message
//! of an answer with `success: false` ([`SnowflakeError`]), and transport failures. Messages say
//! what failed; the pipeline adds the destination's name.

use serde_json::Value;
use sluice_core::Error;
use std::fmt;

/// An error reported by Snowflake: its code, SQL state and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnowflakeError {
    /// Snowflake's error code (`002003`).
    pub code: String,
    /// The SQL state (`42S02`), when given.
    pub sql_state: Option<String>,
    /// Snowflake's message.
    pub message: String,
    /// The query id, when the statement got one.
    pub query_id: Option<String>,
}

impl fmt::Display for SnowflakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snowflake error {}", self.code)?;
        if let Some(s) = &self.sql_state {
            write!(f, " ({s})")?;
        }
        write!(f, ": {}", self.message.trim())
    }
}

impl std::error::Error for SnowflakeError {}

/// Whether a sluice error was caused by a Snowflake error, and which.
pub fn snowflake_error(err: &Error) -> Option<&SnowflakeError> {
    std::error::Error::source(err)?.downcast_ref::<SnowflakeError>()
}

/// A transient error for a failed HTTP exchange (`context` says which).
pub(crate) fn http_error(context: &str, e: reqwest::Error) -> Error {
    // reqwest errors name the URL, which never holds a secret here (tokens go in headers).
    Error::transient(context.to_string()).with_source(e)
}

/// The Snowflake error of an answer with `success: false`.
pub(crate) fn sf_error(body: &Value) -> SnowflakeError {
    let data = body.get("data");
    let code = body
        .get("code")
        .and_then(|c| {
            c.as_str()
                .map(str::to_string)
                .or_else(|| c.as_i64().map(|n| format!("{n:06}")))
        })
        .or_else(|| {
            data.and_then(|d| d.get("errorCode"))
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".into());
    SnowflakeError {
        code,
        sql_state: data
            .and_then(|d| d.get("sqlState"))
            .and_then(|s| s.as_str())
            .map(str::to_string),
        message: body
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("no message")
            .to_string(),
        query_id: data
            .and_then(|d| d.get("queryId"))
            .and_then(|s| s.as_str())
            .map(str::to_string),
    }
}

/// The error of a statement Snowflake rejected: `context` names the statement, the source is
/// Snowflake's code and message.
pub(crate) fn statement_error(context: &str, err: SnowflakeError) -> Error {
    Error::destination(format!("{context} failed")).with_source(err)
}

/// The error of a query run for a caller ([`sluice_core::Destination::query`]): Snowflake's
/// code and message in the text, or the error as it is when Snowflake did not answer.
pub(crate) fn query_error(e: Error) -> Error {
    match snowflake_error(&e) {
        Some(se) => Error::destination(format!("query failed: {se}")),
        None => e.context("query failed"),
    }
}
