//! A resource's config resolved into what its requests need: the merged endpoint, legacy
//! param forms, path parameters, placeholders and the parent they name, the paginator,
//! data selector and auth, the table hints; and the request built from it for one parent item.

use crate::auth::Auth;
use crate::config::{
    EndpointConfig, IncrementalConfig, JsonValue, Method, PaginatorConfig, ResourceConfig,
    ResponseAction,
};
use crate::http::Request;
use crate::jsonpath::JsonPath;
use crate::paginators::{AutoConfig, Paginator, SinglePageConfig};
use crate::template::{self, Context, IncrementalValues};
use indexmap::IndexMap;
use reqwest::Url;
use serde_json::Value;
use sluice_core::{ConfigSection, Error, ResourceHints, Result};
use std::sync::Arc;

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

/// `base_url` joined with `path` as dlt does: one `/` between them; an absolute URL is kept.
pub(crate) fn join_url(base: &Url, path: &str) -> Result<Url> {
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

/// Resolve one resource (`name`, already merged with the defaults) against the client
/// settings; `all_names` are the names of all resources (placeholders may name them).
#[allow(clippy::too_many_arguments)]
pub(crate) fn resolve_resource(
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
                let cfg = IncrementalConfig::deserialize_toml(t)
                    .map_err(|e| Error::config(format!("resource '{name}': params.{k}: {e}")))?;
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
        hints.scd2 = wd.scd2;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
