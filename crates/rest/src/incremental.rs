//! Incremental loading: filter rows on a cursor, track the last value, deduplicate rows at the
//! start value with a **bounded** set of boundary keys.

use crate::config::{IncrementalConfig, LastValueFunc, OnCursorMissing, RangeBound};
use crate::jsonpath::JsonPath;
use crate::template::IncrementalValues;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_core::{Error, ErrorKind, Result};
use std::cmp::Ordering;
use std::collections::HashSet;

/// The incremental cursor of one resource, shared by all its requests.
#[derive(Debug)]
pub(crate) struct Incremental {
    resource: String,
    cursor_key: String,
    cursor_path: JsonPath,
    initial_value: Option<Value>,
    end_value: Option<Value>,
    start_value: Option<Value>,
    func: LastValueFunc,
    range_start_open: bool,
    range_end_closed: bool,
    on_missing: OnCursorMissing,
    /// Key columns of the dedup hash; `None` hashes the whole row.
    key: Option<Vec<String>>,
    dedup: bool,
    /// Keys of rows at the start value seen by earlier runs.
    previous_keys: HashSet<String>,
    cap: usize,
    last_value: Option<Value>,
    boundary: Vec<String>,
    boundary_set: HashSet<String>,
    overflow_warned: bool,
    /// The stored entry read at start, to tell whether anything changed.
    stored: Option<Value>,
}

/// Compare two cursor values: numbers numerically, RFC 3339 timestamps as instants, other
/// strings as text.
pub(crate) fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                Some(x.cmp(&y))
            } else {
                x.as_f64()?.partial_cmp(&y.as_f64()?)
            }
        }
        (Value::String(x), Value::String(y)) => {
            if let (Ok(dx), Ok(dy)) = (
                chrono::DateTime::parse_from_rfc3339(x),
                chrono::DateTime::parse_from_rfc3339(y),
            ) {
                Some(dx.cmp(&dy))
            } else {
                Some(x.cmp(y))
            }
        }
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// JSON with object keys sorted, for stable hashes.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), canonical(&o[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn digest(v: &Value) -> String {
    let json = serde_json::to_string(&canonical(v)).expect("JSON serializes");
    let d = Sha256::digest(json.as_bytes());
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(&d[..16])
}

