//! `offset`: offset and limit, sent as query parameters or placed in the JSON body.

use super::range::RangeState;
use super::{Kind, Paginator, opt_path, total_path};
use serde::Deserialize;
use sluice_core::Result;

/// Settings of the `offset` paginator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetConfig {
    /// Page size (required).
    pub limit: i64,
    /// First offset (default 0).
    pub offset: i64,
    /// Query parameter of the offset (default `offset`).
    pub offset_param: String,
    /// Dot path of the offset in the JSON request body (instead of the parameter).
    pub offset_body_path: Option<String>,
    /// Query parameter of the limit (default `limit`).
    pub limit_param: String,
    /// Dot path of the limit in the JSON request body.
    pub limit_body_path: Option<String>,
    /// Path of the total count (default `total`; `""` disables).
    pub total_path: Option<String>,
    /// Stop at this offset.
    pub maximum_offset: Option<i64>,
    /// Stop on an empty page (default true).
    pub stop_after_empty_page: bool,
    /// Path of a boolean saying whether more pages exist.
    pub has_more_path: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fields {
    limit: Option<i64>,
    #[serde(default)]
    offset: i64,
    #[serde(default)]
    offset_param: Option<String>,
    #[serde(default)]
    offset_body_path: Option<String>,
    #[serde(default)]
    limit_param: Option<String>,
    #[serde(default)]
    limit_body_path: Option<String>,
    #[serde(default)]
    total_path: Option<String>,
    #[serde(default)]
    maximum_offset: Option<i64>,
    #[serde(default)]
    stop_after_empty_page: Option<bool>,
    #[serde(default)]
    has_more_path: Option<String>,
}

impl Kind for OffsetConfig {
    const TYPES: &'static [&'static str] = &["offset"];

    fn parse(ty: &str, table: toml::Value) -> std::result::Result<Self, String> {
        let f: Fields = super::fields(ty, table)?;
        let limit = f
            .limit
            .ok_or_else(|| "the offset paginator needs 'limit'".to_string())?;
        if limit <= 0 {
            return Err("'limit' must be positive".into());
        }
        Ok(OffsetConfig {
            limit,
            offset: f.offset,
            offset_param: f.offset_param.unwrap_or_else(|| "offset".into()),
            offset_body_path: f.offset_body_path,
            limit_param: f.limit_param.unwrap_or_else(|| "limit".into()),
            limit_body_path: f.limit_body_path,
            total_path: total_path(f.total_path),
            maximum_offset: f.maximum_offset,
            stop_after_empty_page: f.stop_after_empty_page.unwrap_or(true),
            has_more_path: f.has_more_path,
        })
    }

    fn start(&self) -> Result<Paginator> {
        Ok(Paginator::running(RangeState {
            kind: "offset",
            current: self.offset,
            step: self.limit,
            base_index: 0,
            param: self.offset_param.clone(),
            body_path: opt_path(&self.offset_body_path)?,
            limit: Some((
                self.limit_param.clone(),
                opt_path(&self.limit_body_path)?,
                self.limit,
            )),
            total_path: opt_path(&self.total_path)?,
            maximum: self.maximum_offset,
            stop_after_empty_page: self.stop_after_empty_page,
            has_more_path: opt_path(&self.has_more_path)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paginators::PaginatorConfig;
    use crate::paginators::tests::resp;
    use serde_json::json;

    #[test]
    fn offset_stops_on_total() {
        let cfg = PaginatorConfig::Offset(OffsetConfig {
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
        });
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
