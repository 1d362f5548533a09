//! Redshift's errors, mapped by the Postgres destination's wire code once for both: the
//! server's severity, message, detail and SQLSTATE; a lost connection, a server that is
//! shutting down or a serializable-isolation violation is transient; a rejected login or an
//! unknown database is a config error.

pub(crate) use sluice_postgres::wire::pg_error as db_error;
