//! The Databricks destination's configuration: the typed settings ([`DatabricksSettings`],
//! resolved by [`settings`] without any I/O), the accepted keys, and credentials in dlt's layout.
//!
//! `[destination.databricks.credentials]` takes dlt's fields: `server_hostname` (the workspace
//! host, `adb-123.4.azuredatabricks.net`; a URL with `http://` reaches a local stand-in),
//! `http_path` of a SQL warehouse (`/sql/1.0/warehouses/<id>`) or the `warehouse_id` itself,
//! `catalog`, and either `access_token` (a personal access token) or OAuth machine-to-machine
//! `client_id` and `client_secret`. The token and the client secret are [`Secret`]s: they never
//! appear in `Debug` output, in [`DatabricksCredentials::display`] or in errors.
//!
//! `[destination.databricks]` itself takes `loader_file_format` (`parquet`: staged files and
//! `COPY INTO`, the default; `insert_values`: `INSERT … VALUES` statements, no staging),
//! `staging_volume_name` (`catalog.schema.volume`, default `_dlt_staging_load_volume` in the
//! dataset), `keep_staged_files` (default false: staged files are deleted after the load) and
//! `statement_timeout` (seconds a statement may run, default 3600).

use serde::Deserialize;
use serde::de::IgnoredAny;
use sluice_core::config::{ConfigSection, Credentials, Secret, de};
use sluice_core::{DestinationConfig, Error, Result};
use std::time::Duration;

/// Keys accepted in `[destination.databricks]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[
    "loader_file_format",
    "staging_volume_name",
    "keep_staged_files",
    "statement_timeout",
];
/// Keys accepted in `[destination.databricks.credentials]`.
pub const CREDENTIALS: &[&str] = &[
    "server_hostname",
    "http_path",
    "warehouse_id",
    "catalog",
    "access_token",
    "client_id",
    "client_secret",
];

/// The volume staged files go to when `staging_volume_name` is not set (dlt's name), created in
/// the dataset's schema.
pub const DEFAULT_STAGING_VOLUME: &str = "_dlt_staging_load_volume";

/// How package files reach the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoaderFileFormat {
    /// Parquet files uploaded to a Unity Catalog volume with the Files API, then `COPY INTO`
    /// (dlt's staged Parquet path; the default).
    Parquet,
    /// Rows sent as `INSERT … VALUES` statements through the Statement Execution API, no
    /// staging (dlt's `insert_values` file format).
    InsertValues,
}

impl LoaderFileFormat {
    /// The setting's value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::InsertValues => "insert_values",
        }
    }
}

/// How the destination authenticates.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Auth {
    /// A personal access token, sent as `Authorization: Bearer …`.
    Token(Secret),
    /// OAuth machine-to-machine: a service principal's id and secret, exchanged at
    /// `<host>/oidc/v1/token` for short-lived tokens.
    OAuth {
        /// The service principal's application (client) id.
        client_id: String,
        /// Its OAuth secret.
        client_secret: Secret,
    },
}

/// Resolved Databricks connection settings.
// Debug is derived: the token and client secret are `Secret`s, which show as ***.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DatabricksCredentials {
    /// The workspace URL (`https://<server_hostname>`, or the URL given).
    pub base_url: String,
    /// The SQL warehouse that runs the statements.
    pub warehouse_id: String,
    /// The Unity Catalog catalog datasets live in.
    pub catalog: String,
    /// How requests are authenticated.
    pub auth: Auth,
}

/// Settings of a Databricks destination.
#[derive(Debug, Clone)]
pub struct DatabricksSettings {
    /// Connection credentials.
    pub credentials: DatabricksCredentials,
    /// The dataset (Unity Catalog schema in [`DatabricksCredentials::catalog`]).
    pub dataset: String,
    /// How package files reach the tables.
    pub loader_file_format: LoaderFileFormat,
    /// The volume files are staged in: `(catalog, schema, volume)`; `None` for the default
    /// volume in the dataset.
    pub staging_volume: Option<(String, String, String)>,
    /// Keep staged files after the load (default: delete them).
    pub keep_staged_files: bool,
    /// The longest a statement may run before it is cancelled.
    pub statement_timeout: Duration,
}

