//! The Postgres destination of sluice.
//!
//! - The dataset is a Postgres schema, created when missing; identifiers are lower case,
//!   at most 63 characters (longer names are shortened with dlt's tag by the core naming
//!   convention) and always quoted.
//! - Data goes in with **binary `COPY`**, encoded straight from the Arrow batches of the
//!   package's Parquet files; no data path uses `INSERT … VALUES`.
//! - A load package is one transaction: schema changes, all tables, `_dlt_version`,
//!   `_dlt_pipeline_state` and the `_dlt_loads` row commit together or not at all.
//! - Write dispositions: append (COPY into the table), replace (delete, then COPY, inside
//!   the transaction: readers never see an empty table) and merge, through staging temp
//!   tables, with the `delete-insert` and `upsert` strategies.
//! - TLS through rustls (`sslmode` disable, prefer — the default: TLS when the server offers
//!   it — or require).
//!
//! Credentials follow dlt: `DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:pass@host:5432/db`
//! or the fields of `[destination.postgres.credentials]`. Register [`PostgresFactory`] in a
//! [`sluice_core::Registry`] to use it by the name `postgres`.

mod copy;
mod credentials;
mod destination;
mod error;
mod read;

pub use credentials::{CREDENTIALS, SETTINGS};
pub use credentials::{PgCredentials, SslMode};
pub use destination::PostgresDestination;

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::{Column, MergeStrategy};
use sluice_core::types::DataType;
use sluice_core::{Destination, DestinationConfig, DestinationFactory, Result, ValidatedConfig};

/// An example config of this destination (`sluice destinations describe postgres`).
pub const EXAMPLE_CONFIG: &str = r#"# Or one URL: DESTINATION__POSTGRES__CREDENTIALS=postgresql://loader:PASSWORD@localhost:5432/shop
[destination.postgres.credentials]
host = "localhost"
port = 5432
database = "shop"
username = "loader"
password = "PASSWORD"
connect_timeout = 15
sslmode = "prefer"        # disable | prefer | require
"#;

/// The registry name of this destination.
pub const NAME: &str = "postgres";

/// Creates Postgres destinations; registered under the name `postgres`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PostgresFactory;

impl PostgresFactory {
    /// A new factory.
    pub fn new() -> Self {
        Self
    }
}

/// The capabilities of Postgres, as dlt declares them.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 63,
        max_column_identifier_length: 63,
        casefold: CaseFold::Lower,
        supports_transactions: true,
        merge_strategies: vec![MergeStrategy::DeleteInsert, MergeStrategy::Upsert],
        max_columns_per_table: Some(1600),
        type_mapper: postgres_sql_type,
        ..Capabilities::default()
    }
}

/// The Postgres type of a column (dlt's mapping): text → varchar (varchar(n) with a precision
/// hint), double → double precision, bool → boolean, bigint → bigint, timestamp → timestamp
/// with time zone (without when `timezone` is false), date, time → time without time zone,
/// decimal → numeric(p,s) (38,9 by default), wei → numeric(78,0), binary → bytea, json → jsonb.
pub fn postgres_sql_type(column: &Column) -> String {
    match column.data_type.unwrap_or(DataType::Text) {
        DataType::Text => match column.precision {
            Some(p) if p > 0 => format!("varchar({p})"),
            _ => "varchar".into(),
        },
        DataType::Double => "double precision".into(),
        DataType::Bool => "boolean".into(),
        DataType::Bigint => "bigint".into(),
        DataType::Timestamp => {
            let p = column
                .precision
                .filter(|p| *p <= 6)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            if column.timezone == Some(false) {
                format!("timestamp{p} without time zone")
            } else {
                format!("timestamp{p} with time zone")
            }
        }
        DataType::Date => "date".into(),
        DataType::Time => {
            let p = column
                .precision
                .filter(|p| *p <= 6)
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            format!("time{p} without time zone")
        }
        DataType::Decimal => match column.precision {
            Some(p) => format!("numeric({},{})", p, column.scale.unwrap_or(0)),
            None => "numeric(38,9)".into(),
        },
        DataType::Wei => "numeric(78,0)".into(),
        DataType::Binary => "bytea".into(),
        DataType::Json => "jsonb".into(),
    }
}

#[async_trait]
impl DestinationFactory for PostgresFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        config
            .section
            .reject_unknown_keys(credentials::SETTINGS, credentials::CREDENTIALS)?;
        let creds = PgCredentials::from_section(&config.section)?;
        if config.dataset_name.trim().is_empty() {
            return Err(sluice_core::Error::config(
                "the postgres destination needs a dataset name (the Postgres schema to load into)",
            ));
        }
        Ok(ValidatedConfig::new(config.clone(), creds))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        let creds = config.settings::<PgCredentials>()?.clone();
        let dest = PostgresDestination::connect(creds, &config.config().dataset_name).await?;
        Ok(Box::new(dest))
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
        let t = |dt| postgres_sql_type(&Column::new("c", dt));
        assert_eq!(t(DataType::Text), "varchar");
        assert_eq!(t(DataType::Double), "double precision");
        assert_eq!(t(DataType::Timestamp), "timestamp with time zone");
        assert_eq!(t(DataType::Decimal), "numeric(38,9)");
        assert_eq!(t(DataType::Wei), "numeric(78,0)");
        assert_eq!(t(DataType::Json), "jsonb");
        assert_eq!(t(DataType::Binary), "bytea");
        let mut naive = Column::new("c", DataType::Timestamp);
        naive.timezone = Some(false);
        assert_eq!(postgres_sql_type(&naive), "timestamp without time zone");
        assert_eq!(
            postgres_sql_type(&Column::new("c", DataType::Decimal).with_precision(10, Some(2))),
            "numeric(10,2)"
        );
    }
}
