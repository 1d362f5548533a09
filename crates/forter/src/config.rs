//! The Forter source settings: a pipeline file's `[source]` table, with one sub-table per
//! push resource (`[source.decisions]`, `[source.order_status]`, `[source.tokenization]`).

use serde::Deserialize;
use sluice_core::{Error, Result, Secret};
use std::path::PathBuf;

/// Forter's API host (the bare style used by Forter's plugins).
pub const DEFAULT_BASE_URL: &str = "https://api.forter-secure.com";
/// The `api-version` sent by default: the value of Forter's current API reference examples.
pub const DEFAULT_API_VERSION: &str = "10.1";
/// The host of Forter's tokenization sandbox (the PCI tokenization API has its own host).
pub const DEFAULT_TOKENIZATION_URL: &str = "https://pci-tokenization-sandbox.checkouttools.com/v1/";
/// The path read by `health` and by `sluice check`: the credentials test of Forter's plugins.
pub const DEFAULT_HEALTH_PATH: &str = "credentials/test";
/// Requests per second by default: what Forter's test sites are said to allow.
pub const DEFAULT_RATE_LIMIT: f64 = 10.0;
/// The secrets section name used by dlt's Forter guide.
pub const DEFAULT_SOURCE_NAME: &str = "forter_order_v3_source";

/// A resource of the Forter source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForterResource {
    /// Orders read with `GET v3/orders/{id}` (or a listing): an order store such as the local
    /// test server. Forter itself documents no such read.
    Orders,
    /// Forter's order status updates (`POST v2/status/{orderId}`), one per item.
    OrderStatus,
    /// Forter's decisions: each order sent to `POST v3/orders/{orderId}`, one per item.
    Decisions,
    /// The PCI tokenization API, on its own host with its own credentials, one POST per item.
    Tokenization,
    /// `GET credentials/test` (configurable), one row per run.
    Health,
}

impl ForterResource {
    /// The resource (and table) name.
    pub fn name(self) -> &'static str {
        match self {
            ForterResource::Orders => "orders",
            ForterResource::OrderStatus => "order_status",
            ForterResource::Decisions => "decisions",
            ForterResource::Tokenization => "tokenization",
            ForterResource::Health => "health",
        }
    }

    /// The push resources: one POST per item, the body built from the item.
    pub fn push() -> [ForterResource; 3] {
        [
            ForterResource::Decisions,
            ForterResource::OrderStatus,
            ForterResource::Tokenization,
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
fn default_rate_limit() -> Option<f64> {
    Some(DEFAULT_RATE_LIMIT)
}
fn default_max_concurrency() -> usize {
    8
}
fn default_health_path() -> String {
    DEFAULT_HEALTH_PATH.to_string()
}

fn de_opt_secret<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Secret>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(Secret::new))
}

/// Where the items of a push resource come from, and how each becomes a request
/// (`[source.decisions]`, `[source.order_status]`, `[source.tokenization]`).
///
/// The body and the path are templates over one item: `{item}` is the whole item (only as a
/// whole string: `body = "{item}"`), `{item.<field>}` one of its fields (a dotted path), `{key}`
/// the item's `key` field. A string that is exactly one placeholder keeps the value's JSON type.
/// `{{` and `}}` are literal braces.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    /// A JSON Lines file: one item (a JSON object) per line; blank lines are skipped.
    #[serde(default)]
    pub items_file: Option<PathBuf>,
    /// Instead of a file, the rows of another resource of this source (`orders`).
    #[serde(default)]
    pub from: Option<String>,
    /// The request path (relative to the host). Defaults: `v3/orders/{key}` (decisions),
    /// `v2/status/{key}` (order status); tokenization has none and needs one.
    #[serde(default)]
    pub path: Option<String>,
    /// The item's field that keys the request: it fills `{key}` and is loaded with Forter's
    /// answer as `_<parent>_<key>` (the merge key). Default `orderId` (decisions, order status).
    #[serde(default)]
    pub key: Option<String>,
    /// The JSON body built from each item: `"{item}"` (the default) sends the item as it is,
    /// a table such as `{ orderId = "{item.id}", updatedStatus = "SENT" }` builds one.
    #[serde(default)]
    pub body: Option<toml::Value>,
    /// JSONPath of the rows in Forter's answer (default `$`: the answer is one row).
    #[serde(default)]
    pub data_selector: Option<String>,
    /// Another host for this resource (tokenization: default Forter's sandbox host).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// The Forter source settings (a pipeline file's `[source]` table, without `type` and `name`).
