//! The `scd2` merge strategy's part in normalizing, as dlt's: the root table gets its validity
//! columns (timestamps, nullable; they stay empty in the load files and are filled when the
//! load merges) and a row version column, and, unless the resource names its own row version
//! column, a root row's `_dlt_id` is a hash of the whole item, so the same content gets the
//! same `_dlt_id` (and its nested rows the same `_dlt_id`s) in every load.

use serde_json::{Map, Value};
use sluice_core::schema::{C_DLT_ID, DEFAULT_VALIDITY_COLUMN_NAMES, Scd2Settings};
use sluice_core::{Column, DataType, Error, NamingConvention, Result, Table};

use crate::state::Content;

/// Put the scd2 hints of a resource on its root table: the validity columns (with the active
/// record timestamp on the valid-to column), the row version column (not null, neither unique
/// nor a row key: a version that comes back after it was retired repeats its hash) and the
/// boundary timestamp. Hints left out are cleared, as dlt re-applies them on every run.
pub(crate) fn apply_hints(
    table: &mut Table,
    settings: &Scd2Settings,
    naming: &NamingConvention,
    declared_path: impl Fn(&str) -> Vec<String>,
) -> Result<()> {
    let [from, to] = match &settings.validity_column_names {
        Some([f, t]) => [f.as_str(), t.as_str()],
        None => DEFAULT_VALIDITY_COLUMN_NAMES,
    }
    .map(|n| naming.normalize_identifier(n));
    if from == to {
        return Err(Error::config(format!(
            "table `{}`: validity_column_names must name two different columns, not `{from}` twice",
            table.name
        )));
    }
    for c in table.columns.values_mut() {
        c.valid_from &= c.name == from;
        c.valid_to &= c.name == to;
    }
    for (name, is_from) in [(&from, true), (&to, false)] {
        let col = table.columns.entry(name.clone()).or_insert_with(|| {
            let mut c = Column::new(name.clone(), DataType::Timestamp);
            c.source_path = Some(vec![name.clone()]);
            c
        });
        if col.data_type.is_some_and(|t| t != DataType::Timestamp) {
            return Err(Error::schema(format!(
                "table `{}`: column `{name}` cannot be an scd2 validity column: it holds {} \
                 values; name other columns in validity_column_names",
                table.name,
                col.data_type.map(|t| t.as_str()).unwrap_or_default()
            )));
        }
        col.data_type = Some(DataType::Timestamp);
        col.nullable = true;
        if is_from {
            col.valid_from = true;
        } else {
            col.valid_to = true;
            col.active_record_timestamp = settings.active_record_timestamp.clone();
        }
    }
    let version = settings
        .row_version_column_name
        .as_deref()
        .map(|n| naming.normalize_identifier(n))
        .unwrap_or_else(|| C_DLT_ID.to_string());
    for c in table.columns.values_mut() {
        c.row_version &= c.name == version;
    }
    let col = table.columns.entry(version.clone()).or_insert_with(|| {
        let mut c = Column::new(version.clone(), DataType::Text);
        c.data_type = None;
        if version != C_DLT_ID {
            c.source_path = Some(declared_path(
                settings.row_version_column_name.as_deref().unwrap_or(""),
            ));
        }
        c
    });
    col.row_version = true;
    col.nullable = false;
    col.unique = false;
    col.row_key = false;
    table.boundary_timestamp = settings.boundary_timestamp.clone();
    Ok(())
}

/// dlt's row hash of a root item: the item (a scalar item as `{"value": …}`) without its
/// top-level keys starting with `_dlt`, as compact JSON with keys sorted at every level,
/// hashed with `digest128(…, 10)`.
pub(crate) fn row_hash(content: &Content<'_>) -> String {
    let mut out = String::new();
    match content {
        Content::Obj(m) => write_object(&mut out, m, true),
        Content::One(key, v) => {
            out.push('{');
            write_string(&mut out, key);
            out.push(':');
            write_value(&mut out, v);
            out.push('}');
        }
    }
    sluice_core::naming::digest128(&out, 10)
}

fn write_object(out: &mut String, m: &Map<String, Value>, top: bool) {
    let mut keys: Vec<&String> = m
        .keys()
        .filter(|k| !(top && k.starts_with("_dlt")))
        .collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, &m[k]);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => write_object(out, m, false),
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, v);
            }
            out.push(']');
        }
        Value::String(s) => write_string(out, s),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push_str(&Value::String(s.to_string()).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(v: Value) -> String {
        match &v {
            Value::Object(m) => row_hash(&Content::Obj(m)),
            other => row_hash(&Content::One("value", other)),
        }
    }

    /// The hashes dlt's own scd2 tests pin (tests/load/pipeline/test_scd2.py): the same items
    /// get the same `_dlt_id` in sluice as in dlt.
    #[test]
    fn row_hashes_match_dlt() {
        use serde_json::json;
        assert_eq!(
            hash(json!({"nk": 1, "c1": "foo", "c2": {"nc1": "foo"}})),
            "OTPbGyxWlJzmpA"
        );
        assert_eq!(
            hash(json!({"nk": 2, "c1": "bar", "c2": {"nc1": "bar"}})),
            "S41QIpRa9Fwh0w"
        );
        assert_eq!(
            hash(json!({"c2": {"nc1": "foo_🚀updated"}, "nk": 1, "c1": "foo"})),
            "Z/zzrOzuLRhhWw"
        );
        // Top-level `_dlt…` keys do not count; nested ones do.
        assert_eq!(
            hash(json!({"nk": 2, "_dlt_load_id": "x", "c1": "bar", "c2": {"nc1": "bar"}})),
            "S41QIpRa9Fwh0w"
        );
        assert_ne!(
            hash(json!({"nk": 2, "c1": "bar", "c2": {"nc1": "bar", "_dlt_x": 1}})),
            "S41QIpRa9Fwh0w"
        );
    }
}
