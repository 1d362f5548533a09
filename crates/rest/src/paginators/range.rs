//! The runtime state shared by the `offset` and `page_number` paginators (dlt's
//! `RangePaginator`).

use super::{PageState, has_more, set_in_body};
use crate::http::{Request, Response};
use crate::jsonpath::JsonPath;
use serde_json::Value;
use sluice_core::{Error, ErrorKind, Result};

/// Offset and page-number paginators (dlt's `RangePaginator`).
#[derive(Debug)]
pub(super) struct RangeState {
    /// `offset` or `page` (for messages and the paginator's name).
    pub(super) kind: &'static str,
    pub(super) current: i64,
    pub(super) step: i64,
    pub(super) base_index: i64,
    pub(super) param: String,
    pub(super) body_path: Option<JsonPath>,
    /// The limit's parameter, body path and value (offset paginators).
    pub(super) limit: Option<(String, Option<JsonPath>, i64)>,
    pub(super) total_path: Option<JsonPath>,
    pub(super) maximum: Option<i64>,
    pub(super) stop_after_empty_page: bool,
    pub(super) has_more_path: Option<JsonPath>,
}

impl RangeState {
    fn place(&self, req: &mut Request) -> Result<()> {
        match &self.body_path {
            Some(p) => set_in_body(req, p, Value::from(self.current)),
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

impl PageState for RangeState {
    fn name(&self) -> &'static str {
        if self.kind == "offset" {
            "offset"
        } else {
            "page_number"
        }
    }

    fn body_paths(&self) -> Vec<&JsonPath> {
        self.body_path
            .iter()
            .chain(self.limit.as_ref().and_then(|(_, p, _)| p.as_ref()))
            .chain(&self.total_path)
            .chain(&self.has_more_path)
            .collect()
    }

    fn init_request(&mut self, req: &mut Request) -> Result<()> {
        self.place(req)?;
        if let Some((param, body_path, limit)) = &self.limit {
            match body_path {
                Some(p) => set_in_body(req, p, Value::from(*limit))?,
                None => req.set_param(param, limit.to_string()),
            }
        }
        Ok(())
    }

    fn update_state(&mut self, resource: &str, resp: &Response, data_len: usize) -> Result<bool> {
        self.update(resource, &resp.body, data_len)
    }

    fn has_next(&self) -> bool {
        true
    }

    fn update_request(&mut self, req: &mut Request) -> Result<()> {
        self.place(req)
    }
}
