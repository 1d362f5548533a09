//! The core of sluice: data types, the versioned schema, naming conventions, errors,
//! configuration and secrets, and the destination contract (factories, capabilities and the
//! registry that maps names to factories).
//!
//! Nothing in this crate knows about a particular destination. Destinations depend on this
//! crate only, and describe what is different about them through [`Capabilities`].

pub mod arrow_types;
pub mod blocking;
pub mod capabilities;
pub mod config;
pub mod destination;
pub mod error;
pub mod memory;
pub mod naming;
pub mod parquet_io;
pub mod registry;
pub mod schema;
pub mod source;
pub mod sql;
pub mod staged_merge;
pub mod staging;
pub mod state;
pub mod system_tables;
pub mod test_support;
pub mod types;

pub use capabilities::{Capabilities, CaseFold, FileFormat};
pub use config::{ConfigProvider, ConfigSection, Secret};
pub use destination::{
    ChainDisposition, ChainJob, ConfigKeys, Destination, DestinationConfig, DestinationFactory,
    DestinationFactoryExt, LoadCommit, StateRecord, TableJob, TypedFactory, ValidatedConfig,
};
pub use error::{Error, ErrorKind, Result};
pub use naming::NamingConvention;
pub use registry::Registry;
pub use schema::{
    Column, ContractMode, MergeStrategy, Schema, SchemaChange, SchemaContract, Table,
    WriteDisposition,
};
pub use source::{
    ResourceHints, ResourceTrace, Source, SourceCounters, SourceEvent, SourceFactory,
    SourceRegistry, SourceStream,
};
pub use types::DataType;

/// Name of the loads table written by every destination.
pub const LOADS_TABLE: &str = "_dlt_loads";
/// Name of the schema versions table.
pub const VERSION_TABLE: &str = "_dlt_version";
/// Name of the pipeline state table.
pub const STATE_TABLE: &str = "_dlt_pipeline_state";
