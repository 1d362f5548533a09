//! Opening connections to Redshift, through the Postgres destination's wire code (plain, or
//! TLS through rustls without certificate verification, as libpq's `sslmode=prefer` and
//! `require`).

use crate::config::{RedshiftCredentials, SslMode};
use sluice_core::Result;

/// Open a connection and spawn its driver task. Errors never contain the password.
pub(crate) async fn connect(creds: &RedshiftCredentials) -> Result<tokio_postgres::Client> {
    let tls = creds.sslmode != SslMode::Disable;
    sluice_postgres::wire::connect_to("redshift", &creds.pg_config(), tls, &creds.display_url())
        .await
}