impl Incremental {
    /// Bind to the stored state of the resource (`state.resources.<res>.incremental.<cursor>`).
    pub fn new(
        resource: &str,
        cfg: &IncrementalConfig,
        resource_primary_key: &[String],
        source_state: &Value,
        cap: usize,
    ) -> Result<Self> {
        let cursor_path = JsonPath::parse(&cfg.cursor_path)?;
        let stored = source_state
            .get("resources")
            .and_then(|r| r.get(resource))
            .and_then(|r| r.get("incremental"))
            .and_then(|r| r.get(&cfg.cursor_path))
            .cloned();
        let initial_value = cfg.initial_value.as_ref().map(|v| v.0.clone());
        let end_value = cfg.end_value.as_ref().map(|v| v.0.clone());
        let stored_last = stored
            .as_ref()
            .and_then(|s| s.get("last_value"))
            .filter(|v| !v.is_null())
            .cloned();
        let previous_keys: HashSet<String> = stored
            .as_ref()
            .and_then(|s| s.get("boundary_keys").or_else(|| s.get("unique_hashes")))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .take(cap)
                    .collect()
            })
            .unwrap_or_default();
        // With an end value the run is a backfill of a fixed range: the stored state is not used.
        let start_value = if end_value.is_some() {
            initial_value.clone()
        } else {
            stored_last.clone().or_else(|| initial_value.clone())
        };
        let previous_keys = if stored_last.is_some() && end_value.is_none() {
            previous_keys
        } else {
            HashSet::new()
        };
        let key = match &cfg.primary_key {
            Some(k) => Some(k.0.clone()),
            None if !resource_primary_key.is_empty() => Some(resource_primary_key.to_vec()),
            None => None,
        };
        let range_start_open = cfg.range_start == Some(RangeBound::Open);
        let dedup =
            !range_start_open && end_value.is_none() && key.as_ref().is_none_or(|k| !k.is_empty());
        let mut boundary: Vec<String> = previous_keys.iter().cloned().collect();
        boundary.sort();
        Ok(Self {
            resource: resource.to_string(),
            cursor_key: cfg.cursor_path.clone(),
            cursor_path,
            initial_value,
            end_value,
            last_value: start_value.clone(),
            start_value,
            func: cfg.last_value_func,
            range_start_open,
            range_end_closed: cfg.range_end == Some(RangeBound::Closed),
            on_missing: cfg.on_cursor_value_missing,
            key,
            dedup,
            boundary_set: previous_keys.clone(),
            boundary,
            previous_keys,
            cap,
            overflow_warned: false,
            stored,
        })
    }

    /// The values `{incremental.*}` placeholders resolve to.
    pub fn values(&self) -> IncrementalValues {
        IncrementalValues {
            start_value: self.start_value.clone(),
            initial_value: self.initial_value.clone(),
            last_value: self.start_value.clone(),
            end_value: self.end_value.clone(),
        }
    }

    /// Order of `a` relative to `b` in the direction of `last_value_func` (`Greater` = further).
    fn order(&self, a: &Value, b: &Value) -> Result<Ordering> {
        let o = compare(a, b).ok_or_else(|| {
            Error::new(
                ErrorKind::Source,
                format!(
                    "resource '{}': cursor '{}' values {a} and {b} cannot be compared",
                    self.resource, self.cursor_key
                ),
            )
        })?;
        Ok(match self.func {
            LastValueFunc::Max => o,
            LastValueFunc::Min => o.reverse(),
        })
    }

    fn row_key(&self, row: &Value) -> String {
        match &self.key {
            Some(cols) => {
                let vals: Vec<Value> = cols
                    .iter()
                    .map(|c| row.get(c).cloned().unwrap_or(Value::Null))
                    .collect();
                digest(&Value::Array(vals))
            }
            None => digest(row),
        }
    }

    fn remember(&mut self, key: String) {
        if self.boundary_set.contains(&key) {
            return;
        }
        if self.boundary.len() >= self.cap {
            if !self.overflow_warned {
                self.overflow_warned = true;
                tracing::warn!(
                    resource = %self.resource,
                    cursor = %self.cursor_key,
                    cap = self.cap,
                    "more rows share the last cursor value than boundary keys are kept; \
                     rows past the cap may load again on the next run"
                );
            }
            return;
        }
        self.boundary_set.insert(key.clone());
        self.boundary.push(key);
    }

    /// Drop rows outside the range and rows already loaded at the start value; advance the
    /// last value.
    pub fn filter(&mut self, items: Vec<Value>) -> Result<Vec<Value>> {
        let mut out = Vec::with_capacity(items.len());
        for row in items {
            let cursor = self
                .cursor_path
                .first(&row)
                .filter(|v| !v.is_null())
                .cloned();
            let Some(cursor) = cursor else {
                match self.on_missing {
                    OnCursorMissing::Raise => {
                        return Err(Error::new(
                            ErrorKind::Source,
                            format!(
                                "resource '{}': a row has no value at cursor path '{}' \
                                 (set on_cursor_value_missing = \"include\" or \"exclude\")",
                                self.resource, self.cursor_key
                            ),
                        ));
                    }
                    OnCursorMissing::Include => out.push(row),
                    OnCursorMissing::Exclude => {}
                }
                continue;
            };
            if let Some(start) = self.start_value.clone() {
                match self.order(&cursor, &start)? {
                    Ordering::Less => continue,
                    Ordering::Equal => {
                        if self.range_start_open {
                            continue;
                        }
                        if self.dedup
                            && !self.previous_keys.is_empty()
                            && self.previous_keys.contains(&self.row_key(&row))
                        {
                            continue;
                        }
                    }
                    Ordering::Greater => {}
                }
            }
            if let Some(end) = self.end_value.clone() {
                match self.order(&cursor, &end)? {
                    Ordering::Greater => continue,
                    Ordering::Equal if !self.range_end_closed => continue,
                    _ => {}
                }
            }
            match self.last_value.clone() {
                None => {
                    self.last_value = Some(cursor);
                    if self.dedup {
                        self.remember(self.row_key(&row));
                    }
                }
                Some(last) => match self.order(&cursor, &last)? {
                    Ordering::Greater => {
                        self.last_value = Some(cursor);
                        self.boundary.clear();
                        self.boundary_set.clear();
                        self.overflow_warned = false;
                        if self.dedup {
                            self.remember(self.row_key(&row));
                        }
                    }
                    Ordering::Equal => {
                        if self.dedup {
                            self.remember(self.row_key(&row));
                        }
                    }
                    Ordering::Less => {}
                },
            }
            out.push(row);
        }
        Ok(out)
    }

    /// Number of boundary keys held.
    #[cfg(test)]
    pub fn boundary_len(&self) -> usize {
        self.boundary.len()
    }

    /// The cursor key (the state key under `incremental`).
    pub fn cursor_key(&self) -> &str {
        &self.cursor_key
    }

    /// The state entry to store, or `None` when it is not stored (an end value is set) or
    /// did not change.
    pub fn state_entry(&self) -> Option<Value> {
        if self.end_value.is_some() {
            return None;
        }
        let last = self.last_value.clone()?;
        let entry = serde_json::json!({
            "initial_value": self.initial_value.clone().unwrap_or(Value::Null),
            "last_value": last,
            "boundary_keys": self.boundary,
        });
        if self.stored.as_ref() == Some(&entry) {
            return None;
        }
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JsonValue;
    use serde_json::json;

    fn cfg() -> IncrementalConfig {
        IncrementalConfig {
            cursor_path: "updated_at".into(),
            initial_value: Some(JsonValue(json!(10))),
            end_value: None,
            start_param: None,
            end_param: None,
            last_value_func: LastValueFunc::Max,
            primary_key: None,
            range_start: None,
            range_end: None,
            on_cursor_value_missing: OnCursorMissing::Raise,
        }
    }

    #[test]
    fn filters_and_dedups_at_boundary() {
        let pk = vec!["id".to_string()];
        let mut inc = Incremental::new("r", &cfg(), &pk, &Value::Null, 1000).unwrap();
        let rows = vec![
            json!({"id": 1, "updated_at": 5}),
            json!({"id": 2, "updated_at": 10}),
            json!({"id": 3, "updated_at": 12}),
            json!({"id": 4, "updated_at": 12}),
        ];
        let kept = inc.filter(rows).unwrap();
        assert_eq!(kept.len(), 3);
        let entry = inc.state_entry().unwrap();
        assert_eq!(entry["last_value"], json!(12));
        assert_eq!(entry["boundary_keys"].as_array().unwrap().len(), 2);
        let state = json!({"resources": {"r": {"incremental": {"updated_at": entry}}}});
        let mut inc = Incremental::new("r", &cfg(), &pk, &state, 1000).unwrap();
        let kept = inc
            .filter(vec![
                json!({"id": 3, "updated_at": 12}),
                json!({"id": 5, "updated_at": 12}),
                json!({"id": 6, "updated_at": 13}),
            ])
            .unwrap();
        assert_eq!(
            kept.iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            vec![5, 6]
        );
    }

    #[test]
    fn boundary_keys_are_bounded() {
        let mut inc = Incremental::new("r", &cfg(), &["id".to_string()], &Value::Null, 50).unwrap();
        let rows: Vec<Value> = (0..500)
            .map(|i| json!({"id": i, "updated_at": 20}))
            .collect();
        assert_eq!(inc.filter(rows).unwrap().len(), 500);
        assert_eq!(inc.boundary_len(), 50);
    }

    #[test]
    fn compares_timestamps_and_numbers() {
        assert_eq!(
            compare(
                &json!("2024-01-01T00:00:00Z"),
                &json!("2024-01-01T01:00:00+02:00")
            ),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&json!(2), &json!(10)), Some(Ordering::Less));
        assert_eq!(compare(&json!(2), &json!("a")), None);
    }
}
