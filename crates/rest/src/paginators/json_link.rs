//! `json_link` (alias `json_response`): the next page's URL is at a path in the body.

use super::{Kind, NextLink, PageState, Paginator};
use crate::http::{Request, Response};
use crate::jsonpath::JsonPath;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Result;

/// Settings of the `json_link` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonLinkConfig {
    /// Path of the next URL (default `next`).
    pub next_url_path: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    next_url_path: Option<String>,
}

impl Kind for JsonLinkConfig {
    const TYPES: &'static [&'static str] = &["json_link", "json_response"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        Ok(JsonLinkConfig {
            next_url_path: f.next_url_path.unwrap_or_else(|| "next".into()),
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(JsonLinkState::new(JsonPath::parse(
            &self.next_url_path,
        )?)))
    }
}

/// The path of the next URL and the URL of the last response.
#[derive(Debug)]
pub(super) struct JsonLinkState {
    path: JsonPath,
    next: NextLink,
}

impl JsonLinkState {
    pub(super) fn new(path: JsonPath) -> Self {
        Self {
            path,
            next: NextLink::default(),
        }
    }
}

impl PageState for JsonLinkState {
    fn name(&self) -> &'static str {
        "json_link"
    }

    fn body_paths(&self) -> Vec<&JsonPath> {
        vec![&self.path]
    }

    fn update_state(&mut self, resource: &str, resp: &Response, _data_len: usize) -> Result<bool> {
        let link = match self.path.first(&resp.body) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        };
        self.next.set(resource, resp, link, "next link")?;
        Ok(true)
    }

    fn has_next(&self) -> bool {
        self.next.is_some()
    }

    fn update_request(&mut self, req: &mut Request) -> Result<()> {
        self.next.apply(req);
        Ok(())
    }
}
