//! Paginators, one module per kind, with dlt's `type` names and stop rules.
//!
//! A kind's module holds both halves of it: its config (a public struct read from the config
//! table, the payload of one [`PaginatorConfig`] variant) and its runtime state (made fresh for
//! every request sequence). This module holds the [`PaginatorConfig`] enum, the crate's
//! `Paginator` that drives a run (including auto-detection, `auto`), and the dispatch between
//! them.
//!
//! To add a paginator: write `my_kind.rs` with `pub struct MyKindConfig` (its settings,
//! documented), `impl Kind for MyKindConfig` (its `type` names, how its table is read, how a
//! run starts) and the state a run keeps, implementing `PageState`; then add one line
//! `MyKind(my_kind::MyKindConfig),` (with a doc comment) to the `paginator_kinds!` list below.

use crate::config::{fields, split_type};
use crate::http::{Request, Response};
use crate::jsonpath::JsonPath;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;
use sluice_core::{Error, ErrorKind, Result};
use std::fmt;

mod range;

/// One paginator kind: its `type` names, its config and how a run of it starts.
pub(crate) trait Kind: Sized {
    /// The `type` names this kind is read from; the first is the one error messages list.
    const TYPES: &'static [&'static str];
    /// Read the kind's settings: the config table without `type`; `ty` is the name it was
    /// given by (for error messages).
    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String>;
    /// A fresh paginator for one request sequence.
    fn start(&self) -> Result<Paginator>;
}

/// The runtime state of one paginator kind during a request sequence.
pub(crate) trait PageState: fmt::Debug + Send + Sync {
    /// The kind's `type` name (logged when auto-detection picks it).
    fn name(&self) -> &'static str;
    /// The paths this paginator reads in (or writes to) response and request bodies.
    fn body_paths(&self) -> Vec<&JsonPath> {
        Vec::new()
    }
    /// Prepare the first request.
    fn init_request(&mut self, _req: &mut Request) -> Result<()> {
        Ok(())
    }
    /// Read a response with `data_len` items; `false` when there is certainly no next page
    /// (the paginator is then done).
    fn update_state(&mut self, resource: &str, resp: &Response, data_len: usize) -> Result<bool>;
    /// Whether another page should be requested.
    fn has_next(&self) -> bool;
    /// Change the request for the next page.
    fn update_request(&mut self, req: &mut Request) -> Result<()>;
}

/// The next page's URL, for the kinds that follow links (`json_link`, `header_link`).
#[derive(Debug, Default)]
pub(super) struct NextLink(Option<reqwest::Url>);

impl NextLink {
    /// Follow `link` (resolved against the response's URL) next, or stop when there is none.
    /// `what` names where the link came from, for the error when it is not a URL.
    pub(super) fn set(
        &mut self,
        resource: &str,
        resp: &Response,
        link: Option<&str>,
        what: &str,
    ) -> Result<()> {
        self.0 = match link {
            Some(s) => Some(resp.url.join(s).map_err(|_| {
                Error::new(
                    ErrorKind::Source,
                    format!("resource '{resource}': {what} '{s}' is not a URL"),
                )
            })?),
            None => None,
        };
        Ok(())
    }

    /// Whether there is a next page.
    pub(super) fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// Point the request at the next page (its query is the link's own).
    pub(super) fn apply(&self, req: &mut Request) {
        if let Some(u) = &self.0 {
            req.url = u.clone();
            req.params.clear();
        }
    }
}

