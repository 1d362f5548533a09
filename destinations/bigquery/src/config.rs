//! Settings of the BigQuery destination, read from `[destination.bigquery]` in dlt's layout.
//!
//! ```toml
//! [destination.bigquery]
//! location = "US"                      # default US
//! # api_endpoint = "http://127.0.0.1:9050"   # tests and private endpoints
//!
//! [destination.bigquery.credentials]
//! project_id = "my-project"
//! private_key = "-----BEGIN PRIVATE KEY-----\n…"
//! client_email = "loader@my-project.iam.gserviceaccount.com"
//! # or: access_token = "ya29.…"  (a fixed OAuth token)
//! # or: only project_id, and application-default credentials are used
//! ```
//!
//! `credentials` may also be the whole service-account JSON as a string (dlt's native value).

use serde::Deserialize;
use sluice_core::config::{GCP_SERVICE_ACCOUNT_KEYS, de};
use sluice_core::{DestinationConfig, Error, Result, Secret};

/// Google's OAuth token endpoint, used when the service-account key names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The public REST root of BigQuery.
pub const DEFAULT_API_ENDPOINT: &str = "https://bigquery.googleapis.com";

/// How the destination authenticates.
#[derive(Clone)]
pub enum Credentials {
    /// A service account: its e-mail and private key (PEM).
    ServiceAccount {
        /// The service account's e-mail.
        client_email: String,
        /// The PEM private key.
        private_key: Secret,
        /// The key id, when given.
        private_key_id: Option<String>,
        /// The token endpoint.
        token_uri: String,
    },
    /// A fixed OAuth access token.
    AccessToken(Secret),
    /// Application-default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, metadata server).
    ApplicationDefault,
    /// No credentials: only for an `api_endpoint` override (a local emulator).
    Anonymous,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ServiceAccount { client_email, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_email", client_email)
                .finish_non_exhaustive(),
            Credentials::AccessToken(_) => f.write_str("AccessToken(***)"),
            Credentials::ApplicationDefault => f.write_str("ApplicationDefault"),
            Credentials::Anonymous => f.write_str("Anonymous"),
        }
    }
}

impl Credentials {
    /// A short description for people (no secrets).
    pub fn describe(&self) -> String {
        match self {
            Credentials::ServiceAccount { client_email, .. } => {
                format!("service account {client_email}")
            }
            Credentials::AccessToken(_) => "a fixed access token".into(),
            Credentials::ApplicationDefault => "application-default credentials".into(),
            Credentials::Anonymous => "no credentials".into(),
        }
    }
}

/// Everything the destination needs to connect.
#[derive(Debug, Clone)]
pub struct BigQuerySettings {
    /// The GCP project that holds the dataset and runs the jobs.
    pub project_id: String,
    /// The dataset to load into.
    pub dataset: String,
    /// Location of the dataset and the jobs (`US` by default).
    pub location: String,
    /// Root of the API (`https://bigquery.googleapis.com` unless overridden); the REST root is
    /// `<root>/bigquery/v2` and the upload root `<root>/upload/bigquery/v2`.
    pub api_endpoint: String,
    /// Whether `api_endpoint` was overridden.
    pub endpoint_overridden: bool,
    /// How to authenticate.
    pub credentials: Credentials,
    /// Timeout of one HTTP request, seconds (`http_timeout`, default 15).
    pub http_timeout: u64,
    /// Timeout of one file upload, seconds (`file_upload_timeout`, default 1800).
    pub file_upload_timeout: u64,
}

/// Keys accepted in `[destination.bigquery]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[
    "api_endpoint",
    "project_id",
    "location",
    "http_timeout",
    "file_upload_timeout",
];
/// Keys accepted in `[destination.bigquery.credentials]` besides the service-account fields
/// ([`GCP_SERVICE_ACCOUNT_KEYS`]): a token, the endpoint.
pub const CREDENTIALS: &[&str] = &["access_token", "api_endpoint"];

/// `[destination.bigquery]` as written ([`SETTINGS`] and `credentials`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    api_endpoint: Option<String>,
    project_id: Option<String>,
    location: Option<String>,
    #[serde(default, deserialize_with = "de::opt_number")]
    http_timeout: Option<u64>,
    #[serde(default, deserialize_with = "de::opt_number")]
    file_upload_timeout: Option<u64>,
    /// A table of fields (read as [`RawCredentials`]) or the service-account JSON as a string.
    credentials: Option<toml::Value>,
}

/// `[destination.bigquery.credentials]` as written: the fields of a service-account key file
/// ([`GCP_SERVICE_ACCOUNT_KEYS`]) and [`CREDENTIALS`].
#[derive(Deserialize, Default)]
// No deny_unknown_fields: `reject_unknown_keys` has refused unknown keys already, and the
// fields of a pasted key file that are not needed are accepted there and ignored here.
struct RawCredentials {
    project_id: Option<String>,
    private_key: Option<Secret>,
    private_key_id: Option<String>,
    client_email: Option<String>,
    token_uri: Option<String>,
    access_token: Option<Secret>,
    api_endpoint: Option<String>,
}

