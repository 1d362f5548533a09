//! `page_number`: page numbers, sent as a query parameter or placed in the JSON body.

use super::range::RangeState;
use super::{Kind, Paginator, opt_path, total_path};
use serde::Deserialize;
use sluice_core::Result;

/// Settings of the `page_number` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageNumberConfig {
    /// Number of the first page (default 0).
    pub base_page: i64,
    /// First page to request (default `base_page`).
    pub page: Option<i64>,
    /// Query parameter (default `page`).
    pub page_param: String,
    /// Dot path in the JSON request body (instead of the parameter).
    pub page_body_path: Option<String>,
    /// Path of the total page count (default `total`; `""` disables).
    pub total_path: Option<String>,
    /// Stop at this page.
    pub maximum_page: Option<i64>,
    /// Stop on an empty page (default true).
    pub stop_after_empty_page: bool,
    /// Path of a boolean saying whether more pages exist.
    pub has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    #[serde(default)]
    base_page: i64,
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    page_param: Option<String>,
    #[serde(default)]
    page_body_path: Option<String>,
    #[serde(default)]
    total_path: Option<String>,
    #[serde(default)]
    maximum_page: Option<i64>,
    #[serde(default)]
    stop_after_empty_page: Option<bool>,
    #[serde(default)]
    has_more_path: Option<String>,
}

impl Kind for PageNumberConfig {
    const TYPES: &'static [&'static str] = &["page_number"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        Ok(PageNumberConfig {
            base_page: f.base_page,
            page: f.page,
            page_param: f.page_param.unwrap_or_else(|| "page".into()),
            page_body_path: f.page_body_path,
            total_path: total_path(f.total_path),
            maximum_page: f.maximum_page,
            stop_after_empty_page: f.stop_after_empty_page.unwrap_or(true),
            has_more_path: f.has_more_path,
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(RangeState {
            kind: "page",
            current: self.page.unwrap_or(self.base_page),
            step: 1,
            base_index: self.base_page,
            param: self.page_param.clone(),
            body_path: opt_path(&self.page_body_path)?,
            limit: None,
            total_path: opt_path(&self.total_path)?,
            maximum: self.maximum_page,
            stop_after_empty_page: self.stop_after_empty_page,
            has_more_path: opt_path(&self.has_more_path)?,
        }))
    }
}