/// `[destination.databricks]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default, rename = "credentials")]
    _credentials: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "de::opt_text")]
    loader_file_format: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    staging_volume_name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_boolean")]
    keep_staged_files: Option<bool>,
    #[serde(default, deserialize_with = "de::opt_number")]
    statement_timeout: Option<f64>,
}

/// `[destination.databricks.credentials]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    #[serde(default, deserialize_with = "de::opt_text")]
    server_hostname: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    http_path: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    warehouse_id: Option<String>,
    #[serde(default, deserialize_with = "de::opt_text")]
    catalog: Option<String>,
    #[serde(default)]
    access_token: Option<Secret>,
    #[serde(default, deserialize_with = "de::opt_text")]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<Secret>,
}

const HOW_TO: &str = "set server_hostname, http_path (or warehouse_id), catalog and access_token \
(or client_id and client_secret of a service principal) under [destination.databricks.credentials] \
in .sluice/secrets.toml, or as DESTINATION__DATABRICKS__CREDENTIALS__<KEY> environment variables";

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Resolve the settings of a destination config (no I/O).
pub fn settings(config: &DestinationConfig) -> Result<DatabricksSettings> {
    config.section.reject_unknown_keys(SETTINGS, CREDENTIALS)?;
    let credentials = DatabricksCredentials::from_section(&config.section)?;
    if config.dataset_name.trim().is_empty() {
        return Err(Error::config(
            "the databricks destination needs a dataset name (the Unity Catalog schema to load into)",
        ));
    }
    let raw: RawSection = config.section.parse()?;
    let path = config.section_path();
    let loader_file_format = match non_empty(raw.loader_file_format).as_deref() {
        None | Some("parquet") => LoaderFileFormat::Parquet,
        Some("insert_values") => LoaderFileFormat::InsertValues,
        Some(other) => {
            return Err(Error::config(format!(
                "[{path}] loader_file_format must be \"parquet\" (staged files and COPY INTO) or \
                 \"insert_values\" (INSERT statements), got \"{other}\""
            )));
        }
    };
    let staging_volume = match non_empty(raw.staging_volume_name) {
        None => None,
        Some(name) => {
            let parts: Vec<&str> = name.split('.').map(str::trim).collect();
            match parts.as_slice() {
                [c, s, v] if !c.is_empty() && !s.is_empty() && !v.is_empty() => {
                    Some((c.to_string(), s.to_string(), v.to_string()))
                }
                _ => {
                    return Err(Error::config(format!(
                        "[{path}] staging_volume_name must be a full volume name \
                         catalog.schema.volume, got \"{name}\""
                    )));
                }
            }
        }
    };
    let timeout = match raw.statement_timeout {
        None => 3600.0,
        Some(t) => {
            sluice_core::config::check_seconds(&format!("{path}.statement_timeout"), t, true)?
        }
    };
    Ok(DatabricksSettings {
        credentials,
        dataset: config.dataset_name.clone(),
        loader_file_format,
        staging_volume,
        keep_staged_files: raw.keep_staged_files.unwrap_or(false),
        statement_timeout: Duration::from_secs_f64(timeout),
    })
}

