//! The REST API source: resolve the config into resources, then stream pages.

use crate::auth::Auth;
use crate::config::{ResourceConfig, RestApiConfig};
use crate::credentials::{AuthScope, Redactor};
use crate::defaults::merge_resource;
use crate::graph::{Ctx, children_of, resource_stream};
use crate::http::{Http, HttpOptions};
use crate::incremental::Incremental;
use crate::progress::Progress;
use crate::resolve::{Resolved, resolve_resource};
use futures::stream::{self, StreamExt};
use reqwest::Url;
use serde_json::Value;
use sluice_core::{ConfigSection, Error, ResourceHints, Result, Source, SourceEvent, SourceStream};
use std::future::ready;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most requests a source may keep in flight (`max_concurrency`).
pub const MAX_CONCURRENCY: usize = 10_000;

/// The declarative REST API source (dlt's `rest_api`). See the crate docs for an example.
#[derive(Debug)]
pub struct RestApiSource {
    name: String,
    resources: Vec<Arc<Resolved>>,
    children: Vec<Vec<usize>>,
    http: Arc<Http>,
    max_concurrency: usize,
    max_boundary_keys: usize,
    progress: Arc<Progress>,
    /// The share of a partitioned run (see [`crate::partition`]); `None`: all the work.
    share: Option<Arc<crate::partition::Share>>,
}

impl RestApiSource {
    /// Build the source. `secrets` is the `[sources.<name>]` section (secrets.toml, config.toml
    /// and `SOURCES__<NAME>__*` variables merged): auth values missing from the config are
    /// taken from it (`token`, `api_key`, `username`, `password`, `client_id`, `client_secret`).
    /// Errors name the resource and the setting.
    pub fn new(name: &str, config: RestApiConfig, secrets: &ConfigSection) -> Result<Self> {
        if let Some(t) = &config.source_type
            && t != "rest_api"
        {
            return Err(Error::config(format!("source type '{t}' is not rest_api")));
        }
        if config.resources.is_empty() {
            return Err(Error::config(format!(
                "source '{name}': no resources configured"
            )));
        }
        if config
            .resource_defaults
            .as_ref()
            .is_some_and(|d| d.name.is_some())
        {
            return Err(Error::config("resource_defaults cannot have a 'name'"));
        }
        let mut base_url = Url::parse(&config.client.base_url).map_err(|e| {
            Error::config(format!(
                "client.base_url '{}' is not a URL: {e}",
                config.client.base_url
            ))
        })?;
        if !base_url.path().ends_with('/') {
            let p = format!("{}/", base_url.path());
            base_url.set_path(&p);
        }
        let client_auth = Arc::new(Auth::resolve(config.client.auth.as_ref(), secrets, name)?);

        let entries: Vec<ResourceConfig> = config
            .resources
            .into_iter()
            .map(|e| merge_resource(config.resource_defaults.as_ref(), e.0))
            .collect();
        let names: Vec<String> = entries
            .iter()
            .enumerate()
            .map(|(i, r)| match &r.name {
                Some(n) if !n.trim().is_empty() => Ok(n.clone()),
                _ => Err(Error::config(format!("resources[{i}] has no name"))),
            })
            .collect::<Result<_>>()?;
        for (i, n) in names.iter().enumerate() {
            if names[..i].contains(n) {
                return Err(Error::config(format!("resource '{n}' is defined twice")));
            }
        }

        let mut resources = Vec::new();
        for (r, name_) in entries.into_iter().zip(names.iter()) {
            resources.push(resolve_resource(
                r,
                name_,
                &names,
                &base_url,
                &config.client.headers,
                config.client.paginator.as_ref(),
                &client_auth,
                secrets,
                name,
            )?);
        }
        let progress = Arc::new(Progress::default());
        let auth_scope = AuthScope::new(
            &base_url,
            resources.iter().map(|r| r.path.as_str()),
            &config.client.auth_origins,
        )?;
        let redactor = Redactor::new(
            std::iter::once(client_auth.as_ref())
                .chain(resources.iter().map(|r| r.auth.as_ref()))
                .flat_map(Auth::secret_values),
        );
        let secs = |key: &str, v: f64, positive: bool| {
            sluice_core::config::check_seconds(
                &format!("REST API source config: {key}"),
                v,
                positive,
            )
        };
        let request_timeout = secs("request_timeout", config.request_timeout, true)?;
        // (Found by config_fuzz: a huge value panicked in tokio's semaphore.)
        if !(1..=MAX_CONCURRENCY).contains(&config.max_concurrency) {
            return Err(Error::config(format!(
                "REST API source config: max_concurrency must be between 1 and {MAX_CONCURRENCY}, got {}",
                config.max_concurrency
            )));
        }
        let rate_limit = config
            .rate_limit
            .map(|r| secs("rate_limit (requests per second)", r, true))
            .transpose()?;
        let http = Arc::new(Http::new(
            HttpOptions {
                timeout: Duration::from_secs_f64(request_timeout.max(0.001)),
                max_attempts: config.max_attempts.max(1),
                backoff_factor: secs("backoff_factor", config.backoff_factor, false)?,
                max_retry_delay: secs("max_retry_delay", config.max_retry_delay, false)?,
                rate_limit,
                max_concurrency: config.max_concurrency.max(1),
                auth_scope,
                retry_post: config.retry_post,
            },
            progress.clone(),
            redactor,
        )?);
        let children = children_of(&resources)?;
        Ok(Self {
            name: name.to_string(),
            resources: resources.into_iter().map(Arc::new).collect(),
            children,
            http,
            max_concurrency: config.max_concurrency.max(1),
            max_boundary_keys: config.max_boundary_keys.max(1),
            progress,
            share: None,
        })
    }

