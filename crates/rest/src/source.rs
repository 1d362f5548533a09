//! The REST API source: resolve the config into resources, then stream pages.

use crate::auth::Auth;
use crate::config::{
    EndpointConfig, IncrementalConfig, JsonValue, Method, PaginatorConfig, ResourceConfig,
    ResponseAction, RestApiConfig,
};
use crate::credentials::{AuthScope, Redactor};
use crate::http::{Http, HttpOptions, Request};
use crate::incremental::Incremental;
use crate::jsonpath::JsonPath;
use crate::pages::paginate;
use crate::paginators::{AutoConfig, Paginator, SinglePageConfig};
use crate::progress::Progress;
use crate::template::{self, Context, IncrementalValues};
use futures::stream::{self, BoxStream, StreamExt};
use indexmap::IndexMap;
use reqwest::Url;
use serde_json::Value;
use sluice_core::{ConfigSection, Error, ResourceHints, Result, Source, SourceEvent, SourceStream};
use std::future::ready;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One resolved resource.
#[derive(Debug)]
pub(crate) struct Resolved {
    pub(crate) name: String,
    pub(crate) hints: ResourceHints,
    pub(crate) base_url: Url,
    pub(crate) path: String,
    pub(crate) method: Method,
    pub(crate) params: IndexMap<String, Value>,
    pub(crate) json: Option<Value>,
    pub(crate) data: Option<Value>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) paginator: PaginatorConfig,
    pub(crate) data_selector: Option<JsonPath>,
    pub(crate) actions: Vec<ResponseAction>,
    pub(crate) incremental: Option<IncrementalConfig>,
    pub(crate) parent: Option<(usize, String)>,
    pub(crate) include_from_parent: Vec<String>,
    pub(crate) selected: bool,
    pub(crate) auth: Arc<Auth>,
    /// Configured rows that replace the HTTP request.
    pub(crate) items: Option<Arc<Vec<Value>>>,
    /// Pages of one request sequence after which pagination stops.
    pub(crate) max_pages: Option<u64>,
}

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
}

fn merge_endpoint(defaults: Option<&EndpointConfig>, ep: Option<EndpointConfig>) -> EndpointConfig {
    let Some(d) = defaults else {
        return ep.unwrap_or_default();
    };
    let mut e = ep.unwrap_or_default();
    e.path = e.path.or_else(|| d.path.clone());
    e.method = e.method.or(d.method);
    // params and json are merged one level deep; the resource wins.
    let mut params = d.params.clone();
    for (k, v) in std::mem::take(&mut e.params) {
        params.insert(k, v);
    }
    e.params = params;
    e.json = match (d.json.clone(), e.json.take()) {
        (Some(JsonValue(Value::Object(mut dj))), Some(JsonValue(Value::Object(ej)))) => {
            for (k, v) in ej {
                dj.insert(k, v);
            }
            Some(JsonValue(Value::Object(dj)))
        }
        (d, e) => e.or(d),
    };
    e.data = e.data.or_else(|| d.data.clone());
    if e.headers.is_empty() {
        e.headers = d.headers.clone();
    }
    e.auth = e.auth.or_else(|| d.auth.clone());
    e.paginator = e.paginator.or_else(|| d.paginator.clone());
    e.data_selector = e.data_selector.or_else(|| d.data_selector.clone());
    if e.response_actions.is_empty() {
        e.response_actions = d.response_actions.clone();
    }
    e.incremental = e.incremental.or_else(|| d.incremental.clone());
    e.max_pages = e.max_pages.or(d.max_pages);
    e
}

