//! The Postgres destination's configuration: credentials in dlt's layout, the accepted keys,
//! and [`settings`], which checks a `[destination.postgres]` section without any I/O.
//!
//! Credentials come either as a connection string
//! (`DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:pass@host:5432/db?connect_timeout=15&sslmode=prefer`)
//! or as the fields of `[destination.postgres.credentials]`: `database`, `username`, `password`,
//! `host`, `port` (5432), `connect_timeout` (15 seconds) and `sslmode`. The password is a
//! [`Secret`]: it never appears in `Debug` output, in [`PgCredentials::display_url`] or in errors.

use serde::Deserialize;
use sluice_core::config::{ConfigSection, Credentials, Secret, de, redact_url};
use sluice_core::{DestinationConfig, Error, Result};
use std::time::Duration;

/// Keys accepted in `[destination.postgres]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[];
/// Keys accepted in `[destination.postgres.credentials]`.
pub const CREDENTIALS: &[&str] = &[
    "database",
    "username",
    "password",
    "host",
    "port",
    "connect_timeout",
    "sslmode",
];

/// How TLS is used, as libpq's `sslmode` (without certificate verification, like libpq's
/// `prefer` and `require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Use TLS when the server offers it (the default).
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
                "unsupported sslmode '{other}': use disable, prefer or require"
            ))),
        }
    }

    /// The name as written in config.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
        }
    }
}

/// What differs between servers that speak the Postgres protocol, as far as their
/// credentials go: the name in messages and environment variables, the default port and the
/// URL schemes (the first is the one shown). The Redshift destination reads its credentials
/// with its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Server {
    /// The destination's name (`postgres`): messages, `DESTINATION__<NAME>__CREDENTIALS`.
    pub name: &'static str,
    /// The port when none is given.
    pub default_port: u16,
    /// Accepted URL schemes, without `://`; the first is shown.
    pub schemes: &'static [&'static str],
}

/// Postgres: port 5432, `postgresql://` (or `postgres://`) URLs.
pub const POSTGRES: Server = Server {
    name: "postgres",
    default_port: 5432,
    schemes: &["postgresql", "postgres"],
};

impl Server {
    /// How to give credentials, for messages.
    fn how_to(&self) -> String {
        let (name, scheme, port) = (self.name, self.schemes[0], self.default_port);
        format!(
            "set DESTINATION__{}__CREDENTIALS={scheme}://USER:PASSWORD@HOST:{port}/DATABASE \
             or the fields database, username, password, host, port under \
             [destination.{name}.credentials] in .sluice/secrets.toml",
            name.to_uppercase()
        )
    }
}

/// Resolved connection settings.
// Debug is derived: passwords and keys are `Secret`s, which show as ***.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PgCredentials {
    /// Database name.
    pub database: String,
    /// Role to connect as.
    pub username: String,
    /// Password (may be empty for trust or peer authentication).
    pub password: Secret,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Connection timeout in seconds.
    pub connect_timeout: u64,
    /// TLS mode.
    pub sslmode: SslMode,
    /// The server these credentials are for (messages and [`Self::display_url`]).
    pub server: Server,
}

/// Resolve the settings of a destination config (no I/O): unknown keys are rejected, the
/// credentials parsed and the dataset name checked.
pub fn settings(config: &DestinationConfig) -> Result<PgCredentials> {
    config.section.reject_unknown_keys(SETTINGS, CREDENTIALS)?;
    let creds = PgCredentials::from_section(&config.section)?;
    if config.dataset_name.trim().is_empty() {
        return Err(Error::config(
            "the postgres destination needs a dataset name (the Postgres schema to load into)",
        ));
    }
    Ok(creds)
}

/// The fields of `[destination.postgres.credentials]` as written (environment variables give
/// text: numbers are read from text too, and text fields take numbers as text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    #[serde(default, deserialize_with = "de::opt_text")]
    database: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    username: Option<String>,
    #[serde(default)]
    password: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_text")]
    host: Option<String>,
    #[serde(default, deserialize_with = "de::opt_number")]
    port: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    connect_timeout: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_text")]
    sslmode: Option<String>,
}

