//! The filesystem destination of sluice: Parquet (or JSONL, CSV) files on local disk, S3, GCS,
//! Azure or in memory, laid out the way dlt lays them out, for data lakes.
//!
//! Files go to `<bucket_url>/<dataset>/<layout>`, by default
//! `<bucket_url>/<dataset>/<table>/<load_id>.<file_id>.parquet`. The package's Parquet files are
//! copied as they are (Snappy-compressed, row groups of at most [`sluice_core::parquet_io::ROW_GROUP_SIZE`]
//! rows); JSONL and CSV are converted from them batch by batch. Files larger than one part go up
//! as multipart uploads, streamed from disk. The `file_id` is derived from the package file, so a
//! retried load writes the same object names again instead of adding duplicates.
//!
//! A load is recorded by `_dlt_loads/<schema>__<load_id>.jsonl`, written **last**, after every
//! data file, the schema (`_dlt_version/<schema>__<load_id>__<hash>.jsonl`) and the state
//! (`_dlt_pipeline_state/<pipeline>__<load_id>__<hash>.jsonl`). Readers of this crate
//! ([`Destination::query`], [`FilesystemDestination::table_files`]) only see files of recorded
//! loads when the layout has a `{load_id}`. There are no transactions: a load that fails halfway
//! leaves no marker, and the next run rewrites the same objects and then writes the marker.
//!
//! Replace writes the new files first and then removes the table's other files. Merge is not
//! possible on plain files: it appends, with a warning (as dlt does).
//!
//! The files of this crate:
//!
//! - `lib.rs` — this guide, the registry [`NAME`], [`capabilities`] and the factory
//!   [`FilesystemFactory`] (validate, connect, config keys, example config);
//! - `config.rs` — the typed settings ([`FilesystemSettings`]) parsed from
//!   `[destination.filesystem]`, and the accepted keys ([`SETTINGS`], [`CREDENTIALS`]);
//!   `bucket.rs` — `bucket_url` as a [`Bucket`], and the object store client for it;
//! - `destination.rs` — the running destination ([`FilesystemDestination`],
//!   `impl Destination`): data files under the layout, replace, the load record;
//! - `system_files.rs` — the `_dlt_loads`, `_dlt_version` and `_dlt_pipeline_state` files;
//!   `tables.rs` — a table's data files: listed, read back, counted, deleted;
//! - [`layout`] — object names from the layout; [`upload`] — streaming (multipart) uploads;
//!   `convert.rs` — Parquet to JSONL or CSV; [`read`] — Parquet objects read back, and the
//!   simple queries this destination answers; `sql.rs` (the `sql` feature) — any SQL,
//!   answered by an embedded DuckDB over the loaded files (the facade turns it on with its
//!   `duckdb` feature);
//! - `error.rs` — object_store and Parquet errors mapped to sluice errors, written once.
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_filesystem::FilesystemFactory));
//! assert_eq!(sluice_filesystem::FilesystemFactory.name(), "filesystem");
//! ```

mod bucket;
mod config;
mod convert;
mod destination;
mod error;
pub mod layout;
pub mod read;
#[cfg(feature = "sql")]
mod sql;
mod system_files;
mod tables;
pub mod upload;

pub use bucket::Bucket;
pub use config::{
    AzureCredentials, DEFAULT_CONCURRENCY, DEFAULT_MAX_STATE_FILES, DEFAULT_PART_SIZE,
    FilesystemSettings, GcsCredentials, MIN_PART_SIZE, S3Credentials,
};
pub use config::{CREDENTIALS, SETTINGS};
pub use destination::{FilesystemDestination, UploadRecord, file_id};
pub use layout::{DEFAULT_LAYOUT, Layout, PathParams};
pub use upload::UploadStats;

use async_trait::async_trait;
use sluice_core::{
    Capabilities, Destination, DestinationConfig, Result, TypedFactory, ValidatedConfig,
};

/// An example config of this destination (`sluice destinations describe filesystem`).
pub const EXAMPLE_CONFIG: &str = r#"[destination.filesystem]
bucket_url = "s3://my-bucket/lake"   # or a local path, file:///…, gs://…, az://…
layout = "{table_name}/{load_id}.{file_id}.{ext}"

[destination.filesystem.credentials]
aws_access_key_id = "AKIA..."
aws_secret_access_key = "SECRET"
region_name = "eu-central-1"
# endpoint_url = "http://127.0.0.1:9000"   # an S3-compatible server
# az://container/path takes instead:
# azure_storage_account_name = "myaccount"
# azure_storage_account_key = "KEY"         # or azure_storage_sas_token
# endpoint_url = "http://127.0.0.1:10000/devstoreaccount1"   # an emulator (Azurite)
"#;

/// The registry name of this destination.
pub const NAME: &str = "filesystem";
/// Name of the marker file that dlt puts in initialized folders.
pub const INIT_FILE: &str = "init";
/// Separator between the parts of system file names (`<schema>__<load_id>.jsonl`).
pub const FILENAME_SEPARATOR: &str = "__";
/// Engine version of the stored pipeline state (dlt's `STATE_ENGINE_VERSION`).
pub const STATE_ENGINE_VERSION: u64 = 4;

/// The filesystem destination factory (registered as `filesystem`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesystemFactory;

/// The filesystem destination's capabilities: case-sensitive names kept as they are, long
/// identifiers, Parquet files, no transactions, no merge (merge appends).
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 65536,
        max_column_identifier_length: 65536,
        ..Capabilities::default()
    }
}

#[async_trait]
impl TypedFactory for FilesystemFactory {
    const NAME: &'static str = NAME;
    const CAPABILITIES: fn() -> Capabilities = capabilities;
    const EXAMPLE_CONFIG: &'static str = EXAMPLE_CONFIG;
    type Settings = FilesystemSettings;

    fn parse(&self, config: &DestinationConfig) -> Result<FilesystemSettings> {
        FilesystemSettings::resolve(config)
    }

    async fn open(
        &self,
        settings: &FilesystemSettings,
        _: &DestinationConfig,
    ) -> Result<Box<dyn Destination>> {
        let destination = FilesystemDestination::open(settings.clone())?;
        #[cfg(feature = "sql")]
        let destination = destination.with_sql();
        Ok(Box::new(destination))
    }

    fn keys(&self) -> sluice_core::ConfigKeys {
        // A service-account key file may be pasted whole into the credentials table.
        let key_file = sluice_core::config::GCP_SERVICE_ACCOUNT_KEYS;
        sluice_core::ConfigKeys::new(config::SETTINGS, &[config::CREDENTIALS, key_file])
    }
}

impl FilesystemFactory {
    /// Connect and return the concrete destination (for programs that want its extra methods).
    /// It answers the simple queries of `read.rs`; `with_sql` (the `sql` feature) turns on any
    /// SQL, as `connect` does.
    pub async fn connect_filesystem(
        &self,
        config: &ValidatedConfig,
    ) -> Result<FilesystemDestination> {
        FilesystemDestination::open(config.settings::<FilesystemSettings>()?.clone())
    }
}
