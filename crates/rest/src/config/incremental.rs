//! The incremental cursor of an endpoint.

use super::{JsonValue, KeyList};
use serde::Deserialize;

/// `min` or `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LastValueFunc {
    /// Keep the largest cursor value.
    #[default]
    Max,
    /// Keep the smallest cursor value.
    Min,
}

/// Whether a range end is included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RangeBound {
    /// Excluded.
    Open,
    /// Included.
    Closed,
}

/// What to do with rows whose cursor is missing or null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnCursorMissing {
    /// Fail the resource.
    #[default]
    Raise,
    /// Keep the row.
    Include,
    /// Drop the row.
    Exclude,
}

/// Incremental loading on a cursor field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalConfig {
    /// JSONPath of the cursor in each row.
    pub cursor_path: String,
    /// Start value of the first run.
    #[serde(default)]
    pub initial_value: Option<JsonValue>,
    /// Upper bound (exclusive by default); with it, state is not stored.
    #[serde(default)]
    pub end_value: Option<JsonValue>,
    /// Deprecated: query parameter that receives the start value.
    #[serde(default)]
    pub start_param: Option<String>,
    /// Deprecated: query parameter that receives the end value.
    #[serde(default)]
    pub end_param: Option<String>,
    /// `max` (default) or `min`.
    #[serde(default)]
    pub last_value_func: LastValueFunc,
    /// Key used to deduplicate rows at the boundary (default: the resource's primary key).
    #[serde(default)]
    pub primary_key: Option<KeyList>,
    /// Whether rows equal to the start value are kept (closed, default) or dropped (open).
    #[serde(default)]
    pub range_start: Option<RangeBound>,
    /// Whether rows equal to the end value are kept (closed) or dropped (open, default).
    #[serde(default)]
    pub range_end: Option<RangeBound>,
    /// Rows without a cursor value: raise (default), include or exclude.
    #[serde(default)]
    pub on_cursor_value_missing: OnCursorMissing,
}

impl IncrementalConfig {
    /// Read an incremental table given as a TOML value (the legacy `{type = "incremental"}`
    /// param form); the error is the bare message.
    pub(crate) fn deserialize_toml(t: toml::Value) -> std::result::Result<Self, String> {
        serde::Deserialize::deserialize(t).map_err(|e: toml::de::Error| e.message().to_string())
    }
}
