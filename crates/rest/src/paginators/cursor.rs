//! `cursor`: a cursor taken from the body, sent as a query parameter or placed in the JSON
//! body of the next request.

use super::{Kind, PageState, Paginator, has_more, opt_path, set_in_body};
use crate::http::{Request, Response};
use crate::jsonpath::JsonPath;
use serde::Deserialize;
use serde_json::Value;
use sluice_core::Result;

/// Settings of the `cursor` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorConfig {
    /// Path of the cursor in the response (default `cursors.next`).
    pub cursor_path: String,
    /// Query parameter (default `cursor` when `cursor_body_path` is unset).
    pub cursor_param: Option<String>,
    /// Dot path in the JSON request body.
    pub cursor_body_path: Option<String>,
    /// Stop on an empty page.
    pub stop_after_empty_page: bool,
    /// Path of a boolean saying whether more pages exist.
    pub has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    cursor_path: Option<String>,
    #[serde(default)]
    cursor_param: Option<String>,
    #[serde(default)]
    cursor_body_path: Option<String>,
    #[serde(default)]
    stop_after_empty_page: bool,
    #[serde(default)]
    has_more_path: Option<String>,
}

impl Kind for CursorConfig {
    const TYPES: &'static [&'static str] = &["cursor"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        let cursor_param = match (&f.cursor_param, &f.cursor_body_path) {
            (Some(p), _) => Some(p.clone()),
            (None, None) => Some("cursor".into()),
            (None, Some(_)) => None,
        };
        Ok(CursorConfig {
            cursor_path: f.cursor_path.unwrap_or_else(|| "cursors.next".into()),
            cursor_param,
            cursor_body_path: f.cursor_body_path,
            stop_after_empty_page: f.stop_after_empty_page,
            has_more_path: f.has_more_path,
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(CursorState {
            path: JsonPath::parse(&self.cursor_path)?,
            param: self.cursor_param.clone(),
            body_path: opt_path(&self.cursor_body_path)?,
            stop_after_empty_page: self.stop_after_empty_page,
            has_more_path: opt_path(&self.has_more_path)?,
            cursor: None,
        }))
    }
}

/// Where the cursor is read and sent, and the cursor of the last response.
#[derive(Debug)]
pub(super) struct CursorState {
    pub(super) path: JsonPath,
    pub(super) param: Option<String>,
    pub(super) body_path: Option<JsonPath>,
    pub(super) stop_after_empty_page: bool,
    pub(super) has_more_path: Option<JsonPath>,
    pub(super) cursor: Option<Value>,
}

/// Whether a cursor value means "no next page" (Python's falsy values).
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

impl PageState for CursorState {
    fn name(&self) -> &'static str {
        "cursor"
    }

    fn body_paths(&self) -> Vec<&JsonPath> {
        std::iter::once(&self.path)
            .chain(&self.body_path)
            .chain(&self.has_more_path)
            .collect()
    }

    fn update_state(&mut self, _resource: &str, resp: &Response, data_len: usize) -> Result<bool> {
        let body = &resp.body;
        let mut next = self.path.first(body).filter(|v| !falsy(v)).cloned();
        if self.stop_after_empty_page && data_len == 0 {
            next = None;
        }
        if has_more(&self.has_more_path, body)? == Some(false) {
            next = None;
        }
        self.cursor = next;
        Ok(true)
    }

    fn has_next(&self) -> bool {
        self.cursor.is_some()
    }

    fn update_request(&mut self, req: &mut Request) -> Result<()> {
        if let Some(c) = &self.cursor {
            if let Some(p) = &self.body_path {
                set_in_body(req, p, c.clone())?;
            }
            if let Some(param) = &self.param {
                req.set_param(param, crate::template::value_to_param(c));
            }
        }
        Ok(())
    }
}
