//! TOML/JSON conversion (a JSON config goes through the TOML deserializer) and the parsing
//! helpers shared by the config types: secrets, and tables selected by their `type`.

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::Value;
use sluice_core::Secret;

/// Convert JSON to TOML (nulls dropped), so both go through one deserializer.
pub(crate) fn json_to_toml(v: &Value) -> Option<toml::Value> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => toml::Value::Boolean(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                toml::Value::Integer(i)
            } else if let Some(f) = n.as_f64() {
                toml::Value::Float(f)
            } else {
                toml::Value::String(n.to_string())
            }
        }
        Value::String(s) => toml::Value::String(s.clone()),
        Value::Array(a) => toml::Value::Array(a.iter().filter_map(json_to_toml).collect()),
        Value::Object(o) => toml::Value::Table(
            o.iter()
                .filter_map(|(k, v)| json_to_toml(v).map(|v| (k.clone(), v)))
                .collect(),
        ),
    })
}

/// Convert a TOML value to JSON (datetimes become strings).
pub(crate) fn toml_to_json(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

/// A JSON value read from the config (TOML or JSON input).
#[derive(Debug, Clone, PartialEq)]
pub struct JsonValue(pub Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = toml::Value::deserialize(d)?;
        Ok(JsonValue(toml_to_json(&t)))
    }
}

pub(crate) fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    let t = toml::Value::deserialize(d)?;
    match t {
        toml::Value::String(s) => Ok(Some(Secret::new(s))),
        toml::Value::Integer(i) => Ok(Some(Secret::new(i.to_string()))),
        _ => Err(de::Error::custom("expected a string")),
    }
}

/// Split a typed table (`{type = "x", ...}`, or just `"x"`) into its type name and the rest;
/// `default_type` applies when `type` is absent.
pub(crate) fn split_type(
    value: toml::Value,
    default_type: Option<&str>,
) -> Result<(String, toml::Value), String> {
    match value {
        toml::Value::String(s) => Ok((s, toml::Value::Table(Default::default()))),
        toml::Value::Table(mut t) => {
            let ty = match t.remove("type") {
                Some(toml::Value::String(s)) => s,
                Some(_) => return Err("'type' must be a string".into()),
                None => {
                    // A misspelt `type` would otherwise read the table as the default type
                    // and complain about its other keys instead.
                    if let Some(near) = t.keys().find(|k| {
                        sluice_core::config::edit_distance(&k.to_lowercase(), "type") <= 2
                    }) {
                        return Err(format!("unknown key '{near}' (did you mean 'type'?)"));
                    }
                    match default_type {
                        Some(d) => d.to_string(),
                        None => return Err("missing 'type'".into()),
                    }
                }
            };
            Ok((ty, toml::Value::Table(t)))
        }
        _ => Err("expected a type name or a table".into()),
    }
}

/// Read the fields of a typed table; errors name the type.
pub(crate) fn fields<T: for<'a> Deserialize<'a>>(ty: &str, rest: toml::Value) -> Result<T, String> {
    T::deserialize(rest).map_err(|e| format!("{} (type '{ty}')", e.message().trim_end()))
}