/// The paginator kinds, one line each: `Variant(module::Config)`. Declares the modules, makes
/// [`PaginatorConfig`] with one variant per kind, and dispatches parsing and starting a run.
macro_rules! paginator_kinds {
    ($( $(#[$doc:meta])* $variant:ident($module:ident::$config:ident), )*) => {
        $( mod $module; pub use $module::$config; )*

        /// A paginator, by dlt's `type` names (`auto` when absent).
        #[derive(Debug, Clone, PartialEq)]
        pub enum PaginatorConfig {
            $( $(#[$doc])* $variant($config), )*
        }

        impl PaginatorConfig {
            /// The first `type` name of every kind, in the order of the list.
            fn type_names() -> Vec<&'static str> {
                vec![$( <$config as Kind>::TYPES[0] ),*]
            }

            /// The kind whose `type` names include `ty`, read from `table`.
            fn parse(ty: &str, table: toml::Value) -> Option<std::result::Result<Self, String>> {
                $(
                    if <$config as Kind>::TYPES.contains(&ty) {
                        return Some(<$config as Kind>::parse(ty, table).map(Self::$variant));
                    }
                )*
                None
            }

            /// A fresh paginator of this kind for one request sequence.
            pub(crate) fn start(&self) -> Result<Paginator> {
                match self {
                    $( Self::$variant(c) => c.start(), )*
                }
            }
        }
    };
}

paginator_kinds! {
    /// Detect from the first response (dlt's order).
    Auto(auto::AutoConfig),
    /// Always one page.
    SinglePage(single_page::SinglePageConfig),
    /// Next URL at a JSONPath in the body.
    JsonLink(json_link::JsonLinkConfig),
    /// Next URL in the `Link` header.
    HeaderLink(header_link::HeaderLinkConfig),
    /// A cursor taken from a response header, sent as a query parameter.
    HeaderCursor(header_cursor::HeaderCursorConfig),
    /// A cursor taken from the body, sent as a query parameter or placed in the JSON body.
    Cursor(cursor::CursorConfig),
    /// Offset and limit.
    Offset(offset::OffsetConfig),
    /// Page numbers.
    PageNumber(page_number::PageNumberConfig),
}

impl<'de> Deserialize<'de> for PaginatorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = toml::Value::deserialize(d)?;
        let (ty, rest) = split_type(value, None).map_err(de::Error::custom)?;
        match Self::parse(&ty, rest) {
            Some(parsed) => parsed.map_err(de::Error::custom),
            None => {
                let names = Self::type_names();
                let (last, first) = names.split_last().expect("paginator kinds");
                Err(de::Error::custom(format!(
                    "unknown paginator type '{ty}': use {} or {last}",
                    first.join(", ")
                )))
            }
        }
    }
}

/// A paginator with its state for one `paginate` run.
#[derive(Debug)]
pub(crate) enum Paginator {
    /// Auto-detection: the detected paginator once the first response was seen.
    Auto(Option<Box<Paginator>>),
    /// A paginator of a known kind.
    Running(Box<dyn PageState>),
    /// Set once a paginator has said there is no next page.
    Done,
}

impl Paginator {
    /// A fresh paginator for `cfg`; errors when a path of the config does not parse.
    pub fn new(cfg: &PaginatorConfig) -> Result<Self> {
        cfg.start()
    }

    /// A running paginator of a kind.
    pub(crate) fn running(state: impl PageState + 'static) -> Self {
        Paginator::Running(Box::new(state))
    }

    /// The paths this paginator reads in (or writes to) response and request bodies; `None`
    /// while auto-detection has not seen a response yet (it may read anything).
    pub fn body_paths(&self) -> Option<Vec<&JsonPath>> {
        match self {
            Paginator::Auto(None) => None,
            Paginator::Auto(Some(p)) => p.body_paths(),
            Paginator::Done => Some(Vec::new()),
            Paginator::Running(s) => Some(s.body_paths()),
        }
    }

    /// Prepare the first request.
    pub fn init_request(&mut self, req: &mut Request) -> Result<()> {
        match self {
            Paginator::Running(s) => s.init_request(req),
            Paginator::Auto(_) | Paginator::Done => Ok(()),
        }
    }

    /// Read the response; afterwards [`Paginator::has_next`] says whether to go on.
    pub fn update_state(&mut self, resource: &str, resp: &Response, data_len: usize) -> Result<()> {
        match self {
            Paginator::Auto(inner) => {
                if inner.is_none() {
                    let detected = auto::detect(resp);
                    tracing::info!(resource, paginator = detected.name(), "paginator detected");
                    *inner = Some(Box::new(detected));
                }
                inner
                    .as_mut()
                    .expect("set")
                    .update_state(resource, resp, data_len)?;
            }
            Paginator::Done => {}
            Paginator::Running(s) => {
                if !s.update_state(resource, resp, data_len)? {
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
            Paginator::Done => false,
            Paginator::Running(s) => s.has_next(),
        }
    }

    /// Change the request for the next page.
    pub fn update_request(&mut self, req: &mut Request) -> Result<()> {
        match self {
            Paginator::Auto(Some(inner)) => inner.update_request(req),
            Paginator::Auto(None) | Paginator::Done => Ok(()),
            Paginator::Running(s) => s.update_request(req),
        }
    }

    /// The `type` name of this paginator.
    fn name(&self) -> &'static str {
        match self {
            Paginator::Auto(_) => "auto",
            Paginator::Done => "single_page",
            Paginator::Running(s) => s.name(),
        }
    }
}

/// An optional path of a config.
fn opt_path(p: &Option<String>) -> Result<Option<JsonPath>> {
    p.as_deref().map(JsonPath::parse).transpose()
}

/// `total_path` of the range paginators: `total` when absent, none when `""`.
fn total_path(p: Option<String>) -> Option<String> {
    match p {
        None => Some("total".into()),
        Some(s) if s.is_empty() => None,
        Some(s) => Some(s),
    }
}

/// Set `value` at `path` in the request's JSON body (created when absent).
fn set_in_body(req: &mut Request, path: &JsonPath, value: Value) -> Result<()> {
    path.set(
        req.json
            .get_or_insert_with(|| Value::Object(Default::default())),
        value,
    )
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

/// The boolean at `has_more_path` in the body, when the paginator has one.
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use serde_json::json;

    pub(super) fn resp(body: Value, link: Option<&str>) -> Response {
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
}
