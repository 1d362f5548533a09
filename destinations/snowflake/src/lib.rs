//! The Snowflake destination of sluice.
//!
//! - Speaks Snowflake's HTTP protocol itself ([`client`]): login, one statement per request,
//!   JSON and Arrow results (with result chunks), session renewal, and the `PUT` flow.
//! - The dataset is a Snowflake schema in the configured database; identifiers are folded to
//!   upper case, at most 255 characters, and always quoted.
//! - Data goes in as Parquet: each table's package files are uploaded with `PUT` to a stage
//!   (`_sluice_stage` in the dataset, or `stage_name`) and loaded with
//!   `COPY INTO … MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE`, one file per statement.
//! - A package is one transaction: all data statements and the `_dlt_loads`, `_dlt_version`
//!   and `_dlt_pipeline_state` rows commit together (DDL runs before, as Snowflake commits
//!   on DDL).
//! - Write dispositions append, replace (delete, then load, in the transaction) and merge
//!   through staging tables in `<dataset>_staging`, with `delete-insert` and `upsert` (`MERGE`).
//!
//! Credentials follow dlt: `[destination.snowflake.credentials]` database, username, password,
//! host (the account identifier), warehouse, role — or
//! `snowflake://user:pass@account/db?warehouse=…&role=…` — plus `base_url` to reach the service
//! elsewhere (`DESTINATION__SNOWFLAKE__CREDENTIALS__BASE_URL=http://127.0.0.1:PORT`).
//! Key-pair (JWT) authentication takes `private_key` (PEM text, or base64 of the PEM or DER
//! key), `private_key_passphrase` for an encrypted key, or `private_key_path`, instead of the
//! password (see [`SnowflakeCredentials`]).
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`SnowflakeFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`SnowflakeSettings`], [`SnowflakeCredentials`]) parsed
//!   from `[destination.snowflake]`, and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`SnowflakeDestination`], `impl Destination`);
//! - `load.rs` — uploads to the stage and the queued `COPY INTO`, replace and merge statements;
//! - `client.rs` — the HTTP protocol client ([`client`]); `keypair.rs` — key-pair (JWT) login;
//!   `stage_upload.rs` — uploads to S3 stages ([`stage_upload`]); `convert.rs` — results as
//!   plain Arrow ([`convert`]);
//! - `error.rs` — Snowflake's error code and message mapped to sluice errors, written once
//!   ([`client::SnowflakeError`]);
//! - `types.rs` — the SQL type of each column ([`snowflake_sql_type`]), the capabilities' type
//!   mapper.
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_snowflake::SnowflakeFactory));
//! assert_eq!(sluice_snowflake::SnowflakeFactory.name(), "snowflake");
//! ```

pub mod client;
mod config;
pub mod convert;
mod destination;
mod error;
mod keypair;
mod load;
pub mod stage_upload;
mod types;

pub use config::{CREDENTIALS, SETTINGS};
pub use config::{SnowflakeCredentials, SnowflakeSettings, settings};
pub use destination::{DEFAULT_STAGE, SnowflakeDestination};
pub use types::snowflake_sql_type;

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::MergeStrategy;
use sluice_core::{Destination, DestinationConfig, Result, TypedFactory};

/// An example config of this destination (`sluice destinations describe snowflake`).
pub const EXAMPLE_CONFIG: &str = r#"# Or one URL: DESTINATION__SNOWFLAKE__CREDENTIALS=snowflake://LOADER:PASSWORD@ACCOUNT/SHOP?warehouse=LOAD_WH&role=LOADER
[destination.snowflake]
stage_name = "sluice_stage"     # optional: an existing stage (default: the table stages)

[destination.snowflake.credentials]
host = "xy12345.eu-central-1"   # the account identifier
database = "SHOP"
username = "LOADER"
password = "PASSWORD"           # or private_key / private_key_path (+ private_key_passphrase)
warehouse = "LOAD_WH"
role = "LOADER"
"#;

/// The registry name of this destination.
pub const NAME: &str = "snowflake";

/// Creates Snowflake destinations; registered under the name `snowflake`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnowflakeFactory;

/// Snowflake's capabilities, as dlt declares them: 255-character identifiers folded to upper
/// case, Parquet load files, transactional loads, delete-insert, upsert and scd2 merges.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 255,
        max_column_identifier_length: 255,
        casefold: CaseFold::Upper,
        supports_transactions: true,
        merge_strategies: vec![
            MergeStrategy::DeleteInsert,
            MergeStrategy::Upsert,
            MergeStrategy::Scd2,
        ],
        type_mapper: snowflake_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for SnowflakeFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = SnowflakeSettings;

    fn parse(&self, config: &DestinationConfig) -> Result<SnowflakeSettings> {
        settings(config)
    }

    async fn open(
        &self,
        settings: &SnowflakeSettings,
        _: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        Ok(Box::new(
            SnowflakeDestination::connect(settings.clone()).await?,
        ))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_dlt() {
        let c = capabilities();
        assert_eq!(c.casefold, CaseFold::Upper);
        assert_eq!(c.max_identifier_length, 255);
    }
}