impl DatabricksCredentials {
    /// Read credentials from a `[destination.databricks]` section. The error names every
    /// missing or wrong setting and how to provide it; it never contains a secret.
    pub fn from_section(section: &ConfigSection) -> Result<Self> {
        let creds = match section.credentials("databricks", HOW_TO)? {
            Credentials::Fields(creds) => creds,
            Credentials::Url(_) => {
                return Err(Error::config(format!(
                    "{}.credentials must be a table of fields (a connection string is not \
                     supported): {HOW_TO}",
                    section.path()
                )));
            }
        };
        let path = creds.path().to_string();
        let raw: RawCredentials = creds.parse()?;
        let host = non_empty(raw.server_hostname);
        let http_path = non_empty(raw.http_path);
        let warehouse = non_empty(raw.warehouse_id);
        let catalog = non_empty(raw.catalog);
        let token = raw.access_token.filter(|t| !t.expose().trim().is_empty());
        let client_id = non_empty(raw.client_id);
        let client_secret = raw.client_secret.filter(|s| !s.expose().trim().is_empty());
        let mut missing = Vec::new();
        if host.is_none() {
            missing.push("server_hostname");
        }
        if http_path.is_none() && warehouse.is_none() {
            missing.push("http_path (or warehouse_id)");
        }
        if catalog.is_none() {
            missing.push("catalog");
        }
        let auth = match (token, client_id, client_secret) {
            (Some(t), _, _) => Some(Auth::Token(t)),
            (None, Some(id), Some(secret)) => Some(Auth::OAuth {
                client_id: id,
                client_secret: secret,
            }),
            (None, Some(_), None) => {
                missing.push("client_secret (with client_id)");
                None
            }
            (None, None, Some(_)) => {
                missing.push("client_id (with client_secret)");
                None
            }
            (None, None, None) => {
                missing.push("access_token (or client_id and client_secret)");
                None
            }
        };
        if !missing.is_empty() {
            return Err(Error::config(format!(
                "{path} is missing {}: {HOW_TO}",
                missing.join(", ")
            )));
        }
        let (Some(host), Some(catalog), Some(auth)) = (host, catalog, auth) else {
            return Err(Error::internal(format!(
                "{path}: a missing setting was not reported"
            )));
        };
        let warehouse_id = match (warehouse, http_path) {
            (Some(w), _) => w,
            (None, p) => {
                let p = p.unwrap_or_default();
                warehouse_of(&p).ok_or_else(|| {
                    Error::config(format!(
                        "{path}.http_path \"{p}\" is not the path of a SQL warehouse \
                         (/sql/1.0/warehouses/<id>): the Statement Execution API runs on SQL \
                         warehouses only; set warehouse_id or a warehouse's http_path"
                    ))
                })?
            }
        };
        Ok(Self {
            base_url: base_url(&host, &path)?,
            warehouse_id,
            catalog,
            auth,
        })
    }

    /// Where data goes, for people: no secrets.
    pub fn display(&self) -> String {
        format!(
            "databricks://{}/{}",
            self.base_url
                .trim_start_matches("https://")
                .trim_start_matches("http://"),
            self.catalog
        )
    }
}

/// The warehouse id of an `http_path` (`/sql/1.0/warehouses/<id>` or the older
/// `/sql/1.0/endpoints/<id>`).
pub fn warehouse_of(http_path: &str) -> Option<String> {
    let parts: Vec<&str> = http_path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["sql", _, "warehouses" | "endpoints", id] if !id.is_empty() => Some(id.to_string()),
        _ => None,
    }
}

