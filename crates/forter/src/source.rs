//! The Forter preset as a [`Source`] of its own: the REST source it configures, plus the
//! credentials check Forter's plugins make (`GET /credentials/test`), so that `sluice check`
//! needs no Forter-specific code.

use crate::{ForterConfig, check_credentials, forter_source};
use sluice_core::{
    ConfigSection, ResourceHints, Result, Source, SourceCounters, SourceFactory, SourceStream,
};
use sluice_rest::RestApiSource;
use std::sync::Arc;

/// The Forter source: extraction by the REST source, checks by `GET /credentials/test`.
pub struct ForterSource {
    name: String,
    config: ForterConfig,
    secrets: ConfigSection,
    rest: RestApiSource,
}

impl std::fmt::Debug for ForterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForterSource")
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

impl ForterSource {
    /// Build the source (no I/O).
    pub fn new(name: &str, config: ForterConfig, secrets: &ConfigSection) -> Result<Self> {
        Ok(Self {
            name: name.to_string(),
            rest: forter_source(name, config.clone(), secrets)?,
            config,
            secrets: secrets.clone(),
        })
    }

    /// The REST source that extracts.
    pub fn rest(&self) -> &RestApiSource {
        &self.rest
    }
}

impl Source for ForterSource {
    fn name(&self) -> &str {
        self.rest.name()
    }

    fn resources(&self) -> Vec<ResourceHints> {
        self.rest.resources()
    }

    fn extract(self: Box<Self>, state: serde_json::Value) -> SourceStream {
        Box::new(self.rest).extract(state)
    }

    fn counters(&self) -> Option<Arc<dyn SourceCounters>> {
        self.rest.counters()
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            check_credentials(&self.name, &self.config, &self.secrets).await?;
            Ok(Some(
                "Forter's GET credentials/test accepted them".to_string(),
            ))
        })
    }
}

/// Builds [`ForterSource`]s for `type = "forter"`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForterSourceFactory;

impl SourceFactory for ForterSourceFactory {
    fn source_type(&self) -> &str {
        "forter"
    }

    fn build(
        &self,
        name: &str,
        config: toml::Value,
        secrets: &ConfigSection,
    ) -> Result<Box<dyn Source>> {
        Ok(Box::new(ForterSource::new(
            name,
            ForterConfig::from_toml(config)?,
            secrets,
        )?))
    }
}
