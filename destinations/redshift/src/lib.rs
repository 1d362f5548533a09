//! The Redshift destination of sluice (`--destination redshift`).
//!
//! - Redshift speaks the Postgres wire protocol; this crate talks to it with tokio-postgres
//!   (TLS through rustls), but only with what Redshift has: every statement goes through the
//!   **simple query protocol** (no prepared statements, no binary `COPY FROM STDIN`, no type
//!   lookups of Redshift-only types such as `super` or `varbyte`). The one exception is
//!   [`Destination::query`] for people and tests, which asks
//!   the server to describe the result's column types and falls back to text when it cannot.
//! - The dataset is a Redshift schema, created when missing; identifiers are folded to lower
//!   case, at most 127 bytes (longer names are shortened with dlt's tag by the core naming
//!   convention) and always quoted.
//! - **Direct load path** (dlt's default, no staging): the package's Parquet files are read on
//!   a blocking thread and turned into batched multi-row `INSERT … VALUES` statements, each
//!   below Redshift's 16 MB statement limit ([`insert`]); `json` values go in
//!   through `JSON_PARSE`, binary values through `FROM_HEX`, strings with quotes doubled and
//!   backslashes escaped (Redshift reads a backslash in a string literal as an escape).
//! - A load package is one transaction: schema changes, all tables, `_dlt_version`,
//!   `_dlt_pipeline_state` and the `_dlt_loads` row commit together or not at all. Two loaders
//!   of the same dataset are serialized by a `LOCK` of `_dlt_loads` (Redshift has no advisory
//!   locks).
//! - Write dispositions: append, replace (delete, then insert, inside the transaction) and
//!   merge with the `delete-insert` and `scd2` strategies (those dlt supports on Redshift)
//!   through session temp tables.
//! - Types follow dlt's Redshift mapping ([`redshift_sql_type`]): `super` for json,
//!   `varchar(65535)` for text, `numeric(38,9)`, `varbinary`, …
//! - Redshift has no `ADD COLUMN IF NOT EXISTS`: schema changes read the dataset's columns from
//!   `information_schema.columns` and add only what is missing, one column per statement.
//!
//! Not here yet (issue 15): the **staged** path (`staging = "filesystem"` with an `s3://`
//! bucket, one `COPY … FORMAT AS PARQUET` per table from a manifest). It belongs in a
//! `copy.rs` next to `insert.rs`: the load path is chosen per package in
//! `Redshift::write_rows` in `destination.rs` (the only caller of the insert writer), so a staged writer
//! plugs in there with its settings added to `config.rs`. It waits for a staging design that
//! lets a destination reach the filesystem destination's object_store code without depending
//! on that crate.
//!
//! Sharing with the Postgres destination: Redshift speaks its wire protocol, and as dlt's
//! Redshift builds on its Postgres client, this crate depends on `sluice-postgres` (the one
//! destination-on-destination edge `make lint` allows) and uses `sluice_postgres::wire`: the
//! whole destination on the Postgres protocol (`ProtocolDestination`, with Redshift's
//! `Flavor`), connections (plain or TLS), the tokio-postgres error mapping with SQLSTATE, the credential
//! parser with Redshift's profile (`REDSHIFT` in `config.rs`: port 5439, `redshift://` URLs), and the
//! transactional load steps (begin with the load id re-checked under `LOCK _dlt_loads`, commit
//! with the load record last, merge through staging tables). What is Redshift's own stays
//! here: the INSERT path, DDL without `IF NOT EXISTS` for columns, the 127-byte identifier
//! check, `DELETE` instead of `TRUNCATE`, the types.
//!
//! Credentials follow dlt: `DESTINATION__REDSHIFT__CREDENTIALS=redshift://user:pass@host:5439/db`
//! (or `postgresql://…`) or the fields of `[destination.redshift.credentials]`. Register
//! [`RedshiftFactory`] in a [`sluice_core::Registry`] to use it by the name `redshift`.
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`RedshiftFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`RedshiftCredentials`]) parsed from
//!   `[destination.redshift]`, and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//! - `destination.rs` — the running destination ([`RedshiftDestination`], opened by
//!   [`connect`]): what is Redshift's own as a `Flavor` ([`Redshift`]) of
//!   `sluice_postgres::wire::ProtocolDestination`;
//! - `insert.rs` — the direct load path: Parquet rows as batched `INSERT … VALUES` statements;
//! - `read.rs` — simple-query results (text) as Arrow batches;
//! - `statement_log.rs` — [`StatementLog`], an optional record of every statement sent (tests);
//! - `stand_in.rs` — [`stand_in`]: a Postgres database prepared to run the SQL this crate sends
//!   (for tests without a cluster);
//! - `error.rs` — errors, mapped by `sluice_postgres::wire` with Redshift's SQLSTATE;
//! - `types.rs` — the SQL type of each column ([`redshift_sql_type`]).

mod config;
mod destination;
mod error;
pub mod insert;
mod read;
pub mod stand_in;
mod statement_log;
mod types;

pub use config::{CREDENTIALS, SETTINGS};
pub use config::{RedshiftCredentials, SslMode};
pub use destination::{Redshift, RedshiftDestination, connect};
pub use statement_log::StatementLog;
pub use types::redshift_sql_type;

use async_trait::async_trait;
use sluice_core::capabilities::{Capabilities, CaseFold};
use sluice_core::schema::MergeStrategy;
use sluice_core::{Destination, DestinationConfig, Result, TypedFactory};

/// An example config of this destination (`sluice destinations describe redshift`).
pub const EXAMPLE_CONFIG: &str = r#"# Or one URL: DESTINATION__REDSHIFT__CREDENTIALS=redshift://loader:PASSWORD@cluster.example.eu-west-1.redshift.amazonaws.com:5439/dev
[destination.redshift.credentials]
host = "cluster.example.eu-west-1.redshift.amazonaws.com"
port = 5439
database = "dev"
username = "loader"
password = "PASSWORD"
connect_timeout = 15
sslmode = "require"       # disable | prefer | require
"#;

/// The registry name of this destination.
pub const NAME: &str = "redshift";

/// Creates Redshift destinations; registered under the name `redshift`.
#[derive(Debug, Clone, Default)]
pub struct RedshiftFactory {
    log: Option<StatementLog>,
}

impl RedshiftFactory {
    /// A new factory.
    pub fn new() -> Self {
        Self::default()
    }

    /// A factory whose destinations append every statement they send to `log` (a test hook:
    /// the dialect tests parse what was sent). Without it nothing is recorded.
    pub fn with_statement_log(mut self, log: StatementLog) -> Self {
        self.log = Some(log);
        self
    }
}

/// The capabilities of Redshift, as dlt declares them: lower-case identifiers of at most 127
/// bytes, transactions (DDL included), delete-insert and scd2 merges, at most 1 600 columns.
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 127,
        max_column_identifier_length: 127,
        casefold: CaseFold::Lower,
        supports_transactions: true,
        merge_strategies: vec![MergeStrategy::DeleteInsert, MergeStrategy::Scd2],
        max_columns_per_table: Some(1600),
        type_mapper: redshift_sql_type,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for RedshiftFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = RedshiftCredentials;

    fn parse(&self, config: &DestinationConfig) -> Result<RedshiftCredentials> {
        config::settings(config)
    }

    async fn open(
        &self,
        creds: &RedshiftCredentials,
        config: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        let log = self.log.clone();
        let dest = destination::connect(creds.clone(), &config.dataset_name, log).await?;
        Ok(Box::new(dest))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS])
    }
}
