//! The Databricks destination of sluice.
//!
//! - Speaks Databricks' **SQL Statement Execution API** itself ([`client`]): statements are
//!   submitted to a SQL warehouse with a wait timeout, polled with growing pauses, cancelled when
//!   they run too long or their load is dropped; results come as JSON arrays or as Arrow streams
//!   behind external links; errors carry Databricks' `error_code` and message.
//! - The dataset is the Unity Catalog schema `catalog.dataset`: every statement runs in the
//!   configured catalog. Identifiers are folded to lower case, at most 255 characters, and
//!   quoted with backticks; types follow dlt (STRING, BIGINT, DOUBLE, DECIMAL(38,9), BOOLEAN,
//!   TIMESTAMP, DATE, BINARY; json and time as STRING).
//! - Data goes in as dlt does it: the package's Parquet files are uploaded with the Files API
//!   to a Unity Catalog volume (`_dlt_staging_load_volume` in the dataset, or
//!   `staging_volume_name`) under deterministic names per load id and file, then loaded with
//!   `COPY INTO … FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' = 'true')`; staged files are
//!   deleted after the load. `loader_file_format = "insert_values"` sends the rows as
//!   `INSERT … VALUES` statements instead (no volume needed).
//! - Databricks has no multi-statement transactions: each step is safe to repeat for the same
//!   load id (COPY INTO skips files it loaded; `insert_values` deletes an earlier attempt's
//!   rows), and the `_dlt_loads` row is written last.
//! - Write dispositions append, replace (delete, then load) and merge through staging tables in
//!   `<dataset>_staging`, with `delete-insert` and `upsert` (`MERGE INTO`).
//!
//! Credentials follow dlt: `[destination.databricks.credentials]` server_hostname, http_path
//! (or warehouse_id), catalog, and access_token or OAuth machine-to-machine client_id and
//! client_secret (see [`DatabricksCredentials`]).
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`DatabricksFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`DatabricksSettings`], [`DatabricksCredentials`]) parsed
//!   from `[destination.databricks]`, and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`DatabricksDestination`], `impl Destination`);
//! - `load.rs` — staging to the volume, `COPY INTO`, replace and merge ([`load`]);
//!   `values.rs` — rows as `INSERT … VALUES` ([`values`]);
//! - `client.rs` — the Statement Execution API ([`client`]); `files.rs` — the Files API of
//!   volumes ([`files`]); `auth.rs` — access tokens and OAuth M2M tokens;
//!   `convert.rs` — results as typed Arrow ([`convert`]);
//! - `error.rs` — Databricks' error code and message mapped to sluice errors ([`error`]);
//! - `types.rs` — the SQL type of each column ([`databricks_sql_type`]) and string literals;
//! - `stand_in.rs` — preparing the local stand-in (MiniLake) for tests ([`stand_in`]).
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_databricks::DatabricksFactory));
//! assert_eq!(sluice_databricks::DatabricksFactory.name(), "databricks");
//! ```

mod auth;
pub mod client;
mod config;
pub mod convert;
mod destination;
pub mod error;
pub mod files;
pub mod load;
pub mod stand_in;
mod types;
pub mod values;

pub use config::{
    Auth, CREDENTIALS, DEFAULT_STAGING_VOLUME, DatabricksCredentials, DatabricksSettings,
    LoaderFileFormat, SETTINGS, settings, warehouse_of,
};
pub use destination::{DatabricksDestination, create_table_sql};
pub use types::{databricks_sql_type, literal};

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::MergeStrategy;
use sluice_core::{Destination, DestinationConfig, DestinationFactory, Result, ValidatedConfig};

/// An example config of this destination (`sluice destinations describe databricks`).
pub const EXAMPLE_CONFIG: &str = r#"[destination.databricks]
# loader_file_format = "insert_values"   # default "parquet": staged in a volume, then COPY INTO
# staging_volume_name = "main.staging.loads"   # default: _dlt_staging_load_volume in the dataset
# keep_staged_files = false

[destination.databricks.credentials]
server_hostname = "adb-1234567890123456.7.azuredatabricks.net"
http_path = "/sql/1.0/warehouses/abc123def456"   # or warehouse_id = "abc123def456"
catalog = "main"
access_token = "dapi..."          # or client_id + client_secret of a service principal (OAuth M2M)
"#;

/// The registry name of this destination.
pub const NAME: &str = "databricks";

/// Creates Databricks destinations; registered under the name `databricks`.
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabricksFactory;

/// Databricks' capabilities, as dlt declares them: 255-character identifiers folded to lower
/// case and quoted with backticks, no multi-statement transactions, delete-insert and upsert
/// merges, decimals up to 38 digits.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 255,
        max_column_identifier_length: 255,
        casefold: CaseFold::Lower,
        identifier_quote: '`',
        escape_quote_with_backslash: false,
        supports_transactions: false,
        merge_strategies: vec![MergeStrategy::DeleteInsert, MergeStrategy::Upsert],
        max_decimal_precision: 38,
        type_mapper: databricks_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl DestinationFactory for DatabricksFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        ValidatedConfig::parse(config, settings)
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        let settings = config.settings::<DatabricksSettings>()?.clone();
        Ok(Box::new(DatabricksDestination::connect(settings)?))
    }

    fn config_keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys::new(SETTINGS, &[CREDENTIALS])
    }

    fn example_config(&self) -> &'static str {
        EXAMPLE_CONFIG
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_dlt() {
        let c = capabilities();
        assert_eq!(c.casefold, CaseFold::Lower);
        assert_eq!(c.identifier_quote, '`');
        assert_eq!(c.max_identifier_length, 255);
        let d = sluice_core::sql::SqlDialect::new(&c, "My_Data");
        assert_eq!(d.table("Or`ders"), "`my_data`.`or``ders`");
    }

    #[test]
    fn example_config_is_valid() {
        let text: String = EXAMPLE_CONFIG
            .lines()
            .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
            .collect();
        let values: toml::Table = toml::from_str(&text).unwrap();
        let section = sluice_core::ConfigSection::from_table(
            "destination.databricks",
            values["destination"]["databricks"]
                .as_table()
                .unwrap()
                .clone(),
        );
        let config = DestinationConfig {
            destination_name: NAME.into(),
            pipeline_name: "p".into(),
            dataset_name: "ds".into(),
            working_dir: ".".into(),
            section,
        };
        DatabricksFactory.validate(&config).unwrap();
    }
}
