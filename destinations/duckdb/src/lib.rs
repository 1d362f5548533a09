//! The embedded DuckDB destination of sluice, the default destination.
//!
//! The dataset is a DuckDB schema in one database file (`<pipeline_name>.duckdb` in the working
//! directory unless `[destination.duckdb] credentials` says otherwise). Tables are loaded in bulk
//! from the package's Parquet files with `INSERT … BY NAME SELECT * FROM read_parquet([…])`,
//! never row at a time. A whole package (schema changes, data of all tables, the `_dlt_loads`,
//! `_dlt_version` and `_dlt_pipeline_state` rows) commits in one transaction: readers never see
//! half a load, an emptied table during a replace, or a load that is not recorded. DuckDB is
//! called on a blocking thread only.
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`DuckDbFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`DuckDbSettings`]) parsed from `[destination.duckdb]`,
//!   and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`DuckDbDestination`], `impl Destination`);
//! - `load.rs` — bulk loads from Parquet: append, replace and merge through staging tables;
//! - `error.rs` — DuckDB's errors mapped to sluice errors, written once;
//! - `types.rs` — the SQL type of each column ([`duckdb_sql_type`]), the capabilities' type
//!   mapper.
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_duckdb::DuckDbFactory));
//! assert_eq!(sluice_duckdb::DuckDbFactory.name(), "duckdb");
//! ```

mod config;
mod destination;
mod error;
mod load;
mod types;

pub use config::{CREDENTIALS, SETTINGS};
pub use config::{
    DatabaseLocation, DuckDbSettings, LOAD_MEMORY_MIB_PER_COLUMN, MEMORY, MIN_LOAD_MEMORY_MIB,
    OPEN_DEFAULTS,
};
pub use destination::DuckDbDestination;
pub use types::duckdb_sql_type;

use async_trait::async_trait;
use sluice_core::blocking::blocking;
use sluice_core::{
    Capabilities, Destination, DestinationConfig, MergeStrategy, Result, TypedFactory,
};

/// An example config of this destination (`sluice destinations describe duckdb`).
pub const EXAMPLE_CONFIG: &str = r#"# The database file (default: <pipeline_name>.duckdb in the working directory), or ":memory:".
[destination.duckdb]
credentials = "shop.duckdb"

# Or as a table, with DuckDB settings applied to every connection:
# [destination.duckdb.credentials]
# database = "shop.duckdb"
# [destination.duckdb.credentials.global_config]
# memory_limit = "2GB"
# threads = 4
"#;

/// The registry name of this destination.
pub const NAME: &str = "duckdb";

/// The DuckDB destination factory (registered as `duckdb`).
#[derive(Debug, Clone, Copy, Default)]
pub struct DuckDbFactory;

/// DuckDB's capabilities: long identifiers kept as they are but compared case-insensitively,
/// Parquet load files, transactional loads, delete-insert, upsert and scd2 merges.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 65536,
        max_column_identifier_length: 65536,
        supports_transactions: true,
        merge_strategies: vec![
            MergeStrategy::DeleteInsert,
            MergeStrategy::Upsert,
            MergeStrategy::Scd2,
        ],
        type_mapper: duckdb_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for DuckDbFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = DuckDbSettings;

    fn parse(&self, config: &DestinationConfig) -> Result<DuckDbSettings> {
        DuckDbSettings::resolve(config)
    }

    async fn open(
        &self,
        settings: &DuckDbSettings,
        _: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        let settings = settings.clone();
        Ok(Box::new(blocking(|| DuckDbDestination::open(settings))?))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS])
    }
}
