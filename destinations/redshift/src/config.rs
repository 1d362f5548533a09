//! The Redshift destination's configuration: credentials in dlt's layout, the accepted keys,
//! and [`settings`], which checks a `[destination.redshift]` section without any I/O.
//!
//! Credentials come either as a connection string
//! (`DESTINATION__REDSHIFT__CREDENTIALS=redshift://user:pass@host:5439/db?connect_timeout=15`,
//! `postgresql://` is accepted too) or as the fields of `[destination.redshift.credentials]`:
//! `database`, `username`, `password`, `host`, `port` (5439), `connect_timeout` (15 seconds)
//! and `sslmode`. The password is a [`Secret`]: it never appears in `Debug` output, in
//! [`RedshiftCredentials::display_url`] or in errors.

use serde::{Deserialize, Deserializer};
use sluice_core::config::{ConfigSection, Credentials, Secret, de, redact_url};
use sluice_core::{DestinationConfig, Error, Result};
use std::fmt;
use std::time::Duration;

/// Keys accepted in `[destination.redshift]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[];
/// Keys accepted in `[destination.redshift.credentials]`.
pub const CREDENTIALS: &[&str] = &[
    "database",
    "username",
    "password",
    "host",
    "port",
    "connect_timeout",
    "sslmode",
];

/// Redshift's default port.
pub const DEFAULT_PORT: u16 = 5439;

/// How TLS is used, as libpq's `sslmode` (without certificate verification, like libpq's
/// `prefer` and `require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Use TLS when the server offers it (the default; Redshift offers it).
    #[default]
    Prefer,
    /// Fail unless the connection uses TLS.
    Require,
}

impl SslMode {
    /// Parse `disable`, `allow`, `prefer` or `require` (`allow` is treated as `prefer`).
    pub fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "disable" => Ok(Self::Disable),
            "allow" | "prefer" => Ok(Self::Prefer),
            "require" => Ok(Self::Require),
            other => Err(Error::config(format!(
                "unsupported redshift sslmode '{other}': use disable, prefer or require"
            ))),
        }
    }
}

/// Resolved connection settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RedshiftCredentials {
    /// Database name.
    pub database: String,
    /// User to connect as.
    pub username: String,
    /// Password.
    pub password: Secret,
    /// Host name of the cluster or workgroup endpoint.
    pub host: String,
    /// TCP port (5439 by default).
    pub port: u16,
    /// Connection timeout in seconds.
    pub connect_timeout: u64,
    /// TLS mode.
    pub sslmode: SslMode,
}

impl fmt::Debug for RedshiftCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedshiftCredentials")
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("connect_timeout", &self.connect_timeout)
            .field("sslmode", &self.sslmode)
            .finish()
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

/// The fields of `[destination.redshift.credentials]` as written (environment variables give
/// text: numbers are read from text too, and text fields take numbers as text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    #[serde(default, deserialize_with = "opt_text")]
    database: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default, deserialize_with = "opt_text")]
    host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_number")]
    port: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    connect_timeout: Option<u64>,
    #[serde(default, deserialize_with = "opt_text")]
    sslmode: Option<String>,
}

/// An optional text setting: a string, or a number or boolean taken as its text. A table or a
/// list is refused without showing it.
fn opt_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<toml::Value>::deserialize(deserializer)? {
        None => None,
        Some(toml::Value::String(s)) => Some(s),
        Some(toml::Value::Integer(i)) => Some(i.to_string()),
        Some(toml::Value::Float(f)) => Some(f.to_string()),
        Some(toml::Value::Boolean(b)) => Some(b.to_string()),
        Some(_) => {
            return Err(serde::de::Error::custom(
                "has the wrong type (expected a string)",
            ));
        }
    })
}

const HOW_TO: &str = "set DESTINATION__REDSHIFT__CREDENTIALS=redshift://USER:PASSWORD@HOST:5439/DATABASE \
or the fields database, username, password, host, port under [destination.redshift.credentials] in .sluice/secrets.toml";

