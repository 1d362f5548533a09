//! `single_page`: one request, no pagination.

use super::{Kind, PageState, Paginator};
use crate::http::{Request, Response};
use serde::Deserialize;
use sluice_core::Result;

/// Settings of the `single_page` paginator (none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinglePageConfig;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoFields {}

impl Kind for SinglePageConfig {
    const TYPES: &'static [&'static str] = &["single_page"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        super::fields::<NoFields>(ty, table)?;
        Ok(SinglePageConfig)
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(SinglePageState))
    }
}

/// A single page: done after the first response.
#[derive(Debug)]
pub(super) struct SinglePageState;

impl PageState for SinglePageState {
    fn name(&self) -> &'static str {
        "single_page"
    }

    fn update_state(
        &mut self,
        _resource: &str,
        _resp: &Response,
        _data_len: usize,
    ) -> Result<bool> {
        Ok(false)
    }

    fn has_next(&self) -> bool {
        false
    }

    fn update_request(&mut self, _req: &mut Request) -> Result<()> {
        Ok(())
    }
}
