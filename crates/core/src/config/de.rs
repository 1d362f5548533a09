//! Typed settings from a config section with serde.
//!
//! A destination declares the keys of its section as a `#[derive(Deserialize)]` struct with
//! `#[serde(deny_unknown_fields)]` (dlt's alternative names as `#[serde(alias = …)]`) and reads
//! it with [`ConfigSection::parse`]. Values set by environment variables arrive as strings
//! (`DESTINATION__POSTGRES__CREDENTIALS__PORT=5432`), so numbers and booleans are read with
//! the lenient helpers of this module, which take the native TOML value or its text:
//!
//! ```
//! use serde::Deserialize;
//! use sluice_core::config::de;
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Credentials {
//!     host: Option<String>,
//!     #[serde(default, deserialize_with = "de::opt_number")]
//!     port: Option<u16>,
//!     #[serde(default, deserialize_with = "de::opt_boolean")]
//!     verify: Option<bool>,
//!     password: Option<sluice_core::Secret>,
//! }
//! ```
//!
//! Errors name the section and the key and never quote a value (a value may be a secret that
//! landed under the wrong key).

use super::{ConfigSection, Secret};
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::fmt::Display;
use std::str::FromStr;

impl ConfigSection {
    /// The whole section as `T`. A wrong type or value is a config error naming
    /// `[section] key` and what was expected; an unknown key (with
    /// `#[serde(deny_unknown_fields)]`) names the key and the accepted ones. Call
    /// [`ConfigSection::reject_unknown_keys`] first for messages with a "did you mean" hint.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T> {
        let value = toml::Value::Table(self.values.clone());
        serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            let message = describe(e.inner().message());
            let key = if at == "." || at.is_empty() {
                String::new()
            } else {
                format!(" {at}")
            };
            Error::config(format!("[{}]{key}: {message}", self.path()))
        })
    }
}

/// Serde's message without the offending value: `invalid type: string "…", expected u16`
/// becomes `has the wrong type (expected u16)`.
fn describe(message: &str) -> String {
    let expected = message
        .split_once(", expected ")
        .map(|(_, e)| e.trim_end_matches('.').to_string());
    let what = if message.starts_with("invalid type") {
        Some("has the wrong type")
    } else if message.starts_with("invalid value") || message.starts_with("invalid length") {
        Some("has a wrong value")
    } else {
        None
    };
    match (what, expected) {
        (Some(what), Some(expected)) => format!("{what} (expected {expected})"),
        (Some(what), None) => what.to_string(),
        (None, _) => message.to_string(),
    }
}

/// A number given natively or as text (environment variables are text).
pub fn number<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + DeserializeOwned,
    T::Err: Display,
{
    from_value(toml::Value::deserialize(deserializer)?)
}

/// An optional [`number`]; use with `#[serde(default)]`.
pub fn opt_number<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + DeserializeOwned,
    T::Err: Display,
{
    Option::<toml::Value>::deserialize(deserializer)?
        .map(from_value)
        .transpose()
}

fn from_value<T, E>(value: toml::Value) -> std::result::Result<T, E>
where
    T: FromStr + DeserializeOwned,
    T::Err: Display,
    E: serde::de::Error,
{
    match value {
        toml::Value::String(text) => text.trim().parse().map_err(|_| {
            E::custom(format!(
                "has a wrong value (expected {})",
                std::any::type_name::<T>()
            ))
        }),
        other => T::deserialize(other).map_err(|e| E::custom(describe(e.message()))),
    }
}

/// A boolean given natively or as text: `true`/`false`, `1`/`0`, `yes`/`no`.
pub fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> std::result::Result<bool, D::Error> {
    bool_from(toml::Value::deserialize(deserializer)?)
}

/// An optional [`boolean`]; use with `#[serde(default)]`.
pub fn opt_boolean<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<bool>, D::Error> {
    Option::<toml::Value>::deserialize(deserializer)?
        .map(bool_from)
        .transpose()
}

fn bool_from<E: serde::de::Error>(value: toml::Value) -> std::result::Result<bool, E> {
    match value {
        toml::Value::Boolean(b) => Ok(b),
        toml::Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(E::custom("must be true or false")),
        },
        _ => Err(E::custom("must be true or false")),
    }
}

/// An optional text setting: a string, or a number or boolean taken as its text (as
/// [`ConfigSection::get_str`] reads it); use with `#[serde(default)]`. A table or a list is
/// refused without showing it.
pub fn opt_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<Option<String>, D::Error> {
    Option::<toml::Value>::deserialize(deserializer)?
        .map(text_from)
        .transpose()
}

fn text_from<E: serde::de::Error>(value: toml::Value) -> std::result::Result<String, E> {
    match value {
        toml::Value::String(s) => Ok(s),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(E::custom("has the wrong type (expected a string)")),
    }
}

impl<'de> Deserialize<'de> for Secret {
    /// A secret is any scalar (a numeric PIN is still text); a table or list is refused
    /// without showing it.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        text_from(toml::Value::deserialize(deserializer)?).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Section {
        #[serde(default)]
        credentials: Option<Credentials>,
        #[serde(default, deserialize_with = "opt_boolean")]
        keep: Option<bool>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Credentials {
        #[serde(alias = "hostname")]
        host: Option<String>,
        #[serde(default, deserialize_with = "opt_number")]
        port: Option<u16>,
        password: Option<Secret>,
    }

    fn section(text: &str) -> ConfigSection {
        ConfigSection::from_table("destination.test", text.parse().unwrap())
    }

    #[test]
    fn numbers_and_booleans_come_natively_or_as_text() {
        let s: Section = section(
            "keep = \"yes\"\n[credentials]\nhostname = \"db\"\nport = \"5433\"\npassword = 1234",
        )
        .parse()
        .unwrap();
        let c = s.credentials.unwrap();
        assert_eq!(c.host.as_deref(), Some("db"));
        assert_eq!(c.port, Some(5433));
        assert_eq!(c.password.unwrap().expose(), "1234");
        assert_eq!(s.keep, Some(true));
        let s: Section = section("[credentials]\nport = 5434").parse().unwrap();
        assert_eq!(s.credentials.unwrap().port, Some(5434));
    }

    #[test]
    fn errors_name_section_and_key_but_never_the_value() {
        let e = section("[credentials]\nport = \"s3cr3t\"")
            .parse::<Section>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("[destination.test] credentials.port"), "{e}");
        assert!(!e.contains("s3cr3t"), "{e}");
        let e = section("[credentials]\nport = 70000")
            .parse::<Section>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credentials.port") && !e.contains("70000"),
            "{e}"
        );
        let e = section("[credentials]\nhots = \"db\"")
            .parse::<Section>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("hots") && e.contains("host"), "{e}");
        let e = section("[credentials]\npassword = { a = \"pw\" }")
            .parse::<Section>()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("credentials.password") && !e.contains("pw\""),
            "{e}"
        );
    }
}
