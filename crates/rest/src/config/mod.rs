//! The configuration of a REST API source, in dlt's `RESTAPIConfig` shape.
//!
//! Every table rejects keys it does not know; the error names the key and where it is
//! (`resources[1].endpoint: unknown field 'pagintor'`). Secrets in the config are held as
//! [`Secret`](sluice_core::Secret)s and never shown by `Debug`.
//!
//! One module per part of the config, each type with its parsing: the whole config and the
//! client here, `resource` (resources, their columns), `endpoint` (the request of a
//! resource, response actions), `incremental` (the cursor), `hints` (keys, write disposition,
//! schema contract) and `de` (TOML/JSON conversion and shared parsing helpers). Auth configs
//! live with their runtime in the crate's `auth` module, paginator configs with theirs in
//! [`crate::paginators`]; both are re-exported here.

mod de;
mod endpoint;
mod hints;
mod incremental;
mod resource;

pub use crate::auth::{ApiKeyLocation, AuthConfig};
pub use crate::paginators::PaginatorConfig;
pub use de::JsonValue;
pub(crate) use de::{de_secret, fields, json_to_toml, split_type};
pub use endpoint::{EndpointConfig, Method, ResponseAction, ResponseActionKind, StatusCode};
pub use hints::{KeyList, SchemaContractConfig, WriteDispositionConfig};
pub use incremental::{IncrementalConfig, LastValueFunc, OnCursorMissing, RangeBound};
pub use resource::{ColumnConfig, ResourceConfig, ResourceEntry};

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::{Error, Result};

fn default_max_concurrency() -> usize {
    8
}
fn default_request_timeout() -> f64 {
    60.0
}
fn default_max_attempts() -> u32 {
    5
}
fn default_backoff_factor() -> f64 {
    1.0
}
fn default_max_retry_delay() -> f64 {
    300.0
}
fn default_max_boundary_keys() -> usize {
    1000
}

/// The whole source configuration: dlt's `RESTAPIConfig` plus sluice's HTTP options.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestApiConfig {
    /// The source type, when the pipeline file's `[source]` table is passed as is: must be `rest_api`.
    #[serde(default, rename = "type")]
    pub source_type: Option<String>,
    /// The source name, when given in the config (the name passed to `RestApiSource::new` wins).
    #[serde(default)]
    pub name: Option<String>,
    /// The HTTP client: base URL, headers, auth, paginator.
    pub client: ClientConfig,
    /// Defaults merged into every resource (dlt's merge rules).
    #[serde(default)]
    pub resource_defaults: Option<ResourceConfig>,
    /// The resources: a name (`"posts"`) or a table.
    pub resources: Vec<ResourceEntry>,
    /// Requests per second for the whole source (token bucket); unlimited when absent.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Maximum requests in flight, and child requests run concurrently for different parent items.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Timeout of one request, in seconds (connect + response + body).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: f64,
    /// Attempts per request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Exponential backoff base in seconds: waits `factor * 2^(attempt-1)`.
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    /// Longest wait between attempts, in seconds (also caps `Retry-After`).
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay: f64,
    /// Most boundary keys kept per incremental cursor (rows whose cursor equals the last value).
    #[serde(default = "default_max_boundary_keys")]
    pub max_boundary_keys: usize,
    /// Retry POST requests like GETs. Off by default: a POST is retried only when the server
    /// cannot have acted on it (the connection was never made, or it answered 429 or 503); a
    /// timeout, a lost connection or another 5xx after a POST may mean it was accepted, and
    /// repeating it could create a second order or decision. Set it for endpoints that are safe
    /// to repeat (searches, lookups).
    #[serde(default)]
    pub retry_post: bool,
}

impl RestApiConfig {
    /// Read a config from a TOML value (a pipeline file's `[source]` table).
    /// Errors name the offending key and its place.
    pub fn from_toml(value: toml::Value) -> Result<Self> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner.trim_end();
            if path == "." || path.is_empty() {
                Error::config(format!("REST API source config: {inner}"))
            } else {
                Error::config(format!("REST API source config at '{path}': {inner}"))
            }
        })
    }

    /// Read a config from a TOML document's text.
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::config(format!(
                "REST API source config is not valid TOML: {}",
                e.message()
            ))
        })?;
        Self::from_toml(toml::Value::Table(table))
    }

    /// Read a config from a JSON value. JSON `null`s are treated as absent keys.
    pub fn from_json(value: &Value) -> Result<Self> {
        let t = json_to_toml(value).unwrap_or(toml::Value::Table(Default::default()));
        Self::from_toml(t)
    }
}

/// The HTTP client settings shared by all resources.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Base URL; resource paths are appended to it.
    pub base_url: String,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// Authentication.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Default paginator.
    #[serde(default)]
    pub paginator: Option<PaginatorConfig>,
    /// Further origins (`https://host[:port]`) that may receive the credentials. By default
    /// auth is sent only to the origin of `base_url` and of resource paths given as absolute
    /// URLs; a `next` link or redirect to any other origin is followed without credentials.
    #[serde(default)]
    pub auth_origins: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_name_key_and_place() {
        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x" }
            [[resources]]
            name = "a"
            endpoint = { path = "a", pagintor = "auto" }
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("pagintor"), "{err}");
        assert!(err.contains("resources[0].endpoint"), "{err}");

        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x", paginator = { type = "offset", limit = 5, foo = 1 } }
            resources = ["a"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("foo") && err.contains("client.paginator"),
            "{err}"
        );

        // A misspelt `type` is named (found by config_fuzz: it used to read the table as a
        // bearer token and complain about `access_token_url` instead).
        let err = RestApiConfig::from_toml_str(
            r#"
            client = { base_url = "http://x", auth = { typ = "oauth2_client_credentials", access_token_url = "http://t" } }
            resources = ["a"]
            "#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unknown key 'typ' (did you mean 'type'?)") && err.contains("client.auth"),
            "{err}"
        );
    }

    #[test]
    fn shapes_parse() {
        let c = RestApiConfig::from_json(&serde_json::json!({
            "client": {"base_url": "http://x", "auth": {"token": "t"}},
            "resources": ["posts", {"name": "c", "endpoint": "posts/{resources.posts.id}/c",
                "primary_key": "id", "write_disposition": {"disposition": "merge", "strategy": "upsert"}}],
        }))
        .unwrap();
        assert!(matches!(
            c.client.auth,
            Some(AuthConfig::Bearer { token: Some(_) })
        ));
        assert_eq!(c.resources.len(), 2);
        assert_eq!(
            c.resources[1].0.primary_key,
            Some(KeyList(vec!["id".into()]))
        );
        assert!(!format!("{c:?}").contains("\"t\""));
    }
}