impl BigQuerySettings {
    /// Read and check the settings; no I/O. The error lists every problem and how to fix it.
    pub fn resolve(config: &DestinationConfig) -> Result<Self> {
        let s = &config.section;
        s.reject_unknown_keys(SETTINGS, &[CREDENTIALS, GCP_SERVICE_ACCOUNT_KEYS].concat())?;
        let raw: RawSettings = s.parse()?;
        let fields: RawCredentials = match s.subsection("credentials") {
            Some(c) => c.parse()?,
            None => RawCredentials::default(),
        };
        let path = s.path().to_string();
        let mut problems: Vec<String> = Vec::new();

        // `credentials` as a string: the service-account JSON (dlt's native value).
        let native: Option<serde_json::Value> = match &raw.credentials {
            Some(toml::Value::String(text)) => match serde_json::from_str(text) {
                Ok(v @ serde_json::Value::Object(_)) => Some(v),
                _ => {
                    problems.push(format!(
                        "{path}.credentials is a string but not service-account JSON; give the \
                         fields project_id, private_key and client_email in \
                         [{path}.credentials] instead"
                    ));
                    None
                }
            },
            _ => None,
        };
        // A field of the credentials table, else of the service-account JSON; never empty.
        let field = |given: Option<String>, key: &str| -> Option<String> {
            given
                .or_else(|| {
                    native
                        .as_ref()
                        .and_then(|v| v.get(key))
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                })
                .filter(|v| !v.trim().is_empty())
        };
        let secret = |given: &Option<Secret>| given.as_ref().map(|s| s.expose().to_string());

        let endpoint = raw
            .api_endpoint
            .clone()
            .or_else(|| fields.api_endpoint.clone())
            .filter(|e| !e.trim().is_empty());
        let api_endpoint = match &endpoint {
            Some(e) => {
                let e = e.trim().trim_end_matches('/');
                let e = e
                    .strip_suffix("/bigquery/v2")
                    .unwrap_or(e)
                    .trim_end_matches('/');
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    problems.push(format!(
                        "{path}.api_endpoint must be an http:// or https:// URL \
                         (DESTINATION__BIGQUERY__API_ENDPOINT=http://127.0.0.1:PORT)"
                    ));
                }
                e.to_string()
            }
            None => DEFAULT_API_ENDPOINT.to_string(),
        };

        let project_id = field(fields.project_id.clone(), "project_id")
            .or_else(|| raw.project_id.clone())
            .or_else(|| std::env::var("GOOGLE_CLOUD_PROJECT").ok())
            .filter(|p| !p.trim().is_empty());
        if project_id.is_none() {
            problems.push(format!(
                "{path}.credentials.project_id is missing: set it in [{path}.credentials] of \
                 secrets.toml or as DESTINATION__BIGQUERY__CREDENTIALS__PROJECT_ID"
            ));
        }

        let private_key = field(secret(&fields.private_key), "private_key");
        let client_email = field(fields.client_email.clone(), "client_email");
        let access_token = field(secret(&fields.access_token), "access_token");
        let credentials = if let Some(token) = access_token {
            Credentials::AccessToken(Secret::new(token))
        } else if private_key.is_some() || client_email.is_some() {
            match (private_key, client_email) {
                (Some(key), Some(email)) => Credentials::ServiceAccount {
                    client_email: email,
                    private_key: Secret::new(key.replace("\\n", "\n")),
                    private_key_id: field(fields.private_key_id.clone(), "private_key_id"),
                    token_uri: field(fields.token_uri.clone(), "token_uri")
                        .unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
                },
                (None, _) => {
                    problems.push(format!(
                        "{path}.credentials.private_key is missing (client_email is set): give \
                         the service account's private key, or remove client_email to use \
                         application-default credentials"
                    ));
                    Credentials::Anonymous
                }
                (_, None) => {
                    problems.push(format!(
                        "{path}.credentials.client_email is missing (private_key is set): give \
                         the service account's e-mail"
                    ));
                    Credentials::Anonymous
                }
            }
        } else if endpoint.is_some() {
            Credentials::Anonymous
        } else {
            Credentials::ApplicationDefault
        };

