//! Paginators with dlt's stop rules, and dlt's auto-detection from the first response.

use crate::config::PaginatorConfig;
use crate::http::{Request, Response};
use crate::jsonpath::JsonPath;
use serde_json::Value;
use sluice_core::{Error, ErrorKind, Result};

/// A paginator with its state for one `paginate` run.
#[derive(Debug)]
pub(crate) enum Paginator {
    Auto(Option<Box<Paginator>>),
    Single,
    JsonLink {
        path: JsonPath,
        next: Option<reqwest::Url>,
    },
    HeaderLink {
        rel: String,
        next: Option<reqwest::Url>,
    },
    HeaderCursor {
        key: String,
        param: String,
        cursor: Option<String>,
    },
    Cursor {
        path: JsonPath,
        param: Option<String>,
        body_path: Option<JsonPath>,
        stop_after_empty_page: bool,
        has_more_path: Option<JsonPath>,
        cursor: Option<Value>,
    },
    Range(Range),
    /// Set once a paginator has said there is no next page.
    Done,
}

/// Offset and page-number paginators (dlt's `RangePaginator`).
#[derive(Debug)]
pub(crate) struct Range {
    kind: &'static str,
    current: i64,
    step: i64,
    base_index: i64,
    param: String,
    body_path: Option<JsonPath>,
    limit: Option<(String, Option<JsonPath>, i64)>,
    total_path: Option<JsonPath>,
    maximum: Option<i64>,
    stop_after_empty_page: bool,
    has_more_path: Option<JsonPath>,
}

fn opt_path(p: &Option<String>) -> Result<Option<JsonPath>> {
    p.as_deref().map(JsonPath::parse).transpose()
}

fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn read_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_f64().map(|f| f != 0.0),
        _ => None,
    }
}

fn has_more(path: &Option<JsonPath>, body: &Value) -> Result<Option<bool>> {
    let Some(p) = path else { return Ok(None) };
    match p.first(body).and_then(read_bool) {
        Some(b) => Ok(Some(b)),
        None => Err(Error::new(
            ErrorKind::Source,
            format!("has_more value at '{p}' is missing or not a boolean in the response"),
        )),
    }
}

/// The `next` link of an RFC 5988 `Link` header.
pub(crate) fn link_header(headers: &reqwest::header::HeaderMap, rel: &str) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for part in text.split(',') {
            let mut segs = part.split(';');
            let url = segs.next()?.trim();
            let url = url.strip_prefix('<').and_then(|u| u.strip_suffix('>'))?;
            for s in segs {
                let s = s.trim();
                if let Some(r) = s.strip_prefix("rel=") {
                    let r = r.trim_matches('"');
                    if r.split_whitespace().any(|x| x == rel) {
                        return Some(url.to_string());
                    }
                }
            }
        }
    }
    None
}

