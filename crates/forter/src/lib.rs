//! The Forter source for sluice: a preset on the declarative REST API source.
//!
//! It follows Forter's conventions (see `reference/forter-api.md`): HTTP Basic with the API key
//! as user and an empty password, the `x-forter-siteid`, `api-version` and
//! `Content-Type: application/json` headers, a 2 s request timeout and one retry on
//! 429 / 5xx / timeouts. Resources:
//!
//! - `orders`: `GET v3/orders/{id}` for every configured order id (one resource per id, all
//!   loaded into the `orders` table, merged on `orderId`), or, when `order_list_path` is set,
//!   a paginated listing (`{"orders": [...], "next": "<url>"}`) such as the local test server's
//!   `v3/orders`;
//! - `order_status`: `POST v3/order-status` with `{"orderIds": [...]}`;
//! - `decisions`: `POST v3/decisions` with `{"orderIds": [...]}`.
//!
//! Credentials (`api_key`, `site_id`) come from `[sources.<name>]` in `.sluice/secrets.toml`
//! (or `.dlt/secrets.toml`), from `SOURCES__<NAME>__API_KEY` / `SOURCES__<NAME>__SITE_ID`, or
//! inline in the config. `base_url` and `api_version` may also come from that section.
//!
//! ```no_run
//! use sluice_core::ConfigProvider;
//! use sluice_forter::{ForterConfig, forter_source};
//!
//! # fn build() -> sluice_core::Result<()> {
//! let config = ForterConfig {
//!     order_ids: vec!["100000001".into(), "100000002".into()],
//!     ..ForterConfig::default()
//! };
//! let secrets = ConfigProvider::load(std::path::Path::new("."))?
//!     .section(&["sources", "forter_order_v3_source"]);
//! let source = forter_source("forter_order_v3_source", config, &secrets)?;
//! # let _ = source; Ok(()) }
//! ```

mod source;

pub use source::{ForterSource, ForterSourceFactory};

use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{ConfigSection, Error, Result, Secret, Source, SourceEvent};
use sluice_rest::{RestApiConfig, RestApiSource};
use std::path::PathBuf;

/// Forter's API host (the bare style used by Forter's plugins).
pub const DEFAULT_BASE_URL: &str = "https://api.forter-secure.com";
/// The `api-version` sent by default: the value of Forter's current API reference examples.
pub const DEFAULT_API_VERSION: &str = "10.1";
/// The secrets section name used by dlt's Forter guide.
pub const DEFAULT_SOURCE_NAME: &str = "forter_order_v3_source";

/// A resource of the Forter source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForterResource {
    /// Orders (`GET v3/orders/{id}`), table `orders` with nested cart items and payments.
    Orders,
    /// Order statuses (`POST v3/order-status`).
    OrderStatus,
    /// Decisions (`POST v3/decisions`).
    Decisions,
}

impl ForterResource {
    /// The resource (and table) name.
    pub fn name(self) -> &'static str {
        match self {
            ForterResource::Orders => "orders",
            ForterResource::OrderStatus => "order_status",
            ForterResource::Decisions => "decisions",
        }
    }

    /// All resources.
    pub fn all() -> Vec<ForterResource> {
        vec![
            ForterResource::Orders,
            ForterResource::OrderStatus,
            ForterResource::Decisions,
        ]
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_string()
}
fn default_timeout() -> f64 {
    2.0
}
fn default_max_attempts() -> u32 {
    2
}
fn default_backoff_factor() -> f64 {
    0.5
}
fn default_max_retry_delay() -> f64 {
    10.0
}
fn default_max_concurrency() -> usize {
    8
}

fn de_opt_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

