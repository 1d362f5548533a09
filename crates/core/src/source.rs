//! The source contract: what a source hands to the pipeline.
//!
//! A source declares its resources (each becomes a root table) with their hints, then produces
//! a stream of [`SourceEvent`]s: pages of JSON items (or Arrow record batches) for a resource,
//! and state updates that the pipeline commits together with the load package that holds the
//! data they describe. Pages flow through: a source must not collect a whole resource in memory.

use crate::error::Result;
use crate::schema::{Column, MergeStrategy, Scd2Settings, SchemaContract, WriteDisposition};
use futures::stream::BoxStream;

/// Hints for a resource: how its root table is named, written and checked.
#[derive(Debug, Clone, Default)]
pub struct ResourceHints {
    /// Resource name (also the state key).
    pub name: String,
    /// Table name before normalization (defaults to the resource name).
    pub table_name: Option<String>,
    /// Write disposition (append by default).
    pub write_disposition: WriteDisposition,
    /// Merge strategy when merging.
    pub merge_strategy: Option<MergeStrategy>,
    /// Settings of the scd2 merge strategy (read when `merge_strategy` is scd2).
    pub scd2: Scd2Settings,
    /// Primary key columns (source names).
    pub primary_key: Vec<String>,
    /// Merge key columns (source names).
    pub merge_key: Vec<String>,
    /// Maximum nesting depth of child tables.
    pub max_table_nesting: Option<u32>,
    /// Contract for this resource's tables.
    pub schema_contract: Option<SchemaContract>,
    /// Declared columns (names before normalization), with types and hints.
    pub columns: Vec<Column>,
}

impl ResourceHints {
    /// Hints with defaults for a resource named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The table name before normalization.
    pub fn table(&self) -> &str {
        self.table_name.as_deref().unwrap_or(&self.name)
    }
}

/// What a source produces.
#[derive(Debug, Clone)]
pub enum SourceEvent {
    /// A page of items of a resource.
    Page {
        /// The resource name.
        resource: String,
        /// The items.
        items: Vec<serde_json::Value>,
    },
    /// Rows of a resource as an Arrow record batch (dlt accepts Arrow tables the same way):
    /// loaded as they are, one row per batch row, without nesting. Column names go through the
    /// destination's naming convention; Arrow types map to sluice's (nested Arrow types are
    /// refused, naming the column).
    Batch {
        /// The resource name.
        resource: String,
        /// The rows.
        batch: arrow::record_batch::RecordBatch,
    },
    /// The new state of the source (replaces the state read at start). It is committed only
    /// when the package holding the data extracted before it is loaded.
    State(serde_json::Value),
}

/// A stream of source events.
pub type SourceStream = BoxStream<'static, Result<SourceEvent>>;

/// What a source did for one resource, for the run's trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResourceTrace {
    /// Resource name.
    pub resource: String,
    /// Requests sent, retries included.
    pub requests: u64,
    /// Requests that were retried.
    pub retries: u64,
    /// Pages received.
    pub pages: u64,
    /// Rows emitted.
    pub rows: u64,
    /// Response bytes received.
    pub bytes: u64,
    /// Whether the resource has finished.
    #[serde(default)]
    pub done: bool,
}

/// Live counters of a running source, readable while and after it runs.
pub trait SourceCounters: Send + Sync {
    /// The counters now, one entry per resource.
    fn snapshot(&self) -> Vec<ResourceTrace>;
}

/// A source of data: a name (the schema name), resources, and a stream of events.
pub trait Source: Send {
    /// The source name; it names the schema and the state section.
    fn name(&self) -> &str;

    /// The resources and their hints.
    fn resources(&self) -> Vec<ResourceHints>;

    /// Start extracting. `state` is this source's state from the last loaded package (or `null`).
    fn extract(self: Box<Self>, state: serde_json::Value) -> SourceStream;

    /// Counters of the extraction (requests, pages, rows, bytes per resource), taken before
    /// [`extract`](Self::extract) and read after it, for the run's trace. `None` (the default)
    /// for sources that do not count.
    fn counters(&self) -> Option<std::sync::Arc<dyn SourceCounters>> {
        None
    }

    /// Verify, without extracting anything, that the source can run: reach the API and have
    /// its credentials accepted (Forter's `GET /credentials/test`). Returns what was verified,
    /// for people, or `None` (the default) for a source with nothing to check beyond its config.
    fn check(&self) -> futures::future::BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    /// Restrict this source to the `k`-th of `n` deterministic shares of its work (0-based,
    /// `k < n`), for a partitioned run (`sluice run --partition K/N`): every share is taken by
    /// exactly one partition, the same on every machine, and the resources whose rows a
    /// partition does not produce are left out of [`resources`](Self::resources). Called once,
    /// before [`extract`](Self::extract). The default refuses: a source must say how it splits.
    fn partition(&mut self, k: u32, n: u32) -> Result<()> {
        let _ = (k, n);
        Err(crate::Error::config(format!(
            "source '{}' cannot be split into partitions: run it without --partition",
            self.name()
        )))
    }
}

/// Builds sources of one type (`rest_api`, `forter`) from their `[source]` table.
pub trait SourceFactory: Send + Sync {
    /// The `type` of `[source]` this factory builds.
    fn source_type(&self) -> &str;

    /// Build a source named `name` from its config (the `[source]` table without `type` and
    /// `name`) and its secrets (`[sources.<name>]`). No I/O; errors name the key at fault.
    fn build(
        &self,
        name: &str,
        config: toml::Value,
        secrets: &crate::ConfigSection,
    ) -> Result<Box<dyn Source>>;
}

/// The source types a program knows, by `type` name. A value: build one with the factories you
/// want (`sluice::sources()` holds the built-in ones) and add your own.
#[derive(Clone, Default)]
pub struct SourceRegistry {
    factories: Vec<std::sync::Arc<dyn SourceFactory>>,
}

impl std::fmt::Debug for SourceRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.factories.iter().map(|f| f.source_type()))
            .finish()
    }
}

impl SourceRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a factory; a later one with the same type replaces the earlier.
    pub fn register(&mut self, factory: std::sync::Arc<dyn SourceFactory>) {
        self.factories
            .retain(|f| f.source_type() != factory.source_type());
        self.factories.push(factory);
    }

    /// The registered types, in registration order.
    pub fn types(&self) -> impl Iterator<Item = &str> {
        self.factories.iter().map(|f| f.source_type())
    }

    /// The factory of `source_type`; the error lists the known types.
    pub fn get(&self, source_type: &str) -> Result<std::sync::Arc<dyn SourceFactory>> {
        self.factories
            .iter()
            .find(|f| f.source_type() == source_type)
            .cloned()
            .ok_or_else(|| {
                crate::Error::config(format!(
                    "unknown source type '{source_type}': known types are {}",
                    self.types().collect::<Vec<_>>().join(", ")
                ))
            })
    }
}