/// The workspace URL of `server_hostname`: `https://<host>`, or the URL as given when it has
/// a scheme (`http://127.0.0.1:8000` for a local stand-in).
fn base_url(host: &str, path: &str) -> Result<String> {
    let text = if host.contains("://") {
        host.to_string()
    } else {
        format!("https://{host}")
    };
    let url = url::Url::parse(&text).map_err(|e| {
        Error::config(format!(
            "{path}.server_hostname \"{host}\" is not a host name or URL ({e})"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::config(format!(
            "{path}.server_hostname \"{host}\" must be a host name or an http(s):// URL"
        )));
    }
    Ok(text.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> DestinationConfig {
        DestinationConfig {
            destination_name: "databricks".into(),
            pipeline_name: "p".into(),
            dataset_name: "ds".into(),
            working_dir: std::path::PathBuf::from("."),
            section: ConfigSection::from_table(
                "destination.databricks",
                toml::from_str(text).unwrap(),
            ),
        }
    }

    const CREDS: &str = "[credentials]\nserver_hostname = \"adb-1.2.azuredatabricks.net\"\n\
        http_path = \"/sql/1.0/warehouses/abc123\"\ncatalog = \"main\"\naccess_token = \"dapi-secret-1\"\n";

    #[test]
    fn dlt_fields_resolve() {
        let s = settings(&config(CREDS)).unwrap();
        let c = &s.credentials;
        assert_eq!(c.base_url, "https://adb-1.2.azuredatabricks.net");
        assert_eq!(c.warehouse_id, "abc123");
        assert_eq!(c.catalog, "main");
        assert_eq!(s.loader_file_format, LoaderFileFormat::Parquet);
        assert!(!s.keep_staged_files && s.staging_volume.is_none());
        assert_eq!(s.statement_timeout, Duration::from_secs(3600));
        let shown = format!("{s:?} {}", c.display());
        assert!(!shown.contains("dapi-secret-1"), "{shown}");
        assert_eq!(c.display(), "databricks://adb-1.2.azuredatabricks.net/main");
    }

    #[test]
    fn settings_and_oauth() {
        let text = "loader_file_format = \"insert_values\"\nstaging_volume_name = \"c.s.v\"\n\
            keep_staged_files = \"true\"\nstatement_timeout = 30\n[credentials]\n\
            server_hostname = \"http://127.0.0.1:9\"\nwarehouse_id = \"w1\"\ncatalog = \"c\"\n\
            client_id = \"sp-1\"\nclient_secret = \"oauth-secret-2\"\n";
        let s = settings(&config(text)).unwrap();
        assert_eq!(s.loader_file_format, LoaderFileFormat::InsertValues);
        assert_eq!(s.staging_volume, Some(("c".into(), "s".into(), "v".into())));
        assert!(s.keep_staged_files);
        assert_eq!(s.statement_timeout, Duration::from_secs(30));
        assert_eq!(s.credentials.base_url, "http://127.0.0.1:9");
        assert!(
            matches!(&s.credentials.auth, Auth::OAuth { client_id, .. } if client_id == "sp-1")
        );
        assert!(!format!("{s:?}").contains("oauth-secret-2"));
    }

    #[test]
    fn wrong_and_missing_settings_are_named() {
        let e = settings(&config("[credentials]\nclient_secret = \"hush-3\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("server_hostname")
                && e.contains("http_path (or warehouse_id)")
                && e.contains("catalog")
                && e.contains("client_id (with client_secret)")
                && !e.contains("hush-3"),
            "{e}"
        );
        let e = settings(&config(&format!("hots = 1\n{CREDS}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("hots"), "{e}");
        let e = settings(&config(&CREDS.replace("catalog", "catalgo")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalgo"), "{e}");
        let e = settings(&config(&format!("loader_file_format = \"csv\"\n{CREDS}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("loader_file_format") && e.contains("csv"), "{e}");
        let e = settings(&config(&format!("staging_volume_name = \"v\"\n{CREDS}")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("catalog.schema.volume"), "{e}");
        let e = settings(&config(
            &CREDS.replace("/sql/1.0/warehouses/abc123", "/sql/protocolv1/o/1/0123-abc"),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("SQL warehouse") && !e.contains("dapi-secret-1"),
            "{e}"
        );
        let e = DatabricksCredentials::from_section(&ConfigSection::from_table(
            "destination.databricks",
            toml::from_str("credentials = \"databricks://token:dapi-x@h\"").unwrap(),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("table of fields") && !e.contains("dapi-x"),
            "{e}"
        );
    }

    #[test]
    fn warehouse_paths() {
        assert_eq!(
            warehouse_of("/sql/1.0/warehouses/ab12").as_deref(),
            Some("ab12")
        );
        assert_eq!(
            warehouse_of("sql/1.0/endpoints/ab12/").as_deref(),
            Some("ab12")
        );
        assert_eq!(warehouse_of("/sql/protocolv1/o/1/x"), None);
    }
}