/// The Forter source settings (a pipeline file's `[source]` table, without `type` and `name`).
/// Unknown keys are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForterConfig {
    /// `forter` when the pipeline file's `[source]` table is passed as is.
    #[serde(default, rename = "type")]
    pub source_type: Option<String>,
    /// Source name when given in the config (the name passed to [`forter_source`] wins).
    #[serde(default)]
    pub name: Option<String>,
    /// API host. `{site_id}` is replaced by the site id (`https://{site_id}.api.forter-secure.com`).
    /// A `base_url` in the `[sources.<name>]` section (or `SOURCES__<NAME>__BASE_URL`) wins.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The `api-version` header (per-account; see Forter's portal). A value in the section wins.
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Request timeout in seconds (2 s, as Forter's own plugins).
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Attempts per request, the first included (2 = one retry, as Forter recommends).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Exponential backoff base between attempts, in seconds (`Retry-After` wins).
    #[serde(default = "default_backoff_factor")]
    pub backoff_factor: f64,
    /// Longest wait between attempts, in seconds (also caps `Retry-After`).
    #[serde(default = "default_max_retry_delay")]
    pub max_retry_delay: f64,
    /// Requests per second over the whole source; unlimited when absent.
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Retry the POST resources (order status, decisions) also after a timeout or a 500, when
    /// Forter may already have acted on the request. Off by default: only a refused connection,
    /// a 429 and a 503 are retried for a POST.
    #[serde(default)]
    pub retry_post: bool,
    /// Most requests in flight.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Order ids to read.
    #[serde(default)]
    pub order_ids: Vec<String>,
    /// A file with one order id per line (blank lines and `#` comments skipped).
    #[serde(default)]
    pub order_ids_file: Option<PathBuf>,
    /// Path of an order listing endpoint (`{"orders": [...], "next": url}`), used instead of
    /// one request per id. Forter's public API has none; the local test server offers `v3/orders`.
    #[serde(default)]
    pub order_list_path: Option<String>,
    /// `page_size` query parameter of the listing.
    #[serde(default)]
    pub page_size: Option<u64>,
    /// Resources to load (all when absent).
    #[serde(default)]
    pub resources: Option<Vec<ForterResource>>,
    /// API key inline (better: the secrets section).
    #[serde(default, deserialize_with = "de_opt_secret")]
    pub api_key: Option<Secret>,
    /// Site id inline (better: the secrets section).
    #[serde(default)]
    pub site_id: Option<String>,
}

impl Default for ForterConfig {
    fn default() -> Self {
        Self {
            source_type: None,
            name: None,
            base_url: default_base_url(),
            api_version: default_api_version(),
            timeout: default_timeout(),
            max_attempts: default_max_attempts(),
            backoff_factor: default_backoff_factor(),
            max_retry_delay: default_max_retry_delay(),
            rate_limit: None,
            retry_post: false,
            max_concurrency: default_max_concurrency(),
            order_ids: Vec::new(),
            order_ids_file: None,
            order_list_path: None,
            page_size: None,
            resources: None,
            api_key: None,
            site_id: None,
        }
    }
}

impl ForterConfig {
    /// Read the settings from a TOML value (a pipeline file's `[source]` table). Errors name
    /// the offending key.
    pub fn from_toml(value: toml::Value) -> Result<Self> {
        let c = ForterConfig::deserialize(value).map_err(|e| {
            Error::config(format!("Forter source config: {}", e.message().trim_end()))
        })?;
        let secs = |key: &str, v: f64, positive: bool| {
            sluice_core::config::check_seconds(&format!("Forter source config: {key}"), v, positive)
        };
        secs("timeout", c.timeout, true)?;
        secs("backoff_factor", c.backoff_factor, false)?;
        secs("max_retry_delay", c.max_retry_delay, false)?;
        if let Some(r) = c.rate_limit {
            secs("rate_limit (requests per second)", r, true)?;
        }
        let max = sluice_rest::MAX_CONCURRENCY;
        if !(1..=max).contains(&c.max_concurrency) {
            return Err(Error::config(format!(
                "Forter source config: max_concurrency must be between 1 and {max}, got {}",
                c.max_concurrency
            )));
        }
        Ok(c)
    }

    /// The order ids: `order_ids` then the lines of `order_ids_file`, duplicates dropped.
    pub fn resolve_order_ids(&self) -> Result<Vec<String>> {
        let mut ids: Vec<String> = Vec::new();
        let mut push = |id: &str| {
            let id = id.trim();
            if !id.is_empty() && !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
        };
        for id in &self.order_ids {
            push(id);
        }
        if let Some(file) = &self.order_ids_file {
            let text = std::fs::read_to_string(file).map_err(|e| {
                Error::config(format!(
                    "Forter source: cannot read order_ids_file {}: {e}",
                    file.display()
                ))
            })?;
            for line in text.lines() {
                let line = line.trim();
                if !line.starts_with('#') {
                    push(line);
                }
            }
        }
        Ok(ids)
    }
}

/// Resolved credentials and endpoint of a Forter account.
struct Account {
    api_key: Secret,
    site_id: String,
    base_url: String,
    api_version: String,
}

