//! The Forter source for sluice: a preset on the declarative REST API source.
//!
//! Forter's API is mostly push: the merchant sends an event (an order, a status update) and
//! Forter answers in the same call. So the preset sends what it is given and loads the answers
//! (see `docs/forter.md` in the repository for the facts it relies on):
//!
//! - `decisions`: each item (an order) is POSTed to `v3/orders/{key}`; Forter's decision is
//!   loaded with the item's key;
//! - `order_status`: each item (a status update) is POSTed to `v2/status/{key}`; Forter's
//!   acknowledgement is loaded with the key;
//! - `tokenization`: each item is POSTed to the tokenization API, on its own host
//!   ([`DEFAULT_TOKENIZATION_URL`]) with its own credentials (`tokenization_site_id`,
//!   `tokenization_secret`: HTTP Basic);
//! - `health`: a GET of `health_path` (default `credentials/test`), one row per run;
//! - `orders`: `GET v3/orders/{id}` per configured id, or a listing (`order_list_path`): an
//!   order store such as the local test server; Forter documents no such read.
//!
//! The items of a push resource come from a JSON Lines file (`items_file`) or from the rows of
//! `orders` (`from = "orders"`): one request per item, the body built from the item by the
//! `body` template (default `"{item}"`: the item as it is; see [`PushConfig`]). Nothing is
//! invented: with neither, the resource is a config error.
//!
//! Forter's conventions: HTTP Basic with the API key as user and an empty password, the
//! `x-forter-siteid`, `api-version` (per account) and `Content-Type: application/json`
//! headers, a 2 s timeout, one retry on 429 / 5xx / timeouts with backoff, and 10 requests per
//! second. A POST is not repeated after a timeout or a 5xx other than 503 (Forter may have
//! taken it) unless `retry_post = true`.
//!
//! Credentials (`api_key`, `site_id`) come from `[sources.<name>]` in `.sluice/secrets.toml`
//! (or `.dlt/secrets.toml`), from `SOURCES__<NAME>__API_KEY` / `SOURCES__<NAME>__SITE_ID`, or
//! inline in the config. `base_url` and `api_version` may also come from that section.
//!
//! ```no_run
//! use sluice_core::ConfigProvider;
//! use sluice_forter::{ForterConfig, PushConfig, forter_source};
//!
//! # fn build() -> sluice_core::Result<()> {
//! let config = ForterConfig {
//!     decisions: Some(PushConfig {
//!         items_file: Some("orders.jsonl".into()),
//!         ..PushConfig::default()
//!     }),
//!     ..ForterConfig::default()
//! };
//! let secrets = ConfigProvider::load(std::path::Path::new("."))?
//!     .section(&["sources", "forter_order_v3_source"]);
//! let source = forter_source("forter_order_v3_source", config, &secrets)?;
//! # let _ = source; Ok(()) }
//! ```

mod account;
mod build;
mod config;
mod hints;
mod push;
mod source;

pub use build::{ORDER_IDS_RESOURCE, forter_rest_config};
pub use config::{
    DEFAULT_API_VERSION, DEFAULT_BASE_URL, DEFAULT_HEALTH_PATH, DEFAULT_RATE_LIMIT,
    DEFAULT_SOURCE_NAME, DEFAULT_TOKENIZATION_URL, ForterConfig, ForterResource, PushConfig,
};
pub use source::{ForterSource, ForterSourceFactory};

use futures::StreamExt;
use serde_json::Value;
use sluice_core::{ConfigSection, Error, Result, Source, SourceEvent};
use sluice_rest::RestApiSource;

/// Build the Forter source named `name` (its secrets section is `[sources.<name>]`).
pub fn forter_source(
    name: &str,
    config: ForterConfig,
    secrets: &ConfigSection,
) -> Result<ForterSource> {
    ForterSource::new(name, config, secrets)
}

/// Build the Forter source from a TOML table (a pipeline file's `[source]`, `type`/`name` allowed).
pub fn forter_source_from_toml(
    name: &str,
    config: toml::Value,
    secrets: &ConfigSection,
) -> Result<ForterSource> {
    forter_source(name, ForterConfig::from_toml(config)?, secrets)
}

/// Validate the credentials with a GET of `health_path` (`credentials/test`), as Forter's own
/// plugins do. Fails with the HTTP status and Forter's message (401 for a wrong key or site id).
pub async fn check_credentials(
    name: &str,
    config: &ForterConfig,
    secrets: &ConfigSection,
) -> Result<()> {
    let path = &config.health_path;
    let rest = build::health_check_config(name, config, secrets)?;
    let source = Box::new(RestApiSource::new(name, rest, secrets)?);
    let mut events = source.extract(Value::Null);
    let mut ok = false;
    while let Some(ev) = events.next().await {
        let ev = ev.map_err(|e| {
            hints::with_hint(name, e).context(format!("Forter credentials check of '{name}'"))
        })?;
        if let SourceEvent::Page { items, .. } = ev {
            for item in items {
                match item.get("status").and_then(Value::as_str) {
                    Some("success") => ok = true,
                    other => {
                        return Err(Error::config(format!(
                            "Forter credentials check of '{name}': GET {path} answered status {}",
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
            "Forter credentials check of '{name}': GET {path} returned no status"
        )))
    }
}

#[cfg(test)]
mod tests;