    /// Build a source from a TOML table (a pipeline file's `[source]`).
    pub fn from_toml(name: &str, config: toml::Value, secrets: &ConfigSection) -> Result<Self> {
        Self::new(name, RestApiConfig::from_toml(config)?, secrets)
    }

    /// Live counters (pages, rows, requests, retries per resource) for progress display.
    pub fn progress(&self) -> Arc<Progress> {
        self.progress.clone()
    }
}

/// Builds [`RestApiSource`]s for `type = "rest_api"` (dlt's declarative REST source).
#[derive(Debug, Clone, Copy, Default)]
pub struct RestApiSourceFactory;

impl sluice_core::SourceFactory for RestApiSourceFactory {
    fn source_type(&self) -> &str {
        "rest_api"
    }

    fn build(
        &self,
        name: &str,
        config: toml::Value,
        secrets: &ConfigSection,
    ) -> Result<Box<dyn Source>> {
        Ok(Box::new(RestApiSource::from_toml(name, config, secrets)?))
    }
}

impl Source for RestApiSource {
    fn counters(&self) -> Option<Arc<dyn sluice_core::SourceCounters>> {
        Some(self.progress.clone())
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn partition(&mut self, k: u32, n: u32) -> Result<()> {
        let share =
            crate::partition::Share::plan(&self.name, &self.resources, &self.children, k, n)?;
        let http = Arc::get_mut(&mut self.http)
            .ok_or_else(|| Error::internal("the source was partitioned while extracting"))?;
        http.divide_rate_limit(n);
        self.share = Some(Arc::new(share));
        Ok(())
    }

    fn resources(&self) -> Vec<ResourceHints> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(i, r)| r.selected && self.share.as_ref().is_none_or(|s| s.includes(*i)))
            .map(|(_, r)| r.hints.clone())
            .collect()
    }

    fn extract(self: Box<Self>, state: Value) -> SourceStream {
        let mut trackers = Vec::new();
        for r in &self.resources {
            match &r.incremental {
                Some(cfg) => match Incremental::new(
                    &r.name,
                    cfg,
                    &r.hints.primary_key,
                    &state,
                    self.max_boundary_keys,
                ) {
                    Ok(t) => trackers.push(Some(Arc::new(Mutex::new(t)))),
                    Err(e) => return stream::once(ready(Err(e))).boxed(),
                },
                None => trackers.push(None),
            }
        }
        for r in &self.resources {
            self.progress.resource(&r.name);
        }
        let ctx = Arc::new(Ctx {
            resources: self.resources.clone(),
            children: self.children.clone(),
            http: self.http.clone(),
            trackers,
            max_concurrency: self.max_concurrency,
            share: self.share.clone(),
        });
        let roots: Vec<usize> = (0..ctx.resources.len())
            .filter(|i| ctx.resources[*i].parent.is_none())
            .filter(|i| ctx.share.as_ref().is_none_or(|s| s.includes(*i)))
            .collect();
        let errored = Arc::new(AtomicBool::new(false));
        let flag = errored.clone();
        let main = stream::iter(roots)
            .map({
                let ctx = ctx.clone();
                move |i| resource_stream(ctx.clone(), i, None)
            })
            .flatten_unordered(None)
            .inspect(move |r| {
                if r.is_err() {
                    flag.store(true, Ordering::Relaxed);
                }
            });
        let progress = self.progress.clone();
        let tail = stream::once(async move {
            for c in progress.snapshot() {
                tracing::info!(
                    resource = %c.resource,
                    pages = c.pages,
                    rows = c.rows,
                    requests = c.requests,
                    retries = c.retries,
                    "resource extracted"
                );
            }
            for r in &ctx.resources {
                progress
                    .resource(&r.name)
                    .done
                    .store(true, Ordering::Relaxed);
            }
            if errored.load(Ordering::Relaxed) {
                return None;
            }
            let mut new_state = if state.is_object() {
                state.clone()
            } else {
                Value::Object(Default::default())
            };
            let mut changed = false;
            for (r, t) in ctx.resources.iter().zip(&ctx.trackers) {
                let Some(t) = t else { continue };
                let t = t.lock().expect("tracker lock");
                if let Some(entry) = t.state_entry() {
                    changed = true;
                    let obj = new_state.as_object_mut().expect("object");
                    let res = obj
                        .entry("resources")
                        .or_insert_with(|| Value::Object(Default::default()));
                    if !res.is_object() {
                        *res = Value::Object(Default::default());
                    }
                    let r_entry = res
                        .as_object_mut()
                        .expect("object")
                        .entry(r.name.clone())
                        .or_insert_with(|| Value::Object(Default::default()));
                    if !r_entry.is_object() {
                        *r_entry = Value::Object(Default::default());
                    }
                    let inc = r_entry
                        .as_object_mut()
                        .expect("object")
                        .entry("incremental")
                        .or_insert_with(|| Value::Object(Default::default()));
                    if !inc.is_object() {
                        *inc = Value::Object(Default::default());
                    }
                    inc.as_object_mut()
                        .expect("object")
                        .insert(t.cursor_key().to_string(), entry);
                }
            }
            changed.then(|| Ok(SourceEvent::State(new_state)))
        })
        .filter_map(ready);
        main.chain(tail).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absurd_seconds_are_config_errors_not_panics() {
        // Found by config_fuzz: `request_timeout = nan` panicked in Duration::from_secs_f64.
        for (key, value) in [
            ("request_timeout", "nan"),
            ("request_timeout", "inf"),
            ("request_timeout", "0"),
            ("backoff_factor", "-1.0"),
            ("max_retry_delay", "1e300"),
            ("rate_limit", "0"),
            ("max_concurrency", "0"),
            ("max_concurrency", "9223372036854775807"),
        ] {
            let toml = format!(
                "{key} = {value}\nclient = {{ base_url = \"http://x\" }}\nresources = [\"a\"]\n"
            );
            let err = RestApiSource::new(
                "s",
                RestApiConfig::from_toml_str(&toml).unwrap(),
                &ConfigSection::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(key) && err.contains("must be"),
                "{key} = {value}: {err}"
            );
        }
    }

    #[test]
    fn config_errors_name_the_resource() {
        let cfg = RestApiConfig::from_json(&json!({
            "client": {"base_url": "http://h"},
            "resources": ["a", {"name": "b", "endpoint": {"path": "a/{resources.zzz.id}"}}]
        }))
        .unwrap();
        let err = RestApiSource::new("s", cfg, &ConfigSection::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("'b'") && err.contains("zzz"), "{err}");
        let cfg = RestApiConfig::from_json(&json!({
            "client": {"base_url": "http://h", "auth": {"type": "bearer"}},
            "resources": ["a"]
        }))
        .unwrap();
        let err = RestApiSource::new("shop", cfg, &ConfigSection::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOURCES__SHOP__TOKEN"), "{err}");
    }
}
