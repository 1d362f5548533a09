//! `header_cursor`: a cursor taken from a response header, sent as a query parameter.

use super::{Kind, PageState, Paginator};
use crate::http::{Request, Response};
use serde::Deserialize;
use sluice_core::Result;

/// Settings of the `header_cursor` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderCursorConfig {
    /// Response header holding the cursor (default `next`).
    pub cursor_key: String,
    /// Query parameter (default `cursor`).
    pub cursor_param: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    cursor_key: Option<String>,
    #[serde(default)]
    cursor_param: Option<String>,
}

impl Kind for HeaderCursorConfig {
    const TYPES: &'static [&'static str] = &["header_cursor"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        Ok(HeaderCursorConfig {
            cursor_key: f.cursor_key.unwrap_or_else(|| "next".into()),
            cursor_param: f.cursor_param.unwrap_or_else(|| "cursor".into()),
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(HeaderCursorState {
            key: self.cursor_key.clone(),
            param: self.cursor_param.clone(),
            cursor: None,
        }))
    }
}

/// The header and parameter names and the cursor of the last response.
#[derive(Debug)]
struct HeaderCursorState {
    key: String,
    param: String,
    cursor: Option<String>,
}

impl PageState for HeaderCursorState {
    fn name(&self) -> &'static str {
        "header_cursor"
    }

    fn update_state(&mut self, _resource: &str, resp: &Response, _data_len: usize) -> Result<bool> {
        self.cursor = resp
            .headers
            .get(self.key.as_str())
            .and_then(|v| v.to_str().ok())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(true)
    }

    fn has_next(&self) -> bool {
        self.cursor.is_some()
    }

    fn update_request(&mut self, req: &mut Request) -> Result<()> {
        if let Some(c) = &self.cursor {
            req.set_param(&self.param, c.clone());
        }
        Ok(())
    }
}
