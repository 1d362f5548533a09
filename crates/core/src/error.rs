//! The one public error type of sluice.
//!
//! Every error says whether retrying the same operation may succeed ([`Error::is_retryable`]),
//! and carries a message that names the resource, table, column or setting involved.
//! Messages never contain secrets: code that builds them must redact credentials first.

use std::fmt;

/// The result type used throughout sluice.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A configuration value is missing or wrong (a setting, a credential, a flag).
    Config,
    /// Input data could not be read or parsed (malformed JSON, a missing file).
    Input,
    /// A schema contract forbids a change, or a schema is inconsistent.
    Schema,
    /// The destination rejected an operation in a way that will not change on retry.
    Destination,
    /// A transient failure: a lost connection, a timeout, a 429 or 5xx. Retrying may help.
    Transient,
    /// A source (HTTP API) answered with an error that will not change on retry.
    Source,
    /// Local storage (the pipeline working dir, a package) failed.
    Storage,
    /// The destination (or source) does not implement the operation at all (a destination
    /// without SQL asked for a query, say). Not a failure of the data or the service.
    NotImplemented,
    /// Anything else: a bug or an unexpected state.
    Internal,
}

/// The error type of sluice.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// A configuration error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }
    /// An input error.
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }
    /// A schema or contract error.
    pub fn schema(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Schema, message)
    }
    /// A terminal destination error.
    pub fn destination(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Destination, message)
    }
    /// A transient error: retrying may help.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }
    /// A local storage error.
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Storage, message)
    }
    /// An operation the destination or source does not implement.
    pub fn not_implemented(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotImplemented, message)
    }
    /// An internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the cause.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying the operation may succeed.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// Rewrite the message (to redact it, say), keeping kind and cause.
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.message = f(&self.message);
        self
    }

    /// Prefix the message with context, keeping kind and cause.
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::storage("I/O error").with_source(e)
    }
}

impl From<arrow::error::ArrowError> for Error {
    fn from(e: arrow::error::ArrowError) -> Self {
        Error::internal("Arrow error").with_source(e)
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::storage("Parquet error").with_source(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::input("JSON error").with_source(e)
    }
}

/// Extension to add context to any result whose error converts into [`Error`].
pub trait ResultExt<T> {
    /// Prefix the error message with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Error>> ResultExt<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().context(context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retryable_and_others_are_not() {
        assert!(Error::transient("timeout").is_retryable());
        assert!(!Error::config("missing").is_retryable());
    }

    #[test]
    fn context_prefixes_and_source_is_shown() {
        let e = Error::storage("write failed")
            .with_source(std::io::Error::other("disk full"))
            .context("package 1.2");
        assert_eq!(e.to_string(), "package 1.2: write failed: disk full");
        assert_eq!(e.kind(), ErrorKind::Storage);
    }
}