impl PgCredentials {
    /// Read credentials from a `[destination.postgres]` section. The error names every missing
    /// or wrong setting and how to provide it; it never contains the password.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        Self::from_section_of(&POSTGRES, section)
    }

    /// Read credentials of `server` from its `[destination.<name>]` section.
    pub fn from_section_of(server: &Server, section: &ConfigSection) -> Result<Self> {
        match section.credentials(server.name, &server.how_to())? {
            Credentials::Url(url) => Self::parse_url_of(server, url.expose())
                .map_err(|e| e.context(format!("{}.credentials", section.path()))),
            Credentials::Fields(creds) => Self::from_fields(server, &creds),
        }
    }

    fn from_fields(server: &Server, creds: &ConfigSection) -> Result<Self> {
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
                "{} credentials are incomplete: missing {} in [{path}] \
                 (for example DESTINATION__{}__CREDENTIALS__{}=…); or {}",
                server.name,
                missing.join(", "),
                server.name.to_uppercase(),
                missing[0].to_uppercase(),
                server.how_to()
            )));
        }
        let port = match raw.port {
            None => server.default_port,
            Some(p) if (1..=65535).contains(&p) => p as u16,
            Some(p) => {
                return Err(Error::config(format!(
                    "{path}.port must be between 1 and 65535, got {p}"
                )));
            }
        };
        let connect_timeout = raw.connect_timeout.unwrap_or(15);
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
            connect_timeout,
            sslmode,
            server: *server,
        })
    }

    /// Parse a `postgresql://user:password@host:port/database?connect_timeout=15&sslmode=…` string.
    pub fn parse_url(url: &str) -> Result<Self> {
        Self::parse_url_of(&POSTGRES, url)
    }

    /// Parse a connection string of `server` (any of its schemes).
    pub fn parse_url_of(server: &Server, url: &str) -> Result<Self> {
        let shown = redact_url(url);
        let schemes: Vec<String> = server.schemes.iter().map(|s| format!("{s}://")).collect();
        let bad = |why: &str| {
            Error::config(format!(
                "invalid {} connection string '{shown}': {why} (expected \
                 {}USER:PASSWORD@HOST:PORT/DATABASE)",
                server.name, schemes[0]
            ))
        };
        let rest = schemes
            .iter()
            .find_map(|s| url.strip_prefix(s.as_str()))
            .ok_or_else(|| bad(&format!("it must start with {}", schemes.join(" or "))))?;
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (rest, None),
        };
        let (authority, database) = match main.split_once('/') {
            Some((a, d)) => (a, percent_decode(d)),
            None => (main, String::new()),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (percent_decode(user), percent_decode(pw)),
                None => (percent_decode(u), String::new()),
            },
            None => (String::new(), String::new()),
        };
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| bad("unclosed [ in host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        let port = match port {
            None | Some("") => server.default_port,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port is not a number between 1 and 65535"))?,
        };
        let mut creds = Self {
            database,
            username,
            password: Secret::new(password),
            host: percent_decode(&host),
            port,
            connect_timeout: 15,
            sslmode: SslMode::default(),
            server: *server,
        };
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = percent_decode(v);
            match k {
                "connect_timeout" => {
                    creds.connect_timeout = v
                        .parse()
                        .map_err(|_| bad("connect_timeout must be a number of seconds"))?
                }
                "sslmode" => creds.sslmode = SslMode::parse(&v)?,
                "user" => creds.username = v,
                "password" => creds.password = Secret::new(v),
                "dbname" => creds.database = v,
                "host" => creds.host = v,
                "port" => {
                    creds.port = v.parse().map_err(|_| bad("port must be a number"))?;
                }
                // Accepted for compatibility with dlt's connection strings; not needed here.
                _ => {}
            }
        }
        let mut missing = Vec::new();
        if creds.host.is_empty() {
            missing.push("host");
        }
        if creds.username.is_empty() {
            missing.push("username");
        }
        if creds.database.is_empty() {
            missing.push("database");
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
            "{}://{user}@{host}:{}/{}",
            self.server.schemes[0], self.port, self.database
        ))
    }

    /// The tokio-postgres configuration.
    pub fn pg_config(&self) -> tokio_postgres::Config {
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

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_is_parsed_and_redacted() {
        let c = PgCredentials::parse_url(
            "postgresql://loader:p%40ss@db.example:6543/warehouse?connect_timeout=5&sslmode=require",
        )
        .unwrap();
        assert_eq!(c.username, "loader");
        assert_eq!(c.password.expose(), "p@ss");
        assert_eq!(c.host, "db.example");
        assert_eq!(c.port, 6543);
        assert_eq!(c.database, "warehouse");
        assert_eq!(c.connect_timeout, 5);
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(
            c.display_url(),
            "postgresql://loader:***@db.example:6543/warehouse"
        );
        assert!(!format!("{c:?}").contains("p@ss"));
    }

    #[test]
    fn defaults_and_missing_parts() {
        let c = PgCredentials::parse_url("postgresql://u@h/d").unwrap();
        assert_eq!(
            (c.port, c.connect_timeout, c.sslmode),
            (5432, 15, SslMode::Prefer)
        );
        let e = PgCredentials::parse_url("postgresql://u:secretpw@h:5432/")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing database"), "{e}");
        assert!(!e.contains("secretpw"), "{e}");
        let e = PgCredentials::parse_url("mysql://u:secretpw@h/d")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secretpw"), "{e}");
    }

    #[test]
    fn fields_name_what_is_missing() {
        let section = ConfigSection::from_table(
            "destination.postgres",
            "[credentials]\nusername = \"u\"\npassword = \"topsecret\"\n"
                .parse()
                .unwrap(),
        );
        let e = PgCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(e.contains("database, host"), "{e}");
        assert!(e.contains("[destination.postgres.credentials]"), "{e}");
        assert!(!e.contains("topsecret"), "{e}");
        let section = ConfigSection::from_table("destination.postgres", "".parse().unwrap());
        let e = PgCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(e.contains("DESTINATION__POSTGRES__CREDENTIALS"), "{e}");
    }

    #[test]
    fn fields_take_text_from_environment_variables() {
        let section =
            |text: &str| ConfigSection::from_table("destination.postgres", text.parse().unwrap());
        let c = PgCredentials::from_section(&section(
            "[credentials]\ndatabase = \"d\"\nusername = 7\npassword = 1234\nhost = \"h\"\n\
             port = \"5433\"\nconnect_timeout = \"5\"\nsslmode = \"disable\"",
        ))
        .unwrap();
        assert_eq!(
            (c.username.as_str(), c.port, c.connect_timeout),
            ("7", 5433, 5)
        );
        assert_eq!((c.password.expose(), c.sslmode), ("1234", SslMode::Disable));
        let e = PgCredentials::from_section(&section(
            "[credentials]\ndatabase = \"d\"\nusername = \"u\"\nhost = \"h\"\nport = \"s3cr3t\"",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("[destination.postgres.credentials] port"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
    }
}
