//! The Redshift destination's configuration: credentials in dlt's layout, the accepted keys,
//! and [`settings`], which checks a `[destination.redshift]` section without any I/O.
//!
//! Credentials come either as a connection string
//! (`DESTINATION__REDSHIFT__CREDENTIALS=redshift://user:pass@host:5439/db?connect_timeout=15`,
//! `postgresql://` is accepted too) or as the fields of `[destination.redshift.credentials]`:
//! `database`, `username`, `password`, `host`, `port` (5439), `connect_timeout` (15 seconds)
//! and `sslmode`. They are read by the Postgres destination's credential code with Redshift's
//! [`REDSHIFT`] profile (Redshift speaks the Postgres protocol). The password is a `Secret`: it
//! never appears in `Debug` output, in `display_url` or in errors.

use sluice_core::config::ConfigSection;
use sluice_core::{DestinationConfig, Error, Result};
use sluice_postgres::{PgCredentials, Server};

pub use sluice_postgres::SslMode;

/// Keys accepted in `[destination.redshift]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[];
/// Keys accepted in `[destination.redshift.credentials]`.
pub const CREDENTIALS: &[&str] = sluice_postgres::CREDENTIALS;

/// Redshift's default port.
pub const DEFAULT_PORT: u16 = 5439;

/// Redshift for the Postgres credential code: port 5439, `redshift://` URLs (and the
/// `postgresql://` / `postgres://` ones dlt users have).
pub const REDSHIFT: Server = Server {
    name: "redshift",
    default_port: DEFAULT_PORT,
    schemes: &["redshift", "postgresql", "postgres"],
};

/// Resolved connection settings: Postgres credentials with Redshift's defaults. Fields and
/// methods (`display_url`, `pg_config`) are those of [`PgCredentials`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RedshiftCredentials(pub PgCredentials);

impl std::ops::Deref for RedshiftCredentials {
    type Target = PgCredentials;

    fn deref(&self) -> &PgCredentials {
        &self.0
    }
}

impl RedshiftCredentials {
    /// Read credentials from a `[destination.redshift]` section. The error names every missing
    /// or wrong setting and how to provide it; it never contains the password.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        PgCredentials::from_section_of(&REDSHIFT, section).map(Self)
    }

    /// Parse `redshift://user:password@host:port/database?connect_timeout=15&sslmode=…`
    /// (`postgresql://` and `postgres://` too).
    pub fn parse_url(url: &str) -> Result<Self> {
        PgCredentials::parse_url_of(&REDSHIFT, url).map(Self)
    }
}

/// Resolve the settings of a destination config (no I/O): unknown keys are rejected, the
/// credentials parsed and the dataset name checked.
pub fn settings(config: &DestinationConfig) -> Result<RedshiftCredentials> {
    config.section.reject_unknown_keys(SETTINGS, CREDENTIALS)?;
    let creds = RedshiftCredentials::from_section(&config.section)?;
    if config.dataset_name.trim().is_empty() {
        return Err(Error::config(
            "the redshift destination needs a dataset name (the Redshift schema to load into)",
        ));
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_parsed_and_redacted() {
        let c = RedshiftCredentials::parse_url(
            "redshift://loader:p%40ss@cluster.example:5440/dev?connect_timeout=5&sslmode=require",
        )
        .unwrap();
        assert_eq!(c.username, "loader");
        assert_eq!(c.password.expose(), "p@ss");
        assert_eq!((c.host.as_str(), c.port), ("cluster.example", 5440));
        assert_eq!(c.database, "dev");
        assert_eq!((c.connect_timeout, c.sslmode), (5, SslMode::Require));
        assert_eq!(
            c.display_url(),
            "redshift://loader:***@cluster.example:5440/dev"
        );
        assert!(!format!("{c:?}").contains("p@ss"));
        let c = RedshiftCredentials::parse_url("postgresql://u@h/d").unwrap();
        assert_eq!((c.port, c.sslmode), (5439, SslMode::Prefer));
    }

    #[test]
    fn broken_urls_never_show_the_password() {
        for url in [
            "redshift://u:secretpw@h:5439/",
            "mysql://u:secretpw@h/d",
            "redshift://u:secretpw@h:99999/d",
        ] {
            let e = RedshiftCredentials::parse_url(url).unwrap_err().to_string();
            assert!(!e.contains("secretpw"), "{e}");
        }
    }

    #[test]
    fn fields_default_to_port_5439_and_name_what_is_missing() {
        let section = ConfigSection::from_table(
            "destination.redshift",
            "[credentials]\nhost = \"h\"\ndatabase = \"d\"\nusername = \"u\"\npassword = \"topsecret\"\n"
                .parse()
                .unwrap(),
        );
        let c = RedshiftCredentials::from_section(&section).unwrap();
        assert_eq!((c.port, c.connect_timeout), (5439, 15));
        // Environment variables give text: numbers are read from text.
        let section = ConfigSection::from_table(
            "destination.redshift",
            "[credentials]\nhost = \"h\"\ndatabase = \"d\"\nusername = \"u\"\nport = \"5440\"\nconnect_timeout = \"3\"\n"
                .parse()
                .unwrap(),
        );
        let c = RedshiftCredentials::from_section(&section).unwrap();
        assert_eq!((c.port, c.connect_timeout), (5440, 3));
        let section = ConfigSection::from_table(
            "destination.redshift",
            "[credentials]\nusername = \"u\"\npassword = \"topsecret\"\n"
                .parse()
                .unwrap(),
        );
        let e = RedshiftCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(e.contains("database, host"), "{e}");
        assert!(!e.contains("topsecret"), "{e}");
    }
}