fn merge_resource(defaults: Option<&ResourceConfig>, r: ResourceConfig) -> ResourceConfig {
    let Some(d) = defaults else { return r };
    ResourceConfig {
        name: r.name,
        // A resource of configured items makes no request: endpoint defaults do not apply.
        endpoint: if r.items.is_some() {
            r.endpoint
        } else {
            Some(merge_endpoint(d.endpoint.as_ref(), r.endpoint))
        },
        items: r.items,
        primary_key: r.primary_key.or_else(|| d.primary_key.clone()),
        merge_key: r.merge_key.or_else(|| d.merge_key.clone()),
        write_disposition: r.write_disposition.or(d.write_disposition),
        include_from_parent: r
            .include_from_parent
            .or_else(|| d.include_from_parent.clone()),
        max_table_nesting: r.max_table_nesting.or(d.max_table_nesting),
        schema_contract: r.schema_contract.or(d.schema_contract),
        table_name: r.table_name.or_else(|| d.table_name.clone()),
        selected: r.selected.or(d.selected),
        columns: match (d.columns.clone(), r.columns) {
            (Some(mut dc), Some(rc)) => {
                for (k, v) in rc {
                    dc.insert(k, v);
                }
                Some(dc)
            }
            (dc, rc) => rc.or(dc),
        },
    }
}

/// `base_url` joined with `path` as dlt does: one `/` between them; an absolute URL is kept.
fn join_url(base: &Url, path: &str) -> Result<Url> {
    if path.starts_with("http://") || path.starts_with("https://") {
        return Url::parse(path).map_err(|e| Error::config(format!("invalid URL '{path}': {e}")));
    }
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(path.trim_start_matches('/'))
        .map_err(|e| Error::config(format!("invalid path '{path}': {e}")))
}

