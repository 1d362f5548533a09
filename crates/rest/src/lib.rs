//! A declarative REST API source for sluice, in the shape of dlt's `rest_api` source.
//!
//! The configuration ([`RestApiConfig`]) has dlt's `RESTAPIConfig` layout: a `client` (base URL,
//! headers, auth, paginator), `resource_defaults` and `resources`, plus sluice's HTTP options
//! (`rate_limit`, `max_concurrency`, `request_timeout`, `max_attempts`, `backoff_factor`,
//! `max_retry_delay`, `max_boundary_keys`). [`RestApiSource`] implements
//! [`sluice_core::Source`]: it streams pages of items as they arrive — child requests for
//! different parent items run concurrently — and finishes with the new incremental state.
//!
//! ```no_run
//! use futures::StreamExt;
//! use sluice_core::{ConfigSection, Source, SourceEvent};
//! use sluice_rest::{RestApiConfig, RestApiSource};
//!
//! # async fn run() -> sluice_core::Result<()> {
//! let config = RestApiConfig::from_toml_str(r#"
//!     rate_limit = 50
//!     [client]
//!     base_url = "https://api.example.com/v1"
//!     auth = { type = "bearer" }            # token from [sources.shop] or SOURCES__SHOP__TOKEN
//!     paginator = { type = "json_link", next_url_path = "next" }
//!     [[resources]]
//!     name = "orders"
//!     primary_key = "id"
//!     endpoint = { path = "orders", incremental = { cursor_path = "updated_at", initial_value = "2024-01-01T00:00:00Z" }, params = { since = "{incremental.start_value}" } }
//!     [[resources]]
//!     name = "order_items"
//!     include_from_parent = ["id"]
//!     endpoint = "orders/{resources.orders.id}/items"
//! "#)?;
//! let secrets = ConfigSection::default();
//! let source = Box::new(RestApiSource::new("shop", config, &secrets)?);
//! let mut events = source.extract(serde_json::Value::Null);
//! while let Some(event) = events.next().await {
//!     match event? {
//!         SourceEvent::Page { resource, items } => println!("{resource}: {} items", items.len()),
//!         SourceEvent::Batch { resource, batch } => println!("{resource}: {} rows", batch.num_rows()),
//!         SourceEvent::State(state) => println!("new state {state}"),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Module map
//!
//! - [`config`]: the config types, one module per part (resources, endpoints, incremental,
//!   hints), read from TOML or JSON with errors that name the key and its place;
//! - [`paginators`]: one module per paginator kind, each holding the kind's config and its
//!   runtime state; `auth`: auth configs and their runtime form (secrets resolved, OAuth2
//!   token cache);
//! - `source`: [`RestApiSource`] (building it from a config, and `Source::extract`);
//!   `defaults` merges `resource_defaults` into resources, `resolve` turns a resource's config
//!   into what its requests need (and builds a request), `graph` checks the parent/child graph
//!   and streams a resource with its children;
//! - `pages` (one request sequence: paginate, select data, incremental filter), `http` (retries,
//!   rate limit, auth on the wire), `incremental`, `template` (placeholders), [`jsonpath`],
//!   `raw_items` (lazy items of large pages), `credentials` (auth scope, redaction),
//!   [`progress`].
//!
//! # Adding a paginator
//!
//! Write `paginators/my_kind.rs` with the kind's public config struct (its settings, documented),
//! its `Kind` impl (`type` names, how its table is read, how a run starts) and its runtime state
//! (a `PageState` impl: what it reads from a response, how it changes the next request, when it
//! stops); then add one line `MyKind(my_kind::MyKindConfig),` with a doc comment to the
//! `paginator_kinds!` list in `paginators/mod.rs`. That declares the module, adds the
//! `PaginatorConfig::MyKind` variant and dispatches parsing (by its `type` names) and runs to it.

mod auth;
pub mod config;
mod credentials;
mod defaults;
mod graph;
mod http;
mod incremental;
pub mod jsonpath;
mod pages;
pub mod paginators;
pub mod partition;
pub mod progress;
mod raw_items;
#[cfg(test)]
mod raw_items_fuzz;
mod resolve;
mod source;
mod template;

pub use config::{AuthConfig, PaginatorConfig, RestApiConfig};
pub use progress::{Progress, ResourceCounts};
pub use source::{MAX_CONCURRENCY, RestApiSource, RestApiSourceFactory};
