//! Snowflake credentials in dlt's layout.
//!
//! Either a connection string
//! (`DESTINATION__SNOWFLAKE__CREDENTIALS=snowflake://user:pass@account/database?warehouse=…&role=…`)
//! or the fields of `[destination.snowflake.credentials]`: `database`, `username`, `password`,
//! `host` (the account identifier), `warehouse`, `role`, and `base_url` to reach Snowflake
//! somewhere else than `https://{account}.snowflakecomputing.com` (a private link, a local peer in
//! tests). The password is a [`Secret`]: it never appears in `Debug` output, in
//! [`SnowflakeCredentials::display`] or in errors.

use sluice_core::config::{ConfigSection, Secret};
use sluice_core::{Error, Result};
use std::fmt;

/// Resolved Snowflake connection settings.
#[derive(Clone, PartialEq, Eq)]
pub struct SnowflakeCredentials {
    /// Database to load into.
    pub database: String,
    /// Login name.
    pub username: String,
    /// Password (password authentication).
    pub password: Option<Secret>,
    /// The account identifier (`org-account`, `xy12345.eu-central-1`).
    pub account: String,
    /// Warehouse to run statements on.
    pub warehouse: Option<String>,
    /// Role to assume.
    pub role: Option<String>,
    /// Where the service is: `https://{account}.snowflakecomputing.com` unless overridden.
    pub base_url: String,
}

impl fmt::Debug for SnowflakeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnowflakeCredentials")
            .field("database", &self.database)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("account", &self.account)
            .field("warehouse", &self.warehouse)
            .field("role", &self.role)
            .field("base_url", &self.base_url)
            .finish()
    }
}

