//! The sluice pipeline: extract → normalize → package → load, with local state and schemas in
//! a working directory, crash-safe packages, and dlt-compatible load info.
//!
//! ```no_run
//! # async fn demo() -> sluice_core::Result<()> {
//! use sluice_pipeline::{Pipeline, PipelineOptions, FileSource};
//! let registry = sluice_core::Registry::new(); // register destinations here
//! let options = PipelineOptions::new("my_pipeline", "duckdb");
//! let mut pipeline = Pipeline::new(&registry, options)?;
//! let source = FileSource::new("orders", vec!["orders.json".into()]);
//! let info = pipeline.run(Box::new(source)).await?;
//! println!("{info}");
//! # Ok(()) }
//! ```

pub mod arrow_source;
pub mod dataset;
pub mod drop;
pub mod failpoint;
pub mod file_source;
pub mod info;
pub mod load_rules;
pub mod lock;
pub mod package;
pub mod partition;
pub mod paths;
pub mod pipeline;
pub mod progress;
mod restore;
pub mod state;
mod state_guard;
pub mod table_query;

pub use arrow_source::ArrowSource;
pub use dataset::Dataset;
pub use drop::{DropOutcome, DropPlan, DropRequest};
pub use file_source::FileSource;
pub use info::{PackageSummary, RunInfo};
pub use lock::PipelineLock;
pub use pipeline::{Pipeline, PipelineOptions};
pub use state::PipelineState;
pub use table_query::{TableBatches, TableQuery};