        let location = raw
            .location
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "US".into());
        let http_timeout = raw.http_timeout.unwrap_or(15).max(1);
        let file_upload_timeout = raw.file_upload_timeout.unwrap_or(1800).max(1);

        let dataset = config.dataset_name.clone();
        if dataset.is_empty()
            || dataset.len() > 1024
            || !dataset
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            problems.push(format!(
                "dataset name '{dataset}' is not a valid BigQuery dataset id (letters, digits \
                 and underscores, at most 1024 characters)"
            ));
        }

        if !problems.is_empty() {
            return Err(Error::config(format!(
                "destination bigquery is not configured: {}",
                problems.join("; ")
            )));
        }
        Ok(Self {
            project_id: project_id.unwrap_or_default(),
            dataset,
            location,
            api_endpoint,
            endpoint_overridden: endpoint.is_some(),
            credentials,
            http_timeout,
            file_upload_timeout,
        })
    }

    /// The REST root (`…/bigquery/v2`).
    pub fn rest_root(&self) -> String {
        format!("{}/bigquery/v2", self.api_endpoint)
    }

    /// The upload root (`…/upload/bigquery/v2`).
    pub fn upload_root(&self) -> String {
        format!("{}/upload/bigquery/v2", self.api_endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::ConfigProvider;

    fn config(secrets: &str) -> DestinationConfig {
        let provider = ConfigProvider::empty().with_secrets_toml(secrets).unwrap();
        DestinationConfig {
            destination_name: "bigquery".into(),
            pipeline_name: "p".into(),
            dataset_name: "p_data".into(),
            working_dir: std::env::temp_dir(),
            section: provider.section(&["destination", "bigquery"]),
        }
    }

    #[test]
    fn service_account_fields_and_secrets_stay_hidden() {
        let c = config(
            "[destination.bigquery.credentials]\nproject_id = \"proj\"\nprivate_key = \"TOPSECRETKEY\"\nclient_email = \"a@b.iam\"\n",
        );
        let s = BigQuerySettings::resolve(&c).unwrap();
        assert_eq!(s.project_id, "proj");
        assert_eq!(s.location, "US");
        assert!(matches!(s.credentials, Credentials::ServiceAccount { .. }));
        let debug = format!("{s:?}");
        assert!(!debug.contains("TOPSECRETKEY"), "{debug}");
        assert_eq!(s.rest_root(), "https://bigquery.googleapis.com/bigquery/v2");
    }

    #[test]
    fn endpoint_override_derives_both_roots_and_token_is_hidden() {
        let c = config(
            "[destination.bigquery]\napi_endpoint = \"http://127.0.0.1:9050/\"\n[destination.bigquery.credentials]\nproject_id = \"p\"\naccess_token = \"SECRETTOKEN\"\n",
        );
        let s = BigQuerySettings::resolve(&c).unwrap();
        assert_eq!(s.rest_root(), "http://127.0.0.1:9050/bigquery/v2");
        assert_eq!(s.upload_root(), "http://127.0.0.1:9050/upload/bigquery/v2");
        assert!(!format!("{s:?}").contains("SECRETTOKEN"));
    }

    #[test]
    fn missing_settings_are_named() {
        let c = config(
            "[destination.bigquery.credentials]\nclient_email = \"a@b\"\nproject_id = \"\"\n",
        );
        let e = BigQuerySettings::resolve(&c).unwrap_err().to_string();
        assert!(e.contains("private_key is missing"), "{e}");
    }

    #[test]
    fn numbers_may_be_text_and_bad_values_are_named_but_not_shown() {
        let c = config(
            "[destination.bigquery]\nhttp_timeout = \"30\"\n[destination.bigquery.credentials]\nproject_id = \"p\"\naccess_token = \"t\"\n",
        );
        assert_eq!(BigQuerySettings::resolve(&c).unwrap().http_timeout, 30);
        let c = config(
            "[destination.bigquery]\nfile_upload_timeout = \"TOPSECRET\"\n[destination.bigquery.credentials]\nproject_id = \"p\"\n",
        );
        let e = BigQuerySettings::resolve(&c).unwrap_err().to_string();
        assert!(e.contains("file_upload_timeout"), "{e}");
        assert!(!e.contains("TOPSECRET"), "{e}");
        let c = config(
            "[destination.bigquery.credentials]\nproject_id = \"p\"\nprivate_key = [\"TOPSECRET\"]\n",
        );
        let e = BigQuerySettings::resolve(&c).unwrap_err().to_string();
        assert!(
            e.contains("credentials") && e.contains("private_key"),
            "{e}"
        );
        assert!(!e.contains("TOPSECRET"), "{e}");
    }

    #[test]
    fn credentials_may_be_the_service_account_json() {
        let c = config(
            "[destination.bigquery]\ncredentials = '{\"project_id\": \"proj\", \"private_key\": \"K\", \"client_email\": \"a@b\"}'\n",
        );
        let s = BigQuerySettings::resolve(&c).unwrap();
        assert_eq!(s.project_id, "proj");
        assert!(
            matches!(&s.credentials, Credentials::ServiceAccount { client_email, .. } if client_email == "a@b")
        );
        let c = config("[destination.bigquery]\ncredentials = \"not json\"\n");
        let e = BigQuerySettings::resolve(&c).unwrap_err().to_string();
        assert!(e.contains("not service-account JSON"), "{e}");
    }
}