fn env_prefix(name: &str) -> String {
    format!("SOURCES__{}", name.to_uppercase())
}

fn resolve_account(name: &str, config: &ForterConfig, secrets: &ConfigSection) -> Result<Account> {
    let api_key = config
        .api_key
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| secrets.get_secret("api_key").filter(|s| !s.is_empty()));
    let site_id = config
        .site_id
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| secrets.get_str("site_id").filter(|s| !s.trim().is_empty()));
    let mut missing = Vec::new();
    if api_key.is_none() {
        missing.push("api_key");
    }
    if site_id.is_none() {
        missing.push("site_id");
    }
    if !missing.is_empty() {
        let prefix = env_prefix(name);
        let env: Vec<String> = missing
            .iter()
            .map(|k| format!("{prefix}__{}", k.to_uppercase()))
            .collect();
        return Err(Error::config(format!(
            "Forter source '{name}': missing {what}. Put {them} in .sluice/secrets.toml (or .dlt/secrets.toml) \
             under [sources.{name}] ({keys}), or set {env}. Both come from your Forter portal; \
             test and production sites have different values.",
            what = missing.join(" and "),
            them = if missing.len() == 1 { "it" } else { "them" },
            keys = missing
                .iter()
                .map(|k| format!("{k} = \"...\""))
                .collect::<Vec<_>>()
                .join(", "),
            env = env.join(" and "),
        )));
    }
    let site_id = site_id.expect("checked").trim().to_string();
    let base_url = secrets
        .get_str("base_url")
        .unwrap_or_else(|| config.base_url.clone())
        .replace("{site_id}", &site_id);
    let api_version = secrets
        .get_str("api_version")
        .unwrap_or_else(|| config.api_version.clone());
    if api_version.trim().is_empty() {
        return Err(Error::config(format!(
            "Forter source '{name}': api_version is empty; Forter requires the api-version header (e.g. \"{DEFAULT_API_VERSION}\")"
        )));
    }
    Ok(Account {
        api_key: api_key.expect("checked"),
        site_id,
        base_url,
        api_version,
    })
}

/// Percent-encode an order id for a URL path segment (also keeps `{`/`}` out of templates).
fn encode_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn client_json(account: &Account, config: &ForterConfig) -> Value {
    json!({
        "base_url": account.base_url,
        "headers": {
            "x-forter-siteid": account.site_id,
            "api-version": account.api_version,
            "Content-Type": "application/json",
        },
        "auth": {"type": "http_basic", "username": account.api_key.expose(), "password": ""},
        "paginator": {"type": if config.order_list_path.is_some() { "json_link" } else { "single_page" }},
    })
}

fn http_options(config: &ForterConfig, resources: Vec<Value>, client: Value) -> Value {
    let mut v = json!({
        "client": client,
        "resources": resources,
        "request_timeout": config.timeout,
        "max_attempts": config.max_attempts.max(1),
        "backoff_factor": config.backoff_factor,
        "max_retry_delay": config.max_retry_delay,
        "max_concurrency": config.max_concurrency.max(1),
        "retry_post": config.retry_post,
    });
    if let Some(r) = config.rate_limit {
        v["rate_limit"] = json!(r);
    }
    v
}

/// The (unselected) resource holding the configured order ids; `orders` is its child.
pub const ORDER_IDS_RESOURCE: &str = "order_ids";

