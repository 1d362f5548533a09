//! sluice as a library: the facade over the core, the normalizer, the pipeline and the
//! destinations compiled into this build (one Cargo feature per destination).
//!
//! ```no_run
//! # async fn demo() -> sluice::core::Result<()> {
//! use sluice::pipeline::{FileSource, Pipeline, PipelineOptions};
//! let mut pipeline = Pipeline::new(&sluice::registry(), PipelineOptions::new("orders", "duckdb"))?;
//! let info = pipeline.run(Box::new(FileSource::new("orders", vec!["orders.json".into()]))).await?;
//! println!("{info}");
//! # Ok(()) }
//! ```

pub use sluice_core as core;
pub use sluice_forter as forter;
pub use sluice_normalize as normalize;
pub use sluice_pipeline as pipeline;
pub use sluice_rest as rest;

#[cfg(feature = "bigquery")]
pub use sluice_bigquery as bigquery;
#[cfg(feature = "databricks")]
pub use sluice_databricks as databricks;
#[cfg(feature = "duckdb")]
pub use sluice_duckdb as duckdb;
#[cfg(feature = "filesystem")]
pub use sluice_filesystem as filesystem;
#[cfg(feature = "postgres")]
pub use sluice_postgres as postgres;
#[cfg(feature = "redshift")]
pub use sluice_redshift as redshift;
#[cfg(feature = "snowflake")]
pub use sluice_snowflake as snowflake;

/// A registry with every destination compiled into this build. Add your own with
/// [`Registry::register`](sluice_core::Registry::register).
pub fn registry() -> sluice_core::Registry {
    #[allow(unused_mut)]
    let mut r = sluice_core::Registry::new();
    #[cfg(feature = "duckdb")]
    r.register(std::sync::Arc::new(sluice_duckdb::DuckDbFactory));
    #[cfg(feature = "postgres")]
    r.register(std::sync::Arc::new(sluice_postgres::PostgresFactory));
    #[cfg(feature = "bigquery")]
    r.register(std::sync::Arc::new(sluice_bigquery::BigQueryFactory));
    #[cfg(feature = "filesystem")]
    r.register(std::sync::Arc::new(sluice_filesystem::FilesystemFactory));
    #[cfg(feature = "snowflake")]
    r.register(std::sync::Arc::new(sluice_snowflake::SnowflakeFactory));
    #[cfg(feature = "redshift")]
    r.register(std::sync::Arc::new(sluice_redshift::RedshiftFactory::new()));
    #[cfg(feature = "databricks")]
    r.register(std::sync::Arc::new(sluice_databricks::DatabricksFactory));
    r
}

/// A registry with the built-in source types: `rest_api` (dlt's declarative REST source) and
/// `forter` (the Forter preset). Add your own with
/// [`SourceRegistry::register`](sluice_core::SourceRegistry::register).
pub fn sources() -> sluice_core::SourceRegistry {
    let mut r = sluice_core::SourceRegistry::new();
    r.register(std::sync::Arc::new(sluice_rest::RestApiSourceFactory));
    r.register(std::sync::Arc::new(sluice_forter::ForterSourceFactory));
    r
}
