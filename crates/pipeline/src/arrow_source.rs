//! A source of Arrow record batches handed in by a program (as dlt's `pipeline.run` takes an
//! Arrow table): one or more resources, each a stream of batches, loaded as they are (see
//! `sluice_normalize`'s Arrow input for the type mapping).
//!
//! ```no_run
//! # async fn example(pipeline: &mut sluice_pipeline::Pipeline, batch: arrow::record_batch::RecordBatch) -> sluice_core::Result<()> {
//! use sluice_pipeline::ArrowSource;
//! let orders = sluice_core::ResourceHints::new("orders");
//! let source = ArrowSource::new("shop").with_batches(orders, vec![batch]);
//! pipeline.run(Box::new(source)).await?;
//! # Ok(()) }
//! ```

use arrow::record_batch::RecordBatch;
use futures::stream::{self, BoxStream, StreamExt};
use sluice_core::{ResourceHints, Result, Source, SourceEvent, SourceStream};

/// One resource of an [`ArrowSource`]: its hints and its batches.
struct ArrowResource {
    hints: ResourceHints,
    batches: BoxStream<'static, Result<RecordBatch>>,
}

/// Arrow record batches as a source.
pub struct ArrowSource {
    name: String,
    resources: Vec<ArrowResource>,
}

impl std::fmt::Debug for ArrowSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowSource")
            .field("name", &self.name)
            .field(
                "resources",
                &self
                    .resources
                    .iter()
                    .map(|r| &r.hints.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl ArrowSource {
    /// A source (schema) named `name`, without resources yet.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            resources: Vec::new(),
        }
    }

    /// Add a resource with its hints (write disposition, keys, contract) whose rows come as a
    /// stream of batches: batches are loaded as they arrive, never collected.
    pub fn with_resource(
        mut self,
        hints: ResourceHints,
        batches: impl futures::Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Self {
        self.resources.push(ArrowResource {
            hints,
            batches: batches.boxed(),
        });
        self
    }

    /// Add a resource with its hints and batches already in memory.
    pub fn with_batches(self, hints: ResourceHints, batches: Vec<RecordBatch>) -> Self {
        self.with_resource(hints, stream::iter(batches.into_iter().map(Ok)))
    }
}

impl Source for ArrowSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn resources(&self) -> Vec<ResourceHints> {
        self.resources.iter().map(|r| r.hints.clone()).collect()
    }

    fn extract(self: Box<Self>, _state: serde_json::Value) -> SourceStream {
        stream::iter(self.resources)
            .flat_map(|r| {
                let resource = r.hints.name.clone();
                r.batches.map(move |b| {
                    b.map(|batch| SourceEvent::Batch {
                        resource: resource.clone(),
                        batch,
                    })
                })
            })
            .boxed()
    }
}