impl RedshiftCredentials {
    /// Read credentials from a `[destination.redshift]` section. The error names every missing
    /// or wrong setting and how to provide it; it never contains the password.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        match section.credentials("redshift", HOW_TO)? {
            Credentials::Url(url) => Self::parse_url(url.expose())
                .map_err(|e| e.context(format!("{}.credentials", section.path()))),
            Credentials::Fields(creds) => Self::from_fields(&creds),
        }
    }

    fn from_fields(creds: &ConfigSection) -> Result<Self> {
        let path = creds.path().to_string();
        let raw: RawCredentials = creds.parse()?;
        let mut missing = Vec::new();
        let mut field = |key: &str, value: Option<String>| {
            let v = value.filter(|v| !v.trim().is_empty());
            if v.is_none() {
                missing.push(key.to_string());
            }
            v.unwrap_or_default()
        };
        let database = field("database", raw.database);
        let username = field("username", raw.username);
        let host = field("host", raw.host);
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "redshift credentials are incomplete: missing {} in [{path}] \
                 (for example DESTINATION__REDSHIFT__CREDENTIALS__{}=…); or {HOW_TO}",
                missing.join(", "),
                missing[0].to_uppercase()
            )));
        }
        let port = match raw.port {
            None => DEFAULT_PORT,
            Some(p) if (1..=65535).contains(&p) => p as u16,
            Some(p) => {
                return Err(Error::config(format!(
                    "{path}.port must be between 1 and 65535, got {p}"
                )));
            }
        };
        let sslmode = match raw.sslmode {
            None => SslMode::default(),
            Some(s) => SslMode::parse(&s).map_err(|e| e.context(format!("{path}.sslmode")))?,
        };
        Ok(Self {
            database,
            username,
            password: raw.password.unwrap_or_default(),
            host,
            port,
            connect_timeout: raw.connect_timeout.unwrap_or(15),
            sslmode,
        })
    }

    /// Parse `redshift://user:password@host:port/database?connect_timeout=15&sslmode=…`
    /// (`postgresql://` and `postgres://` too).
    pub fn parse_url(url: &str) -> Result<Self> {
        let shown = redact_url(url);
        let bad = |why: &str| {
            Error::config(format!(
                "invalid redshift connection string '{shown}': {why} (expected redshift://USER:PASSWORD@HOST:5439/DATABASE)"
            ))
        };
        let rest = ["redshift://", "postgresql://", "postgres://"]
            .iter()
            .find_map(|p| url.strip_prefix(p))
            .ok_or_else(|| bad("it must start with redshift:// or postgresql://"))?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, database) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (&authority[..i], &authority[i + 1..]),
            None => ("", authority),
        };
        let (username, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| bad("unclosed [ in host"))?;
            (h, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            None | Some("") => DEFAULT_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not a number between 1 and 65535"))?,
        };
        let mut creds = Self {
            database: percent_decode(database),
            username: percent_decode(username),
            password: Secret::new(percent_decode(password)),
            host: percent_decode(host),
            port,
            connect_timeout: 15,
            sslmode: SslMode::default(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "connect_timeout" => {
                    creds.connect_timeout = v
                        .parse()
                        .map_err(|_| bad("connect_timeout must be a number of seconds"))?
                }
                "sslmode" => creds.sslmode = SslMode::parse(&v)?,
                // Other parameters of dlt's connection strings are accepted and not needed.
                _ => {}
            }
        }
        let mut missing = Vec::new();
        for (name, value) in [
            ("host", &creds.host),
            ("username", &creds.username),
            ("database", &creds.database),
        ] {
            if value.is_empty() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(bad(&format!("missing {}", missing.join(", "))));
        }
        Ok(creds)
    }

    /// The connection as a URL for people: the password shows as `***`.
    pub fn display_url(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let user = if self.password.is_empty() {
            self.username.clone()
        } else {
            format!("{}:***", self.username)
        };
        redact_url(&format!(
            "redshift://{user}@{host}:{}/{}",
            self.port, self.database
        ))
    }

    /// The tokio-postgres configuration.
    pub(crate) fn pg_config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host(&self.host)
            .port(self.port)
            .user(&self.username)
            .dbname(&self.database)
            .application_name("sluice")
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .ssl_mode(match self.sslmode {
                SslMode::Disable => tokio_postgres::config::SslMode::Disable,
                SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                SslMode::Require => tokio_postgres::config::SslMode::Require,
            });
        if !self.password.is_empty() {
            c.password(self.password.expose());
        }
        c
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