/// Build the REST API configuration of a Forter source (credentials resolved from `secrets`).
pub fn forter_rest_config(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<RestApiConfig> {
    if let Some(t) = &config.source_type
        && t != "forter"
    {
        return Err(Error::config(format!("source type '{t}' is not forter")));
    }
    let account = resolve_account(name, config, secrets)?;
    let selected = config.resources.clone().unwrap_or_else(ForterResource::all);
    if selected.is_empty() {
        return Err(Error::config(format!(
            "Forter source '{name}': resources is empty; use any of orders, order_status, decisions"
        )));
    }
    let ids = config.resolve_order_ids()?;
    if ids.is_empty() && config.order_list_path.is_none() {
        return Err(Error::config(format!(
            "Forter source '{name}': no order ids. Forter has no endpoint that lists orders: \
             set order_ids = [\"...\"] or order_ids_file = \"ids.txt\" (one id per line) in the source config"
        )));
    }
    let single = json!({"type": "single_page"});
    let body = if ids.is_empty() {
        json!({})
    } else {
        json!({ "orderIds": ids })
    };
    let mut resources = Vec::new();
    for r in &selected {
        match r {
            ForterResource::Orders => match &config.order_list_path {
                Some(path) => {
                    let mut endpoint = json!({
                        "path": path,
                        "data_selector": "orders",
                        "paginator": {"type": "json_link", "next_url_path": "next"},
                    });
                    if let Some(n) = config.page_size {
                        endpoint["params"] = json!({ "page_size": n });
                    }
                    resources.push(json!({
                        "name": "orders",
                        "endpoint": endpoint,
                        "primary_key": "orderId",
                        "write_disposition": "merge",
                    }));
                }
                None => {
                    // The configured ids are a parent resource that makes no request; `orders`
                    // fans out over them (concurrently, under the rate limit).
                    let items: Vec<Value> = ids
                        .iter()
                        .map(|id| json!({ "id": encode_segment(id) }))
                        .collect();
                    resources.push(json!({
                        "name": ORDER_IDS_RESOURCE,
                        "items": items,
                        "selected": false,
                    }));
                    resources.push(json!({
                        "name": "orders",
                        "endpoint": {
                            "path": format!("v3/orders/{{resources.{ORDER_IDS_RESOURCE}.id}}"),
                            "data_selector": "$",
                            "paginator": single,
                        },
                        "primary_key": "orderId",
                        "write_disposition": "merge",
                    }));
                }
            },
            ForterResource::OrderStatus => resources.push(json!({
                "name": "order_status",
                "endpoint": {
                    "path": "v3/order-status", "method": "POST", "json": body,
                    "data_selector": "orderStatuses", "paginator": single,
                },
                "primary_key": "orderId",
                "write_disposition": "merge",
            })),
            ForterResource::Decisions => resources.push(json!({
                "name": "decisions",
                "endpoint": {
                    "path": "v3/decisions", "method": "POST", "json": body,
                    "data_selector": "decisions", "paginator": single,
                },
                "primary_key": "orderId",
                "write_disposition": "merge",
            })),
        }
    }
    let v = http_options(config, resources, client_json(&account, config));
    RestApiConfig::from_json(&v).map_err(|e| e.context(format!("Forter source '{name}'")))
}

/// Build the Forter source named `name` (its secrets section is `[sources.<name>]`).
pub fn forter_source(
    name: &str,
    config: ForterConfig,
    secrets: &ConfigSection,
) -> Result<RestApiSource> {
    let rest = forter_rest_config(name, &config, secrets)?;
    RestApiSource::new(name, rest, secrets)
}

/// Build the Forter source from a TOML table (a pipeline file's `[source]`, `type`/`name` allowed).
pub fn forter_source_from_toml(
    name: &str,
    config: toml::Value,
    secrets: &ConfigSection,
) -> Result<RestApiSource> {
    forter_source(name, ForterConfig::from_toml(config)?, secrets)
}

/// Validate the credentials with `GET /credentials/test`, as Forter's own plugins do. Fails
/// with the HTTP status and Forter's message (401 for a wrong key or site id).
pub async fn check_credentials(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<()> {
    let account = resolve_account(name, config, secrets)?;
    let mut client = client_json(&account, config);
    client["paginator"] = json!({"type": "single_page"});
    let resources = vec![json!({
        "name": "credentials_test",
        "endpoint": {"path": "credentials/test", "data_selector": "$"},
    })];
    let v = http_options(config, resources, client);
    let rest = RestApiConfig::from_json(&v)?;
    let source = Box::new(RestApiSource::new(name, rest, secrets)?);
    let mut events = source.extract(Value::Null);
    let mut ok = false;
    while let Some(ev) = events.next().await {
        let ev = ev.map_err(|e| e.context(format!("Forter credentials check of '{name}'")))?;
        if let SourceEvent::Page { items, .. } = ev {
            for item in items {
                match item.get("status").and_then(Value::as_str) {
                    Some("success") => ok = true,
                    other => {
                        return Err(Error::config(format!(
                            "Forter credentials check of '{name}': GET credentials/test answered status {}",
                            other.unwrap_or("(none)")
                        )));
                    }
                }
            }
        }
    }
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "Forter credentials check of '{name}': GET credentials/test returned no status"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(text: &str) -> ConfigSection {
        ConfigSection::from_table(
            "sources.forter_order_v3_source",
            text.parse().expect("toml"),
        )
    }

    #[test]
    fn missing_credentials_say_where_to_put_them() {
        let cfg = ForterConfig {
            order_ids: vec!["1".into()],
            ..ForterConfig::default()
        };
        let err = forter_source(DEFAULT_SOURCE_NAME, cfg.clone(), &secrets(""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[sources.forter_order_v3_source]"), "{err}");
        assert!(
            err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY"),
            "{err}"
        );
        assert!(
            err.contains("SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID"),
            "{err}"
        );
        let err = forter_source(
            DEFAULT_SOURCE_NAME,
            cfg,
            &secrets("api_key = \"very-secret-key\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("missing site_id"), "{err}");
        assert!(!err.contains("very-secret-key"), "{err}");
        assert!(!err.contains("API_KEY"), "{err}");
    }

    #[test]
    fn builds_resources_and_headers() {
        let cfg = ForterConfig::from_toml(toml::Value::Table(
            r#"
            type = "forter"
            base_url = "https://{site_id}.api.forter-secure.com"
            order_ids = ["100", "a/b"]
            resources = ["orders", "decisions"]
            "#
            .parse()
            .unwrap(),
        ))
        .unwrap();
        let rest = forter_rest_config("f", &cfg, &secrets("api_key = \"k\"\nsite_id = \"site1\""))
            .unwrap();
        assert_eq!(rest.client.base_url, "https://site1.api.forter-secure.com");
        assert_eq!(rest.client.headers["x-forter-siteid"], "site1");
        assert_eq!(rest.client.headers["api-version"], DEFAULT_API_VERSION);
        assert_eq!(rest.client.headers["Content-Type"], "application/json");
        assert_eq!(rest.request_timeout, 2.0);
        assert_eq!(rest.max_attempts, 2);
        let names: Vec<_> = rest
            .resources
            .iter()
            .map(|r| r.0.name.clone().unwrap())
            .collect();
        assert_eq!(names, [ORDER_IDS_RESOURCE, "orders", "decisions"]);
        let ids: Vec<Value> = rest.resources[0]
            .0
            .items
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| v.0.clone())
            .collect();
        assert_eq!(
            ids,
            [json!({"id": "100"}), json!({"id": "a%2Fb"})],
            "ids are encoded as path segments"
        );
        assert_eq!(rest.resources[0].0.selected, Some(false));
        let ep = rest.resources[1].0.endpoint.as_ref().unwrap();
        assert_eq!(
            ep.path.as_deref(),
            Some("v3/orders/{resources.order_ids.id}")
        );
        assert!(!format!("{rest:?}").contains("\"k\""));
        let src = forter_source_from_toml(
            "f",
            toml::Value::Table("order_ids = [\"1\"]".parse().unwrap()),
            &secrets("api_key = \"k\"\nsite_id = \"s\""),
        )
        .unwrap();
        let tables: Vec<String> = src
            .resources()
            .iter()
            .map(|h| h.table().to_string())
            .collect();
        assert_eq!(tables, ["orders", "order_status", "decisions"]);
    }

    #[test]
    fn section_overrides_and_unknown_keys() {
        let cfg = ForterConfig {
            order_list_path: Some("v3/orders".into()),
            ..ForterConfig::default()
        };
        let rest = forter_rest_config(
            "f",
            &cfg,
            &secrets(
                "api_key = \"k\"\nsite_id = \"s\"\nbase_url = \"http://127.0.0.1:1\"\napi_version = \"2.36\"",
            ),
        )
        .unwrap();
        assert_eq!(rest.client.base_url, "http://127.0.0.1:1");
        assert_eq!(rest.client.headers["api-version"], "2.36");
        let err = ForterConfig::from_toml(toml::Value::Table("order_idz = []".parse().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("order_idz"), "{err}");
        let err = forter_rest_config(
            "f",
            &ForterConfig::default(),
            &secrets("api_key = \"k\"\nsite_id = \"s\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("order_ids_file"), "{err}");
    }

    #[test]
    fn order_ids_file_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ids.txt");
        std::fs::write(&path, "# ids\n1\n\n 2 \n1\n").unwrap();
        let cfg = ForterConfig {
            order_ids: vec!["3".into()],
            order_ids_file: Some(path),
            ..ForterConfig::default()
        };
        assert_eq!(cfg.resolve_order_ids().unwrap(), ["3", "1", "2"]);
    }
}
