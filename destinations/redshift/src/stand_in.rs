//! A Postgres database that runs the SQL this crate sends to Redshift, for tests without a
//! cluster. Postgres speaks the same protocol but lacks some of Redshift's types and functions;
//! [`prepare_database`] creates a fresh database with stand-ins for exactly those, so the
//! statements sluice sends run unchanged:
//!
//! - `super` is a domain over `jsonb`, and `JSON_PARSE(text)` returns `jsonb`;
//! - `varbinary` is a domain over `bytea` (without a length: a Postgres domain takes no type
//!   modifier, so a `varbinary(n)` column fails here), and `FROM_HEX(text)` decodes hex;
//! - `standard_conforming_strings` is off, so a backslash in a string literal is an escape, as
//!   it is on Redshift.
//!
//! What the stand-in cannot show: Redshift's own limits (16 MB statements, `varchar` lengths in
//! bytes, serializable-isolation conflicts), its `super` semantics (navigation, case
//! sensitivity of keys) and its error texts. Only a real cluster shows those.

use sluice_core::{Error, Result};
use std::str::FromStr;

/// Statements that make a fresh Postgres database a Redshift stand-in.
pub const SETUP: &[&str] = &[
    "CREATE DOMAIN super AS jsonb",
    "CREATE DOMAIN varbinary AS bytea",
    "CREATE FUNCTION json_parse(text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$ SELECT $1::jsonb $$",
    "CREATE FUNCTION from_hex(text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$ SELECT decode($1, 'hex') $$",
];

/// (Re)create database `name` on the Postgres server at `admin_url` (a `postgresql://` URL of
/// a user that may create databases) as a Redshift stand-in, and return its URL.
pub async fn prepare_database(admin_url: &str, name: &str) -> Result<String> {
    let admin = open(admin_url).await?;
    let ident = format!("\"{}\"", name.replace('"', "\"\""));
    for sql in [
        format!("DROP DATABASE IF EXISTS {ident} WITH (FORCE)"),
        format!("CREATE DATABASE {ident}"),
        format!("ALTER DATABASE {ident} SET standard_conforming_strings = off"),
        format!("ALTER DATABASE {ident} SET escape_string_warning = off"),
    ] {
        admin.batch_execute(&sql).await.map_err(|e| {
            Error::destination(format!("stand-in setup failed: {sql}")).with_source(e)
        })?;
    }
    let url = with_database(admin_url, name);
    let db = open(&url).await?;
    for sql in SETUP {
        db.batch_execute(sql).await.map_err(|e| {
            Error::destination(format!("stand-in setup failed: {sql}")).with_source(e)
        })?;
    }
    Ok(url)
}

/// Drop database `name` (a test's stand-in, when the test is done), ending its sessions.
pub async fn drop_database(admin_url: &str, name: &str) -> Result<()> {
    let admin = open(admin_url).await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    admin
        .batch_execute(&sql)
        .await
        .map_err(|e| Error::destination(format!("cannot drop {name}")).with_source(e))
}

/// `url` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = main.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match main[scheme_end..].find('/') {
        Some(i) => &main[..scheme_end + i],
        None => main,
    };
    format!("{base}/{name}{query}")
}

async fn open(url: &str) -> Result<tokio_postgres::Client> {
    let config = tokio_postgres::Config::from_str(url)
        .map_err(|e| Error::config("invalid stand-in URL").with_source(e))?;
    let (client, conn) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| Error::transient("cannot reach the stand-in server").with_source(e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_is_replaced() {
        use super::with_database;
        assert_eq!(
            with_database("postgresql://postgres@127.0.0.1:5432/postgres", "x"),
            "postgresql://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h:1/db?sslmode=disable", "y"),
            "postgresql://u:p@h:1/y?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "z"), "postgresql://h/z");
    }
}