/// The fields of every template of an endpoint.
fn endpoint_fields(ep: &EndpointConfig, headers: &[(String, String)]) -> Result<Vec<String>> {
    let mut strings = vec![ep.path.clone().unwrap_or_default()];
    for v in ep.params.values() {
        template::json_strings(&v.0, &mut strings);
    }
    if let Some(j) = &ep.json {
        template::json_strings(&j.0, &mut strings);
    }
    if let Some(d) = &ep.data {
        template::json_strings(&d.0, &mut strings);
    }
    strings.extend(headers.iter().map(|(_, v)| v.clone()));
    let mut out = Vec::new();
    for s in strings {
        out.extend(template::fields(&s)?);
    }
    Ok(out)
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
            resources.push(Self::resolve_resource(
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
        // Check the parent graph has no cycle.
        for (i, r) in resources.iter().enumerate() {
            let mut seen = vec![i];
            let mut cur = r.parent.as_ref().map(|p| p.0);
            while let Some(p) = cur {
                if seen.contains(&p) {
                    return Err(Error::config(format!(
                        "resource '{}' depends on itself through its parents",
                        r.name
                    )));
                }
                seen.push(p);
                cur = resources[p].parent.as_ref().map(|x| x.0);
            }
        }
        let mut children = vec![Vec::new(); resources.len()];
        for (i, r) in resources.iter().enumerate() {
            if let Some((p, _)) = &r.parent {
                children[*p].push(i);
            }
        }
        Ok(Self {
            name: name.to_string(),
            resources: resources.into_iter().map(Arc::new).collect(),
            children,
            http,
            max_concurrency: config.max_concurrency.max(1),
            max_boundary_keys: config.max_boundary_keys.max(1),
            progress,
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

    #[allow(clippy::too_many_arguments)]
    fn resolve_resource(
        r: ResourceConfig,
        name: &str,
        all_names: &[String],
        base_url: &Url,
        client_headers: &IndexMap<String, String>,
        client_paginator: Option<&PaginatorConfig>,
        client_auth: &Arc<Auth>,
        secrets: &ConfigSection,
        source: &str,
    ) -> Result<Resolved> {
        let ctx = |e: Error| e.context(format!("resource '{name}'"));
        if r.items.is_some() && r.endpoint.is_some() {
            return Err(Error::config(format!(
                "resource '{name}': give either `items` (configured rows, no request) or `endpoint`, not both"
            )));
        }
        let items = r
            .items
            .as_ref()
            .map(|v| Arc::new(v.iter().map(|j| j.0.clone()).collect::<Vec<Value>>()));
        let mut ep = r.endpoint.unwrap_or_default();
        let mut path = ep.path.clone().unwrap_or_else(|| name.to_string());
        let mut incremental = ep.incremental.clone();

        // Legacy param forms: {type = "resolve", resource, field} and {type = "incremental", …}.
        let mut params: IndexMap<String, Value> = IndexMap::new();
        for (k, v) in std::mem::take(&mut ep.params) {
            let ty = v.0.get("type").and_then(Value::as_str).map(str::to_string);
            match ty.as_deref() {
                Some("resolve") => {
                    let res = v.0.get("resource").and_then(Value::as_str).ok_or_else(|| {
                        Error::config(format!(
                            "resource '{name}': resolve param '{k}' needs 'resource'"
                        ))
                    })?;
                    let field = v.0.get("field").and_then(Value::as_str).ok_or_else(|| {
                        Error::config(format!(
                            "resource '{name}': resolve param '{k}' needs 'field'"
                        ))
                    })?;
                    let placeholder = format!("{{{k}}}");
                    if !path.contains(&placeholder) {
                        return Err(Error::config(format!(
                            "resource '{name}': resolve param '{k}' must be used in the path as {placeholder}"
                        )));
                    }
                    path = path.replace(&placeholder, &format!("{{resources.{res}.{field}}}"));
                }
                Some("incremental") => {
                    if incremental.is_some() {
                        return Err(Error::config(format!(
                            "resource '{name}': only one incremental per endpoint"
                        )));
                    }
                    let mut table = v.0.clone();
                    if let Some(o) = table.as_object_mut() {
                        o.remove("type");
                        if o.contains_key("end_value") {
                            return Err(Error::config(format!(
                                "resource '{name}': the incremental param '{k}' cannot have end_value; use endpoint.incremental"
                            )));
                        }
                        o.insert("start_param".into(), Value::String(k.clone()));
                    }
                    let t = crate::config::json_to_toml(&table)
                        .unwrap_or(toml::Value::Table(Default::default()));
                    let cfg = IncrementalConfig::deserialize_toml(t).map_err(|e| {
                        Error::config(format!("resource '{name}': params.{k}: {e}"))
                    })?;
                    incremental = Some(cfg);
                }
                _ => {
                    params.insert(k, v.0);
                }
            }
        }
        // Path parameters bound to plain params are substituted now.
        for f in template::fields(&path).map_err(ctx)? {
            if !f.contains('.')
                && let Some(v) = params.shift_remove(&f)
            {
                path = path.replace(&format!("{{{f}}}"), &template::value_to_param(&v));
            }
        }

        let mut headers: Vec<(String, String)> = client_headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in &ep.headers {
            headers.retain(|(hk, _)| !hk.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        ep.path = Some(path.clone());
        ep.params = params
            .iter()
            .map(|(k, v)| (k.clone(), JsonValue(v.clone())))
            .collect();

        // Placeholders: one parent at most, known contexts only.
        let mut parent: Option<String> = None;
        for f in endpoint_fields(&ep, &headers).map_err(ctx)? {
            if let Some(rest) = f.strip_prefix("resources.") {
                let Some((p, field)) = rest.split_once('.') else {
                    return Err(Error::config(format!(
                        "resource '{name}': placeholder '{{{f}}}' must be {{resources.<parent>.<field>}}"
                    )));
                };
                JsonPath::parse(field).map_err(ctx)?;
                if !all_names.iter().any(|n| n == p) {
                    return Err(Error::config(format!(
                        "resource '{name}': placeholder '{{{f}}}' names an unknown resource '{p}'"
                    )));
                }
                match &parent {
                    Some(existing) if existing != p => {
                        return Err(Error::config(format!(
                            "resource '{name}': multiple parent resources ('{existing}' and '{p}')"
                        )));
                    }
                    _ => parent = Some(p.to_string()),
                }
            } else if f.starts_with("incremental.") {
                if incremental.is_none() {
                    return Err(Error::config(format!(
                        "resource '{name}': placeholder '{{{f}}}' needs endpoint.incremental"
                    )));
                }
            } else {
                return Err(Error::config(format!(
                    "resource '{name}': unknown placeholder '{{{f}}}': use {{resources.<parent>.<field>}}, \
                     {{incremental.start_value}} or a path parameter bound in params"
                )));
            }
        }
        let include_from_parent = r.include_from_parent.unwrap_or_default();
        if !include_from_parent.is_empty() && parent.is_none() {
            return Err(Error::config(format!(
                "resource '{name}': include_from_parent needs a parent resource ({{resources.<parent>.<field>}})"
            )));
        }
        let parent = parent.map(|p| {
            let idx = all_names
                .iter()
                .position(|n| *n == p)
                .expect("checked above");
            (idx, p)
        });

        // Single entity endpoints: the last path segment is a placeholder.
        let last_segment = path
            .split('?')
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("");
        let single_entity = last_segment.contains('{') && !last_segment.contains("{{");
        let mut data_selector = ep.data_selector.clone();
        let paginator = match (&ep.paginator, single_entity) {
            (Some(p), _) => p.clone(),
            (None, true) => PaginatorConfig::SinglePage(SinglePageConfig),
            (None, false) => client_paginator
                .cloned()
                .unwrap_or(PaginatorConfig::Auto(AutoConfig)),
        };
        if single_entity && data_selector.is_none() {
            data_selector = Some("$".into());
        }
        let data_selector = data_selector
            .as_deref()
            .map(JsonPath::parse)
            .transpose()
            .map_err(ctx)?;
        Paginator::new(&paginator).map_err(ctx)?;
        if let Some(inc) = &incremental {
            JsonPath::parse(&inc.cursor_path).map_err(ctx)?;
        }
        let auth = match &ep.auth {
            Some(a) => Arc::new(Auth::resolve(Some(a), secrets, source).map_err(ctx)?),
            None => client_auth.clone(),
        };
        // Check the path makes a URL (placeholders replaced by a dummy).
        let probe: String = template::parse(&path)
            .map_err(ctx)?
            .into_iter()
            .map(|p| match p {
                template::Piece::Text(t) => t,
                template::Piece::Field(_) => "x".into(),
            })
            .collect();
        join_url(base_url, &probe).map_err(ctx)?;

        let mut hints = ResourceHints::new(name);
        hints.table_name = r.table_name;
        if let Some(wd) = r.write_disposition {
            hints.write_disposition = wd.disposition;
            hints.merge_strategy = wd.strategy;
        }
        hints.primary_key = r.primary_key.map(|k| k.0).unwrap_or_default();
        hints.merge_key = r.merge_key.map(|k| k.0).unwrap_or_default();
        hints.max_table_nesting = r.max_table_nesting;
        hints.schema_contract = r.schema_contract.map(|c| c.0);
        for (col, c) in r.columns.iter().flatten() {
            hints.columns.push(c.to_column(col).map_err(ctx)?);
        }
        Ok(Resolved {
            name: name.to_string(),
            hints,
            base_url: base_url.clone(),
            path,
            method: ep.method.unwrap_or_default(),
            params,
            json: ep.json.map(|j| j.0),
            data: ep.data.map(|d| d.0),
            headers,
            paginator,
            data_selector,
            actions: ep.response_actions,
            incremental,
            parent,
            include_from_parent,
            selected: r.selected.unwrap_or(true),
            auth,
            items,
            max_pages: ep.max_pages,
        })
    }
}

/// Shared state of one extraction.
pub(crate) struct Ctx {
    pub(crate) resources: Vec<Arc<Resolved>>,
    pub(crate) children: Vec<Vec<usize>>,
    pub(crate) http: Arc<Http>,
    pub(crate) trackers: Vec<Option<Arc<Mutex<Incremental>>>>,
    pub(crate) max_concurrency: usize,
}

impl Resolved {
    pub(crate) fn build_request(
        &self,
        parent: Option<&Value>,
        inc: Option<&IncrementalValues>,
    ) -> Result<Request> {
        let pname = self.parent.as_ref().map(|p| p.1.as_str());
        let ctx = Context {
            resource: &self.name,
            parent: pname.zip(parent),
            incremental: inc,
        };
        let path = ctx.render(&self.path)?;
        let url = join_url(&self.base_url, &path)
            .map_err(|e| e.context(format!("resource '{}'", self.name)))?;
        let mut params = Vec::new();
        for (k, v) in &self.params {
            match ctx.render_json(v)? {
                Value::Null => {}
                Value::Array(a) => {
                    for x in a {
                        params.push((k.clone(), template::value_to_param(&x)));
                    }
                }
                other => params.push((k.clone(), template::value_to_param(&other))),
            }
        }
        let mut req = Request {
            method: self.method,
            url,
            params,
            json: self.json.as_ref().map(|j| ctx.render_json(j)).transpose()?,
            data: self.data.as_ref().map(|d| ctx.render_json(d)).transpose()?,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), ctx.render(v)?)))
                .collect::<Result<_>>()?,
        };
        if let (Some(cfg), Some(values)) = (&self.incremental, inc) {
            if let (Some(p), Some(v)) = (&cfg.start_param, &values.start_value) {
                req.set_param(p, template::value_to_param(v));
            }
            if let (Some(p), Some(v)) = (&cfg.end_param, &values.end_value) {
                req.set_param(p, template::value_to_param(v));
            }
        }
        Ok(req)
    }
}

type Events = BoxStream<'static, Result<SourceEvent>>;

/// Pages of a resource and, for every item, the streams of its children, run concurrently.
fn resource_stream(ctx: Arc<Ctx>, idx: usize, parent: Option<Arc<Value>>) -> Events {
    let res = ctx.resources[idx].clone();
    let pages = paginate(ctx.clone(), idx, parent);
    let children = ctx.children[idx].clone();
    let name = res.name.clone();
    let selected = res.selected;
    if children.is_empty() {
        return pages
            .filter_map(move |r| {
                ready(match r {
                    Ok(items) if items.is_empty() || !selected => None,
                    Ok(items) => Some(Ok(SourceEvent::Page {
                        resource: name.clone(),
                        items,
                    })),
                    Err(e) => Some(Err(e)),
                })
            })
            .boxed();
    }
    let limit = ctx.max_concurrency;
    pages
        .flat_map(move |r| -> BoxStream<'static, Events> {
            match r {
                Err(e) => stream::once(ready(stream::once(ready(Err(e))).boxed())).boxed(),
                Ok(items) => {
                    let parents: Vec<Arc<Value>> = items.iter().cloned().map(Arc::new).collect();
                    let head: Option<Events> = (selected && !items.is_empty()).then(|| {
                        stream::once(ready(Ok(SourceEvent::Page {
                            resource: name.clone(),
                            items,
                        })))
                        .boxed()
                    });
                    let ctx = ctx.clone();
                    let children = children.clone();
                    let kids = stream::iter(parents.into_iter().flat_map(move |p| {
                        children.clone().into_iter().map(move |c| (c, p.clone()))
                    }))
                    .map(move |(c, p)| resource_stream(ctx.clone(), c, Some(p)));
                    stream::iter(head).chain(kids).boxed()
                }
            }
        })
        .flatten_unordered(limit)
        .boxed()
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

    fn resources(&self) -> Vec<ResourceHints> {
        self.resources
            .iter()
            .filter(|r| r.selected)
            .map(|r| r.hints.clone())
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
        });
        let roots: Vec<usize> = (0..ctx.resources.len())
            .filter(|i| ctx.resources[*i].parent.is_none())
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
    fn urls_join_like_dlt() {
        let base = Url::parse("http://h/api/v1/").unwrap();
        assert_eq!(
            join_url(&base, "/posts").unwrap().as_str(),
            "http://h/api/v1/posts"
        );
        assert_eq!(
            join_url(&base, "https://x/y").unwrap().as_str(),
            "https://x/y"
        );
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
