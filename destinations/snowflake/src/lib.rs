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
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_snowflake::SnowflakeFactory));
//! assert_eq!(sluice_snowflake::SnowflakeFactory.name(), "snowflake");
//! ```

pub mod client;
pub mod convert;
mod credentials;
mod destination;
mod keypair;
pub mod stage_upload;

pub use credentials::SnowflakeCredentials;
pub use credentials::{CREDENTIALS, SETTINGS};
pub use destination::{DEFAULT_STAGE, SnowflakeDestination, SnowflakeSettings};

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::{Column, MergeStrategy};
use sluice_core::types::DataType;
use sluice_core::{
    Destination, DestinationConfig, DestinationFactory, Error, Result, ValidatedConfig,
};

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
/// case, Parquet load files, transactional loads, delete-insert and upsert merges.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 255,
        max_column_identifier_length: 255,
        casefold: CaseFold::Upper,
        supports_transactions: true,
        merge_strategies: vec![MergeStrategy::DeleteInsert, MergeStrategy::Upsert],
        type_mapper: snowflake_sql_type,
        ..Capabilities::default()
    }
}

/// The Snowflake type of a column (dlt's mapping): text → VARCHAR, bigint → NUMBER(19,0),
/// double → FLOAT, bool → BOOLEAN, timestamp → TIMESTAMP_TZ (TIMESTAMP_NTZ without time zone),
/// date → DATE, time → TIME, decimal → NUMBER(p,s) (38,9 by default; `NUMBER(p)` for scale 0),
/// wei → NUMBER(38) (= NUMBER(38,0)),
/// binary → BINARY, json → VARIANT.
pub fn snowflake_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => "VARCHAR".into(),
        DataType::Bigint => "NUMBER(19,0)".into(),
        DataType::Double => "FLOAT".into(),
        DataType::Bool => "BOOLEAN".into(),
        DataType::Timestamp => {
            let p = column
                .precision
                .filter(|p| *p <= 9)
                .map(|p| format!("({p})"))
                .unwrap_or_default();
            if column.timezone == Some(false) {
                format!("TIMESTAMP_NTZ{p}")
            } else {
                format!("TIMESTAMP_TZ{p}")
            }
        }
        DataType::Date => "DATE".into(),
        DataType::Time => "TIME".into(),
        // Scale 0 is written `NUMBER(p)`: the same type in Snowflake, and the spelling the
        // local protocol peer (fakesnow) keeps as a 38-digit decimal (`NUMBER(38,0)` becomes
        // a 64-bit integer there).
        DataType::Decimal => match sluice_core::arrow_types::decimal_precision(column) {
            (p, 0) => format!("NUMBER({p})"),
            (p, s) => format!("NUMBER({p},{s})"),
        },
        DataType::Wei => "NUMBER(38)".into(),
        DataType::Binary => "BINARY".into(),
        DataType::Json => "VARIANT".into(),
    }
}

/// Resolve the settings of a destination config (no I/O).
pub fn settings(config: &DestinationConfig) -> Result<SnowflakeSettings> {
    config
        .section
        .reject_unknown_keys(credentials::SETTINGS, credentials::CREDENTIALS)?;
    let credentials = SnowflakeCredentials::from_section(&config.section)?;
    if config.dataset_name.trim().is_empty() {
        return Err(Error::config(
            "the snowflake destination needs a dataset name (the Snowflake schema to load into)",
        ));
    }
    let stage_name = config
        .section
        .get_str("stage_name")
        .map(|s| s.trim().trim_start_matches('@').to_string())
        .filter(|s| !s.is_empty());
    Ok(SnowflakeSettings {
        credentials,
        dataset: config.dataset_name.clone(),
        stage_name,
    })
}

#[async_trait]
impl DestinationFactory for SnowflakeFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        Ok(ValidatedConfig::new(config.clone(), settings(config)?))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        let settings = config.settings::<SnowflakeSettings>()?.clone();
        Ok(Box::new(SnowflakeDestination::connect(settings).await?))
    }

    fn config_keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys {
            settings: credentials::SETTINGS.to_vec(),
            credentials: credentials::CREDENTIALS.to_vec(),
        }
    }

    fn example_config(&self) -> &'static str {
        EXAMPLE_CONFIG
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_follow_dlt() {
        let t = |dt| snowflake_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Json), "VARIANT");
        assert_eq!(t(DataType::Bigint), "NUMBER(19,0)");
        assert_eq!(t(DataType::Timestamp), "TIMESTAMP_TZ");
        assert_eq!(t(DataType::Text), "VARCHAR");
        assert_eq!(t(DataType::Double), "FLOAT");
        assert_eq!(t(DataType::Bool), "BOOLEAN");
        assert_eq!(t(DataType::Decimal), "NUMBER(38,9)");
        assert_eq!(t(DataType::Binary), "BINARY");
        assert_eq!(t(DataType::Wei), "NUMBER(38)");
        assert_eq!(
            snowflake_sql_type(&Column::new("c", DataType::Decimal).with_precision(10, Some(2))),
            "NUMBER(10,2)"
        );
        let c = capabilities();
        assert_eq!(c.casefold, CaseFold::Upper);
        assert_eq!(c.max_identifier_length, 255);
    }
}