const HOW_TO: &str = "set DESTINATION__SNOWFLAKE__CREDENTIALS=snowflake://USER:PASSWORD@ACCOUNT/DATABASE?warehouse=WH&role=ROLE \
or the fields database, username, password, host (the account identifier), warehouse, role under \
[destination.snowflake.credentials] in .sluice/secrets.toml";

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl SnowflakeCredentials {
    /// Read credentials from a `[destination.snowflake]` section. The error names every
    /// missing or wrong setting and how to provide it; it never contains the password.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        let path = section.path().to_string();
        match section.get("credentials") {
            None => Err(Error::config(format!(
                "snowflake credentials are missing: {HOW_TO}"
            ))),
            Some(v) if v.is_str() => Self::parse_url(v.as_str().unwrap_or_default())
                .map_err(|e| e.context(format!("{path}.credentials"))),
            Some(v) if v.is_table() => {
                let creds = section
                    .subsection("credentials")
                    .ok_or_else(|| Error::config(format!("{path}.credentials is not a table")))?;
                Self::from_fields(&creds)
            }
            Some(_) => Err(Error::config(format!(
                "{path}.credentials must be a connection string or a table: {HOW_TO}"
            ))),
        }
    }

    fn from_fields(creds: &ConfigSection) -> Result<Self> {
        let path = creds.path().to_string();
        let get = |k: &str| non_empty(creds.get_str(k));
        let base_url = get("base_url");
        let mut missing = Vec::new();
        let database = get("database");
        let username = get("username");
        // The account identifier: dlt's `host`; `account` is accepted too.
        let account = get("host").or_else(|| get("account"));
        if database.is_none() {
            missing.push("database");
        }
        if username.is_none() {
            missing.push("username");
        }
        if account.is_none() && base_url.is_none() {
            missing.push("host (the account identifier)");
        }
        let password = creds.get_secret("password").filter(|p| !p.is_empty());
        if password.is_none() {
            missing.push("password");
        }
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "{path} is missing {}: {HOW_TO}",
                missing.join(", ")
            )));
        }
        Self::finish(
            database.unwrap_or_default(),
            username.unwrap_or_default(),
            password,
            account.unwrap_or_default(),
            get("warehouse"),
            get("role"),
            base_url,
        )
    }

    /// Parse `snowflake://user:password@account/database?warehouse=…&role=…&base_url=…`.
    pub fn parse_url(text: &str) -> Result<Self> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            Error::config(format!(
                "not a valid snowflake connection string ({e}): {HOW_TO}"
            ))
        })?;
        if url.scheme() != "snowflake" {
            return Err(Error::config(format!(
                "the connection string must start with snowflake:// (got {}://): {HOW_TO}",
                url.scheme()
            )));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let username = decode(url.username());
        let password = url.password().map(|p| Secret::new(decode(p)));
        let account = url.host_str().unwrap_or_default().to_string();
        let database = decode(url.path().trim_start_matches('/'));
        let mut warehouse = None;
        let mut role = None;
        let mut base_url = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "warehouse" => warehouse = non_empty(Some(v.into_owned())),
                "role" => role = non_empty(Some(v.into_owned())),
                "base_url" => base_url = non_empty(Some(v.into_owned())),
                _ => {}
            }
        }
        let mut missing = Vec::new();
        if username.is_empty() {
            missing.push("the user name");
        }
        if password.as_ref().is_none_or(|p| p.is_empty()) {
            missing.push("the password");
        }
        if account.is_empty() {
            missing.push("the account");
        }
        if database.is_empty() {
            missing.push("the database");
        }
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "the snowflake connection string lacks {}: {HOW_TO}",
                missing.join(", ")
            )));
        }
        Self::finish(
            database, username, password, account, warehouse, role, base_url,
        )
    }

    fn finish(
        database: String,
        username: String,
        password: Option<Secret>,
        account: String,
        warehouse: Option<String>,
        role: Option<String>,
        base_url: Option<String>,
    ) -> Result<Self> {
        let base_url = match base_url {
            Some(b) => {
                let parsed = url::Url::parse(&b).map_err(|e| {
                    Error::config(format!("snowflake base_url '{b}' is not a valid URL ({e})"))
                })?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(Error::config(format!(
                        "snowflake base_url '{b}' must be an http:// or https:// URL"
                    )));
                }
                b.trim_end_matches('/').to_string()
            }
            None => format!("https://{}.snowflakecomputing.com", account.to_lowercase()),
        };
        Ok(Self {
            database,
            username,
            password,
            account,
            warehouse,
            role,
            base_url,
        })
    }

    /// The account name sent at login: the part of the identifier before the first `.`
    /// (`xy12345.eu-central-1` → `XY12345`).
    pub fn account_name(&self) -> String {
        self.account
            .split('.')
            .next()
            .unwrap_or_default()
            .to_uppercase()
    }

    /// Where data goes, for people: no secrets.
    pub fn display(&self) -> String {
        format!(
            "snowflake://{}@{}/{}",
            self.username,
            self.base_url
                .trim_start_matches("https://")
                .trim_start_matches("http://"),
            self.database
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_fields_resolve_the_same() {
        let a = SnowflakeCredentials::parse_url(
            "snowflake://loader:s%40cret@xy12345.eu-central-1/ANALYTICS?warehouse=WH&role=LOADER",
        )
        .unwrap();
        assert_eq!(a.username, "loader");
        assert_eq!(a.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(a.database, "ANALYTICS");
        assert_eq!(a.warehouse.as_deref(), Some("WH"));
        assert_eq!(a.role.as_deref(), Some("LOADER"));
        assert_eq!(
            a.base_url,
            "https://xy12345.eu-central-1.snowflakecomputing.com"
        );
        assert_eq!(a.account_name(), "XY12345");
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str(
                "[credentials]\ndatabase = \"ANALYTICS\"\nusername = \"loader\"\npassword = \"s@cret\"\n\
                 host = \"xy12345.eu-central-1\"\nwarehouse = \"WH\"\nrole = \"LOADER\"\n",
            )
            .unwrap(),
        );
        assert_eq!(SnowflakeCredentials::from_section(&section).unwrap(), a);
    }

    #[test]
    fn password_never_shows() {
        let c = SnowflakeCredentials::parse_url(
            "snowflake://u:hunter2@acc/db?base_url=http://127.0.0.1:9/",
        )
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert!(!format!("{c:?}").contains("hunter2"));
        assert!(!c.display().contains("hunter2"));
        let err = SnowflakeCredentials::parse_url("snowflake://u:hunter2@acc")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let section = ConfigSection::from_table(
            "destination.snowflake",
            toml::from_str("[credentials]\nusername = \"u\"\n").unwrap(),
        );
        let err = SnowflakeCredentials::from_section(&section)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("database") && err.contains("password") && err.contains("host"),
            "{err}"
        );
        let empty = ConfigSection::from_table("destination.snowflake", toml::Table::new());
        assert!(SnowflakeCredentials::from_section(&empty).is_err());
    }
}
