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
//!   tables, with the `delete-insert`, `upsert` and `scd2` strategies.
//! - TLS through rustls (`sslmode` disable, prefer — the default: TLS when the server offers
//!   it — or require).
//!
//! Credentials follow dlt: `DESTINATION__POSTGRES__CREDENTIALS=postgresql://user:pass@host:5432/db`
//! or the fields of `[destination.postgres.credentials]`. Register [`PostgresFactory`] in a
//! [`sluice_core::Registry`] to use it by the name `postgres`.
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`PostgresFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`PgCredentials`]) parsed from `[destination.postgres]`,
//!   and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`PostgresDestination`]): what is Postgres'
//!   own (binary `COPY`, the advisory lock, typed query results) as a `Flavor` of
//! - `protocol.rs` — the destination on the Postgres protocol, written once for Postgres and
//!   Redshift (`impl Destination`: the connection, the load's transaction, system tables,
//!   stored schema and state, replace and merge), published in [`wire`];
//! - `connect.rs` — opening connections, plain or TLS (rustls);
//! - `copy.rs` — the binary `COPY` encoder, from Arrow batches;
//! - `read.rs` — query results as Arrow batches;
//! - `error.rs` — tokio-postgres errors mapped to sluice errors, written once;
//! - `session.rs` — the transactional load steps shared with Redshift (begin with the load id
//!   re-checked, commit with the load record last, merge through staging tables), published
//!   with the connection and error code as [`wire`];
//! - `types.rs` — the SQL type of each column ([`postgres_sql_type`]), the capabilities' type
//!   mapper.

mod config;
mod connect;
mod copy;
mod destination;
mod error;
mod protocol;
mod read;
mod session;
mod types;

pub use config::{CREDENTIALS, SETTINGS};
pub use config::{POSTGRES, PgCredentials, Server, SslMode};
pub use destination::{Postgres, PostgresDestination};
pub use types::postgres_sql_type;

/// The Postgres wire protocol pieces that another destination on it uses (Redshift, as dlt's
/// Redshift builds on its Postgres client): the whole destination
/// ([`ProtocolDestination`](wire::ProtocolDestination)) with what differs as a
/// [`Flavor`](wire::Flavor), connecting with or without TLS, the mapping of tokio-postgres
/// errors with the server's SQLSTATE, and the transactional load steps
/// ([`Session`](wire::Session): begin with a re-check of the load id, commit with the load
/// record last, statements in one transaction).
pub mod wire {
    pub use crate::connect::connect_to;
    pub use crate::error::{classify, connect_error, pg_error};
    pub use crate::protocol::{Connection, Flavor, Observer, ProtocolDestination, RowsTo, short};
    pub use crate::session::{
        Session, Staging, begin_load, commit_load, in_transaction, merge_through_staging,
        roll_back_on,
    };
}

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::MergeStrategy;
use sluice_core::{Destination, DestinationConfig, Result, TypedFactory};

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
        merge_strategies: vec![
            MergeStrategy::DeleteInsert,
            MergeStrategy::Upsert,
            MergeStrategy::Scd2,
        ],
        max_columns_per_table: Some(1600),
        type_mapper: postgres_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for PostgresFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = PgCredentials;

    fn parse(&self, config: &DestinationConfig) -> Result<PgCredentials> {
        config::settings(config)
    }

    async fn open(
        &self,
        creds: &PgCredentials,
        config: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        let dest = PostgresDestination::connect(creds.clone(), &config.dataset_name).await?;
        Ok(Box::new(dest))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS])
    }
}
