//! Turning tokio-postgres errors into sluice errors of the right kind (shared with the
//! Redshift destination through [`crate::wire`]).

use sluice_core::{Error, ErrorKind};

/// The kind of a tokio-postgres error: a lost connection, a timeout, a server that is
/// shutting down or overloaded, or a serialization conflict (Postgres' `40001`, Redshift's
/// "Serializable isolation violation") is [`ErrorKind::Transient`]; a rejected statement is
/// [`ErrorKind::Destination`].
pub fn classify(e: &tokio_postgres::Error) -> ErrorKind {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        // 08: connection exception; 53: insufficient resources; 57P01-03: shutdown / cannot
        // connect now; 40001 / 40P01: serialization failure / deadlock.
        if code.starts_with("08")
            || code.starts_with("53")
            || matches!(code, "57P01" | "57P02" | "57P03" | "40001" | "40P01")
            || db.message().contains("Serializable isolation violation")
        {
            return ErrorKind::Transient;
        }
        return ErrorKind::Destination;
    }
    if e.is_closed() {
        return ErrorKind::Transient;
    }
    // Without a server error the failure is in the transport: I/O, timeouts, a closed socket
    // or a TLS failure on the wire.
    let text = e.to_string();
    if text.contains("error serializing")
        || text.contains("error deserializing")
        || text.contains("invalid configuration")
        || text.contains("unexpected message")
    {
        return ErrorKind::Destination;
    }
    ErrorKind::Transient
}

/// A sluice error for a failed operation on the server: `context`, then the server's
/// severity, message, detail and SQLSTATE.
pub fn pg_error(context: impl Into<String>, e: tokio_postgres::Error) -> Error {
    let kind = classify(&e);
    let mut message = context.into();
    if let Some(db) = e.as_db_error() {
        let mut detail = format!("{}: {}", db.severity(), db.message());
        if let Some(d) = db.detail() {
            detail.push_str(&format!(" ({d})"));
        }
        if let Some(w) = db.where_() {
            detail.push_str(&format!(" [{w}]"));
        }
        message = format!("{message}: {detail} (SQLSTATE {})", db.code().code());
        return Error::new(kind, message);
    }
    Error::new(kind, message).with_source(e)
}

/// A sluice error for a failed connection to `server` at `where_` (a URL without the
/// password): a rejected login or an unknown database is a [`ErrorKind::Config`] error.
pub fn connect_error(server: &str, where_: &str, e: tokio_postgres::Error) -> Error {
    let kind = match e.as_db_error().map(|db| db.code().code()) {
        // 28xxx: invalid authorization (wrong password, unknown role); 3D000: unknown database.
        Some(code) if code.starts_with("28") || code == "3D000" => ErrorKind::Config,
        _ => classify(&e),
    };
    let detail = e
        .as_db_error()
        .map(|db| format!(": {} (SQLSTATE {})", db.message(), db.code().code()))
        .unwrap_or_default();
    Error::new(
        kind,
        format!("cannot connect to {server} at {where_}{detail}"),
    )
    .with_source(e)
}