/// Unknown keys are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForterConfig {
    /// `forter` when the pipeline file's `[source]` table is passed as is.
    #[serde(default, rename = "type")]
    pub source_type: Option<String>,
    /// Source name when given in the config (the name passed to [`crate::forter_source`] wins).
    #[serde(default)]
    pub name: Option<String>,
    /// API host. `{site_id}` is replaced by the site id (`https://{site_id}.api.forter-secure.com`).
    /// A `base_url` in the `[sources.<name>]` section (or `SOURCES__<NAME>__BASE_URL`) wins.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The `api-version` header (per account; see Forter's portal). A value in the section wins.
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
    /// Requests per second over the whole source (default 10, the figure given for Forter's
    /// test sites; production throughput is provisioned per account).
    #[serde(default = "default_rate_limit")]
    pub rate_limit: Option<f64>,
    /// Retry the push resources also after a timeout or a 5xx other than 503, when Forter may
    /// already have taken the request. Off by default: a POST is then retried only after a
    /// refused connection, a 429 or a 503. (`retry_unsafe_posts` is another name for it.)
    #[serde(default, alias = "retry_unsafe_posts")]
    pub retry_post: bool,
    /// Most requests in flight.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Order ids for `orders`.
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
    /// The path `health` and `sluice check` read with a GET.
    #[serde(default = "default_health_path")]
    pub health_path: String,
    /// Decisions: each item (an order) sent to `POST v3/orders/{key}`.
    #[serde(default)]
    pub decisions: Option<PushConfig>,
    /// Order status updates: each item sent to `POST v2/status/{key}`.
    #[serde(default)]
    pub order_status: Option<PushConfig>,
    /// Tokenization: each item sent to the tokenization host's `path`.
    #[serde(default)]
    pub tokenization: Option<PushConfig>,
    /// Resources to load. Default: `orders` when order ids or a listing are given, and every
    /// push resource that has its table.
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
            rate_limit: default_rate_limit(),
            retry_post: false,
            max_concurrency: default_max_concurrency(),
            order_ids: Vec::new(),
            order_ids_file: None,
            order_list_path: None,
            page_size: None,
            health_path: default_health_path(),
            decisions: None,
            order_status: None,
            tokenization: None,
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
        let c = serde_path_to_error::deserialize::<_, ForterConfig>(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let inner = inner.trim_end();
            if path == "." || path.is_empty() {
                Error::config(format!("Forter source config: {inner}"))
            } else {
                Error::config(format!("Forter source config at '{path}': {inner}"))
            }
        })?;
        c.check()?;
        Ok(c)
    }

    /// Check the numbers (seconds, rate, concurrency).
    pub fn check(&self) -> Result<()> {
        let secs = |key: &str, v: f64, positive: bool| {
            sluice_core::config::check_seconds(&format!("Forter source config: {key}"), v, positive)
        };
        secs("timeout", self.timeout, true)?;
        secs("backoff_factor", self.backoff_factor, false)?;
        secs("max_retry_delay", self.max_retry_delay, false)?;
        if let Some(r) = self.rate_limit {
            secs("rate_limit (requests per second)", r, true)?;
        }
        let max = sluice_rest::MAX_CONCURRENCY;
        if !(1..=max).contains(&self.max_concurrency) {
            return Err(Error::config(format!(
                "Forter source config: max_concurrency must be between 1 and {max}, got {}",
                self.max_concurrency
            )));
        }
        Ok(())
    }

    /// The push resource's table, if given.
    pub fn push_config(&self, r: ForterResource) -> Option<&PushConfig> {
        match r {
            ForterResource::Decisions => self.decisions.as_ref(),
            ForterResource::OrderStatus => self.order_status.as_ref(),
            ForterResource::Tokenization => self.tokenization.as_ref(),
            ForterResource::Orders | ForterResource::Health => None,
        }
    }

    /// Whether `orders` has something to read (ids or a listing).
    pub fn has_orders(&self) -> bool {
        !self.order_ids.is_empty()
            || self.order_ids_file.is_some()
            || self.order_list_path.is_some()
    }

    /// The resources to load: `resources`, or by default `orders` when it has ids or a
    /// listing and every push resource that has its table.
    pub fn selected(&self) -> Vec<ForterResource> {
        if let Some(r) = &self.resources {
            return r.clone();
        }
        let mut out = Vec::new();
        if self.has_orders() {
            out.push(ForterResource::Orders);
        }
        out.extend(
            ForterResource::push()
                .into_iter()
                .filter(|r| self.push_config(*r).is_some()),
        );
        out
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
