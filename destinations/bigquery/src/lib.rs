//! The BigQuery destination of sluice: load jobs with idempotent job ids.
//!
//! - **Datasets, tables and queries** go through `gcp-bigquery-client` (REST root
//!   `<api_endpoint>/bigquery/v2`). **Bulk data** goes through load jobs on the upload endpoint
//!   (`<api_endpoint>/upload/bigquery/v2`, `uploadType=multipart`) on reqwest with the same token —
//!   never streaming inserts. The package's Parquet batches are sent as newline-delimited JSON
//!   (dlt's preferred BigQuery format): it matches columns by name, so a file written before a
//!   column was added loads as is, and JSON, decimal and byte values keep their exact encoding.
//! - **Idempotency without transactions.** Every file becomes one load job whose id is derived
//!   from the load id, the target table (and its creation time) and the file. Before submitting,
//!   the job is looked up (jobs.get): a job that exists and succeeded is not submitted again, a
//!   running one is awaited, a failed one is retried under the next attempt id. After success a
//!   small marker in the chain's scratch folder (`ChainJob::scratch_dir`, which the pipeline
//!   keeps with the package) records the job the server ran (servers that assign their own ids,
//!   like the local emulator, are covered by that marker).
//!   Append loads straight into the final tables; replace and merge load into staging tables
//!   named per load id and then run the SQL of `sluice_core::sql`, which is safe to run again.
//!   The `_dlt_loads` row is written last, so `is_loaded` is true only for complete loads;
//!   staging tables are dropped after it.
//! - **Schema changes**: new tables through tables.insert; new columns through both
//!   `ALTER TABLE … ADD COLUMN IF NOT EXISTS` and tables.patch.
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`BigQueryFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`BigQuerySettings`], [`Credentials`]) parsed from
//!   `[destination.bigquery]`, and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`BigQueryDestination`], `impl Destination`):
//!   tables, staging tables, replace and merge SQL, the load record;
//! - `load.rs` — idempotent load jobs of package files (job ids, markers, retries);
//!   `ndjson.rs` — their rows as newline-delimited JSON;
//! - `jobs.rs` — load jobs on the upload endpoint and job look-ups ([`JobState`]);
//!   `client.rs` — authentication and queries; `convert.rs` — query results as Arrow;
//! - `error.rs` — gcp-bigquery-client, HTTP and job errors mapped to sluice errors, written
//!   once;
//! - `types.rs` — the SQL type of each column ([`bigquery_sql_type`]), the capabilities' type
//!   mapper, and string literals ([`bq_literal`]).
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_bigquery::BigQueryFactory));
//! assert_eq!(sluice_bigquery::BigQueryFactory.name(), "bigquery");
//! ```

mod client;
mod config;
mod convert;
mod destination;
mod error;
mod jobs;
mod load;
mod ndjson;
mod types;

pub use config::{BigQuerySettings, Credentials};
pub use config::{CREDENTIALS, SETTINGS};
pub use destination::{BigQueryDestination, STAGING_PREFIX};
pub use jobs::{JobError, JobState};
pub use types::{bigquery_sql_type, bq_literal};

use async_trait::async_trait;
use sluice_core::{
    Capabilities, Destination, DestinationConfig, MergeStrategy, Result, TypedFactory,
};

/// An example config of this destination (`sluice destinations describe bigquery`).
pub const EXAMPLE_CONFIG: &str = r#"[destination.bigquery]
location = "EU"

# The fields of a service-account key file (or credentials = "<the whole JSON>"):
[destination.bigquery.credentials]
project_id = "my-project"
client_email = "loader@my-project.iam.gserviceaccount.com"
private_key = "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"
"#;

/// The registry name of this destination.
pub const NAME: &str = "bigquery";

/// The BigQuery destination factory (registered as `bigquery`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BigQueryFactory;

/// BigQuery's capabilities as dlt states them: case-sensitive identifiers of up to 1024
/// (tables) and 300 (columns) characters quoted with backticks, NDJSON load files, no
/// transactions, delete-insert, upsert and scd2 merges.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 1024,
        max_column_identifier_length: 300,
        identifier_quote: '`',
        escape_quote_with_backslash: true,
        merge_strategies: vec![
            MergeStrategy::DeleteInsert,
            MergeStrategy::Upsert,
            MergeStrategy::Scd2,
        ],
        max_decimal_precision: 76,
        max_columns_per_table: Some(10_000),
        type_mapper: bigquery_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for BigQueryFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = BigQuerySettings;

    fn parse(&self, config: &DestinationConfig) -> Result<BigQuerySettings> {
        BigQuerySettings::resolve(config)
    }

    async fn open(
        &self,
        settings: &BigQuerySettings,
        _: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(
            BigQueryDestination::connect(settings.clone()).await?,
        ))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        // A service-account key file may be pasted whole into the credentials table.
        let key_file = sluice_core::config::GCP_SERVICE_ACCOUNT_KEYS;
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS, key_file])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::DestinationFactory;

    #[test]
    fn capabilities_follow_dlt() {
        let c = capabilities();
        assert_eq!(c.identifier_quote, '`');
        assert_eq!(c.max_column_identifier_length, 300);
        assert_eq!(BigQueryFactory.name(), NAME);
    }
}