/// The first key (depth first) whose lowercase name starts with `next`, as dlt's detector does.
fn find_next_key(v: &Value, prefix: &mut Vec<String>) -> Option<(Vec<String>, Value)> {
    let o = v.as_object()?;
    for (k, x) in o {
        if k.to_lowercase().starts_with("next") {
            let mut path = prefix.clone();
            path.push(k.clone());
            let value = match x {
                Value::Object(inner) => inner
                    .iter()
                    .find(|(ik, _)| {
                        let l = ik.to_lowercase();
                        l.starts_with("href") || l.starts_with("url")
                    })
                    .map(|(ik, iv)| {
                        path.push(ik.clone());
                        iv.clone()
                    }),
                Value::Array(_) => None,
                other => Some(other.clone()),
            };
            if let Some(value) = value {
                return Some((path, value));
            }
        }
        if x.is_object() {
            prefix.push(k.clone());
            let found = find_next_key(x, prefix);
            prefix.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn find_total_pages(v: &Value, prefix: &mut Vec<String>) -> Option<Vec<String>> {
    let o = v.as_object()?;
    for (k, x) in o {
        let l = k.to_lowercase();
        if (l == "total_pages" || l == "pages" || l == "totalpages")
            && (x.as_i64().is_some() || x.as_str().is_some_and(|s| s.parse::<i64>().is_ok()))
        {
            let mut p = prefix.clone();
            p.push(k.clone());
            return Some(p);
        }
        if x.is_object() {
            prefix.push(k.clone());
            let found = find_total_pages(x, prefix);
            prefix.pop();
            if found.is_some() {
                return found;
            }
        }
    }
    None
}

fn path_of(keys: &[String]) -> JsonPath {
    let text = keys
        .iter()
        .map(|k| format!("['{}']", k.replace('\'', "")))
        .collect::<String>();
    JsonPath::parse(&format!("${text}")).expect("bracket path parses")
}

impl Paginator {
    /// The paths this paginator reads in (or writes to) response and request bodies; `None`
    /// while auto-detection has not seen a response yet (it may read anything).
    pub fn body_paths(&self) -> Option<Vec<&JsonPath>> {
        Some(match self {
            Paginator::Auto(None) => return None,
            Paginator::Auto(Some(p)) => return p.body_paths(),
            Paginator::Single
            | Paginator::HeaderLink { .. }
            | Paginator::HeaderCursor { .. }
            | Paginator::Done => Vec::new(),
            Paginator::JsonLink { path, .. } => vec![path],
            Paginator::Cursor {
                path,
                body_path,
                has_more_path,
                ..
            } => std::iter::once(path)
                .chain(body_path)
                .chain(has_more_path)
                .collect(),
            Paginator::Range(r) => r
                .body_path
                .iter()
                .chain(r.limit.as_ref().and_then(|(_, p, _)| p.as_ref()))
                .chain(&r.total_path)
                .chain(&r.has_more_path)
                .collect(),
        })
    }

    pub fn new(cfg: &PaginatorConfig) -> Result<Self> {
        Ok(match cfg {
            PaginatorConfig::Auto => Paginator::Auto(None),
            PaginatorConfig::SinglePage => Paginator::Single,
            PaginatorConfig::JsonLink { next_url_path } => Paginator::JsonLink {
                path: JsonPath::parse(next_url_path)?,
                next: None,
            },
            PaginatorConfig::HeaderLink { links_next_key } => Paginator::HeaderLink {
                rel: links_next_key.clone(),
                next: None,
            },
            PaginatorConfig::HeaderCursor {
                cursor_key,
                cursor_param,
            } => Paginator::HeaderCursor {
                key: cursor_key.clone(),
                param: cursor_param.clone(),
                cursor: None,
            },
            PaginatorConfig::Cursor {
                cursor_path,
                cursor_param,
                cursor_body_path,
                stop_after_empty_page,
                has_more_path,
            } => Paginator::Cursor {
                path: JsonPath::parse(cursor_path)?,
                param: cursor_param.clone(),
                body_path: opt_path(cursor_body_path)?,
                stop_after_empty_page: *stop_after_empty_page,
                has_more_path: opt_path(has_more_path)?,
                cursor: None,
            },
            PaginatorConfig::Offset {
                limit,
                offset,
                offset_param,
                offset_body_path,
                limit_param,
                limit_body_path,
                total_path,
                maximum_offset,
                stop_after_empty_page,
                has_more_path,
            } => Paginator::Range(Range {
                kind: "offset",
                current: *offset,
                step: *limit,
                base_index: 0,
                param: offset_param.clone(),
                body_path: opt_path(offset_body_path)?,
                limit: Some((limit_param.clone(), opt_path(limit_body_path)?, *limit)),
                total_path: opt_path(total_path)?,
                maximum: *maximum_offset,
                stop_after_empty_page: *stop_after_empty_page,
                has_more_path: opt_path(has_more_path)?,
            }),
            PaginatorConfig::PageNumber {
                base_page,
                page,
                page_param,
                page_body_path,
                total_path,
                maximum_page,
                stop_after_empty_page,
                has_more_path,
            } => Paginator::Range(Range {
                kind: "page",
                current: page.unwrap_or(*base_page),
                step: 1,
                base_index: *base_page,
                param: page_param.clone(),
                body_path: opt_path(page_body_path)?,
                limit: None,
                total_path: opt_path(total_path)?,
                maximum: *maximum_page,
                stop_after_empty_page: *stop_after_empty_page,
                has_more_path: opt_path(has_more_path)?,
            }),
        })
    }

    /// Prepare the first request.
    pub fn init_request(&mut self, req: &mut Request) -> Result<()> {
        if let Paginator::Range(r) = self {
            r.place(req)?;
            if let Some((param, body_path, limit)) = &r.limit {
                match body_path {
                    Some(p) => p.set(
                        req.json
                            .get_or_insert_with(|| Value::Object(Default::default())),
                        Value::from(*limit),
                    )?,
                    None => req.set_param(param, limit.to_string()),
                }
            }
        }
        Ok(())
    }

    /// Read the response; afterwards [`Paginator::has_next`] says whether to go on.
    pub fn update_state(&mut self, resource: &str, resp: &Response, data_len: usize) -> Result<()> {
        let body = &resp.body;
        match self {
            Paginator::Auto(inner) => {
                if inner.is_none() {
                    let detected = detect(resp);
                    tracing::info!(resource, paginator = detected.name(), "paginator detected");
                    *inner = Some(Box::new(detected));
                }
                inner
                    .as_mut()
                    .expect("set")
                    .update_state(resource, resp, data_len)?;
            }
            Paginator::Single | Paginator::Done => *self = Paginator::Done,
            Paginator::JsonLink { path, next } => {
                *next = match path.first(body) {
                    Some(Value::String(s)) if !s.is_empty() => {
                        Some(resp.url.join(s).map_err(|_| {
                            Error::new(
                                ErrorKind::Source,
                                format!("resource '{resource}': next link '{s}' is not a URL"),
                            )
                        })?)
                    }
                    _ => None,
                };
            }
            Paginator::HeaderLink { rel, next } => {
                *next = match link_header(&resp.headers, rel) {
                    Some(s) => Some(resp.url.join(&s).map_err(|_| {
                        Error::new(
                            ErrorKind::Source,
                            format!("resource '{resource}': Link header URL '{s}' is not a URL"),
                        )
                    })?),
                    None => None,
                };
            }
            Paginator::HeaderCursor { key, cursor, .. } => {
                *cursor = resp
                    .headers
                    .get(key.as_str())
                    .and_then(|v| v.to_str().ok())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string);
            }
            Paginator::Cursor {
                path,
                stop_after_empty_page,
                has_more_path,
                cursor,
                ..
            } => {
                let mut next = path.first(body).filter(|v| !falsy(v)).cloned();
                if *stop_after_empty_page && data_len == 0 {
                    next = None;
                }
                if has_more(has_more_path, body)? == Some(false) {
                    next = None;
                }
                *cursor = next;
            }
            Paginator::Range(r) => {
                if !r.update(resource, body, data_len)? {
                    *self = Paginator::Done;
                }
            }
        }
        Ok(())
    }

    /// Whether another page should be requested.
    pub fn has_next(&self) -> bool {
        match self {
            Paginator::Auto(Some(inner)) => inner.has_next(),
            Paginator::Auto(None) => true,
            Paginator::Single | Paginator::Done => false,
            Paginator::JsonLink { next, .. } | Paginator::HeaderLink { next, .. } => next.is_some(),
            Paginator::HeaderCursor { cursor, .. } => cursor.is_some(),
            Paginator::Cursor { cursor, .. } => cursor.is_some(),
            Paginator::Range(_) => true,
        }
    }

    /// Change the request for the next page.
    pub fn update_request(&mut self, req: &mut Request) -> Result<()> {
        match self {
            Paginator::Auto(Some(inner)) => inner.update_request(req)?,
            Paginator::JsonLink { next: Some(u), .. }
            | Paginator::HeaderLink { next: Some(u), .. } => {
                req.url = u.clone();
                req.params.clear();
            }
            Paginator::HeaderCursor {
                param,
                cursor: Some(c),
                ..
            } => req.set_param(param, c.clone()),
            Paginator::Cursor {
                param,
                body_path,
                cursor: Some(c),
                ..
            } => {
                if let Some(p) = body_path {
                    p.set(
                        req.json
                            .get_or_insert_with(|| Value::Object(Default::default())),
                        c.clone(),
                    )?;
                }
                if let Some(param) = param {
                    req.set_param(param, crate::template::value_to_param(c));
                }
            }
            Paginator::Range(r) => r.place(req)?,
            _ => {}
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        match self {
            Paginator::Auto(_) => "auto",
            Paginator::Single | Paginator::Done => "single_page",
            Paginator::JsonLink { .. } => "json_link",
            Paginator::HeaderLink { .. } => "header_link",
            Paginator::HeaderCursor { .. } => "header_cursor",
            Paginator::Cursor { .. } => "cursor",
            Paginator::Range(r) if r.kind == "offset" => "offset",
            Paginator::Range(_) => "page_number",
        }
    }
}

impl Range {
    fn place(&self, req: &mut Request) -> Result<()> {
        match &self.body_path {
            Some(p) => p.set(
                req.json
                    .get_or_insert_with(|| Value::Object(Default::default())),
                Value::from(self.current),
            ),
            None => {
                req.set_param(&self.param, self.current.to_string());
                Ok(())
            }
        }
    }

    /// dlt's `RangePaginator.update_state`; false when there is no next page.
    fn update(&mut self, resource: &str, body: &Value, data_len: usize) -> Result<bool> {
        if self.stop_after_empty_page && data_len == 0 {
            return Ok(false);
        }
        let mut total = None;
        if let Some(tp) = &self.total_path {
            let v = tp.first(body).filter(|v| !v.is_null()).ok_or_else(|| {
                Error::new(
                    ErrorKind::Source,
                    format!(
                        "resource '{resource}': total is not found at '{tp}' in the response of the {} paginator \
                         (set total_path = \"\" when the API has no total)",
                        self.kind
                    ),
                )
            })?;
            let n = v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                .ok_or_else(|| {
                    Error::new(
                        ErrorKind::Source,
                        format!("resource '{resource}': total at '{tp}' is not an integer: {v}"),
                    )
                })?;
            total = Some(n);
        }
        self.current += self.step;
        if total.is_some_and(|t| self.current >= t + self.base_index)
            || self.maximum.is_some_and(|m| self.current >= m)
        {
            return Ok(false);
        }
        if has_more(&self.has_more_path, body)? == Some(false) {
            return Ok(false);
        }
        Ok(true)
    }
}

/// dlt's detection order: Link header, JSON next link, total pages, JSON cursor, single page.
fn detect(resp: &Response) -> Paginator {
    if link_header(&resp.headers, "next").is_some() {
        return Paginator::HeaderLink {
            rel: "next".into(),
            next: None,
        };
    }
    let body = &resp.body;
    let next = find_next_key(body, &mut Vec::new());
    if let Some((path, Value::String(s))) = &next
        && (s.starts_with("http") || s.starts_with('/'))
    {
        return Paginator::JsonLink {
            path: path_of(path),
            next: None,
        };
    }
    if let Some(path) = find_total_pages(body, &mut Vec::new()) {
        tracing::warn!(total_path = %path.join("."), "page_number paginator detected with low confidence; set the paginator explicitly");
        return Paginator::Range(Range {
            kind: "page",
            current: 0,
            step: 1,
            base_index: 0,
            param: "page".into(),
            body_path: None,
            limit: None,
            total_path: Some(path_of(&path)),
            maximum: None,
            stop_after_empty_page: true,
            has_more_path: None,
        });
    }
    if let Some((path, _)) = next {
        tracing::warn!(cursor_path = %path.join("."), "cursor paginator detected with low confidence; set the paginator explicitly");
        return Paginator::Cursor {
            path: path_of(&path),
            param: Some("cursor".into()),
            body_path: None,
            stop_after_empty_page: false,
            has_more_path: None,
            cursor: None,
        };
    }
    if body.is_array() {
        tracing::warn!(
            "fallback paginator used: single_page; set the paginator explicitly if the API pages"
        );
    }
    Paginator::Single
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    fn resp(body: Value, link: Option<&str>) -> Response {
        let mut headers = HeaderMap::new();
        if let Some(l) = link {
            headers.insert("link", HeaderValue::from_str(l).unwrap());
        }
        Response {
            url: "http://h/api/items?x=1".parse().unwrap(),
            headers,
            body,
            raw_items: None,
        }
    }

    #[test]
    fn link_headers_parse() {
        let r = resp(
            json!([]),
            Some("<http://h/p?page=2>; rel=\"next\", <http://h/p?page=9>; rel=\"last\""),
        );
        assert_eq!(
            link_header(&r.headers, "next").as_deref(),
            Some("http://h/p?page=2")
        );
        assert_eq!(link_header(&r.headers, "prev"), None);
    }

    #[test]
    fn body_paths_name_what_a_paginator_reads() {
        let paths = |cfg: serde_json::Value| -> Option<Vec<String>> {
            let config = crate::config::RestApiConfig::from_json(&json!({
                "client": {"base_url": "http://h/", "paginator": cfg},
                "resources": ["r"],
            }))
            .unwrap();
            let p = Paginator::new(config.client.paginator.as_ref().unwrap()).unwrap();
            p.body_paths()
                .map(|v| v.iter().map(|p| p.as_str().to_string()).collect())
        };
        assert_eq!(
            paths(json!("auto")),
            None,
            "auto-detection may read anything"
        );
        assert_eq!(paths(json!("single_page")), Some(vec![]));
        assert_eq!(paths(json!("header_link")), Some(vec![]));
        assert_eq!(
            paths(json!({"type": "json_link", "next_url_path": "links.next"})),
            Some(vec!["links.next".to_string()])
        );
        assert_eq!(
            paths(
                json!({"type": "cursor", "cursor_path": "meta.cursor", "has_more_path": "meta.more"})
            ),
            Some(vec!["meta.cursor".to_string(), "meta.more".to_string()])
        );
        assert_eq!(
            paths(json!({"type": "page_number", "total_path": "total_pages"})),
            Some(vec!["total_pages".to_string()])
        );
        // after detection, what the detected paginator reads
        let mut p = Paginator::Auto(None);
        p.update_state("r", &resp(json!({"data": [1], "total_pages": 3}), None), 1)
            .unwrap();
        let found: Vec<String> = p
            .body_paths()
            .unwrap()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect();
        assert!(found.iter().any(|p| p.contains("total_pages")), "{found:?}");
    }

    #[test]
    fn detection_order() {
        assert_eq!(
            detect(&resp(
                json!({"next": "/p?x=2"}),
                Some("<http://h/2>; rel=\"next\"")
            ))
            .name(),
            "header_link"
        );
        assert_eq!(
            detect(&resp(
                json!({"data": [], "links": {"nextPage": {"href": "http://h/2"}}}),
                None
            ))
            .name(),
            "json_link"
        );
        assert_eq!(
            detect(&resp(json!({"data": [], "total_pages": 3}), None)).name(),
            "page_number"
        );
        assert_eq!(
            detect(&resp(json!({"data": [], "next_cursor": "abc"}), None)).name(),
            "cursor"
        );
        assert_eq!(detect(&resp(json!([1, 2]), None)).name(), "single_page");
    }

    #[test]
    fn offset_stops_on_total() {
        let cfg = PaginatorConfig::Offset {
            limit: 10,
            offset: 0,
            offset_param: "offset".into(),
            offset_body_path: None,
            limit_param: "limit".into(),
            limit_body_path: None,
            total_path: Some("total".into()),
            maximum_offset: None,
            stop_after_empty_page: true,
            has_more_path: None,
        };
        let mut p = Paginator::new(&cfg).unwrap();
        let r = resp(json!({"total": 15, "items": [1]}), None);
        p.update_state("r", &r, 10).unwrap();
        assert!(p.has_next());
        p.update_state("r", &r, 5).unwrap();
        assert!(!p.has_next());
        let mut p = Paginator::new(&cfg).unwrap();
        assert!(
            p.update_state("r", &resp(json!({"items": [1]}), None), 1)
                .is_err()
        );
    }
}
