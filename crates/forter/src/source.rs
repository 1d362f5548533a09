//! The Forter preset as a [`Source`] of its own: the REST source it configures (its errors
//! given a hint when Forter answers 401 or 400), plus the credentials check Forter's plugins
//! make (`GET credentials/test`, configurable as `health_path`), so that `sluice check`
//! needs no Forter-specific code.

use crate::hints::with_hint;
use crate::{ForterConfig, check_credentials, forter_rest_config};
use futures::StreamExt;
use sluice_core::{
    ConfigSection, ResourceHints, Result, Source, SourceCounters, SourceFactory, SourceStream,
};
use sluice_rest::RestApiSource;
use std::sync::Arc;

/// The Forter source: extraction by the REST source, checks by a GET of `health_path`.
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
    /// Build the source (no request is made; `items_file`s are read).
    pub fn new(name: &str, config: ForterConfig, secrets: &ConfigSection) -> Result<Self> {
        config.check()?;
        let rest = forter_rest_config(name, &config, secrets)?;
        Ok(Self {
            name: name.to_string(),
            rest: RestApiSource::new(name, rest, secrets)?,
            config,
            secrets: secrets.clone(),
        })
    }

    /// The REST source that extracts.
    pub fn rest(&self) -> &RestApiSource {
        &self.rest
    }

    /// The REST source alone (its errors then come without the preset's hints).
    pub fn into_rest(self) -> RestApiSource {
        self.rest
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
        let name = self.name.clone();
        Box::new(self.rest)
            .extract(state)
            .map(move |ev| ev.map_err(|e| with_hint(&name, e)))
            .boxed()
    }

    fn counters(&self) -> Option<Arc<dyn SourceCounters>> {
        self.rest.counters()
    }

    fn partition(&mut self, k: u32, n: u32) -> Result<()> {
        self.rest.partition(k, n)
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<Option<String>>> {
        Box::pin(async move {
            check_credentials(&self.name, &self.config, &self.secrets).await?;
            Ok(Some(format!(
                "Forter's GET {} accepted them",
                self.config.health_path
            )))
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
