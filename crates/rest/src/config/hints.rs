//! Table hints of a resource: key columns, write disposition, schema contract.

use super::fields;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use sluice_core::schema::{Scd2Settings, parse_timestamp_setting};
use sluice_core::{ContractMode, MergeStrategy, WriteDisposition};
use std::fmt;

/// A list of key columns: one name or a list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyList(pub Vec<String>);

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name or a list of column names")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<KeyList, E> {
                Ok(KeyList(vec![s.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(KeyList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A write disposition: `"merge"` or `{disposition = "merge", strategy = "upsert"}`; the
/// scd2 strategy takes dlt's settings too: `{disposition = "merge", strategy = "scd2",
/// validity_column_names = ["from", "to"], active_record_timestamp = "9999-12-31",
/// boundary_timestamp = "2024-08-21T12:15:00Z", row_version_column_name = "row_hash"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteDispositionConfig {
    /// append, replace or merge.
    pub disposition: WriteDisposition,
    /// Merge strategy.
    pub strategy: Option<MergeStrategy>,
    /// Settings of the scd2 strategy (empty for the others).
    pub scd2: Scd2Settings,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WdTable {
    disposition: String,
    #[serde(default)]
    strategy: Option<String>,
    #[serde(default)]
    validity_column_names: Option<Vec<String>>,
    #[serde(default)]
    active_record_timestamp: Option<toml::Value>,
    #[serde(default)]
    boundary_timestamp: Option<toml::Value>,
    #[serde(default)]
    row_version_column_name: Option<String>,
}

impl WdTable {
    /// The scd2 settings; an error names a setting given to another strategy or a value that
    /// is not what it must be.
    fn scd2(&mut self, strategy: Option<MergeStrategy>) -> Result<Scd2Settings, String> {
        let given: Vec<&str> = [
            (
                "validity_column_names",
                self.validity_column_names.is_some(),
            ),
            (
                "active_record_timestamp",
                self.active_record_timestamp.is_some(),
            ),
            ("boundary_timestamp", self.boundary_timestamp.is_some()),
            (
                "row_version_column_name",
                self.row_version_column_name.is_some(),
            ),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        if strategy != Some(MergeStrategy::Scd2) {
            return match given.first() {
                Some(k) => Err(format!(
                    "write_disposition: {k} is a setting of strategy = \"scd2\" only"
                )),
                None => Ok(Scd2Settings::default()),
            };
        }
        let validity_column_names = match self.validity_column_names.take() {
            None => None,
            Some(names) => match <[String; 2]>::try_from(names) {
                Ok(pair) => Some(pair),
                Err(names) => {
                    return Err(format!(
                        "write_disposition: validity_column_names must name two columns \
                         (valid from, valid to), not {}",
                        names.len()
                    ));
                }
            },
        };
        let timestamp = |key: &str, v: Option<toml::Value>| -> Result<Option<String>, String> {
            let text = match v {
                None => return Ok(None),
                Some(toml::Value::String(s)) => s,
                Some(toml::Value::Datetime(d)) => d.to_string(),
                Some(toml::Value::Integer(n)) => n.to_string(),
                Some(toml::Value::Float(f)) => f.to_string(),
                Some(other) => {
                    return Err(format!(
                        "write_disposition: {key} must be a timestamp, not {}",
                        other.type_str()
                    ));
                }
            };
            parse_timestamp_setting(&format!("write_disposition: {key}"), &text)
                .map(Some)
                .map_err(|e| e.message().to_string())
        };
        Ok(Scd2Settings {
            validity_column_names,
            active_record_timestamp: timestamp(
                "active_record_timestamp",
                self.active_record_timestamp.take(),
            )?,
            boundary_timestamp: timestamp("boundary_timestamp", self.boundary_timestamp.take())?,
            row_version_column_name: self.row_version_column_name.take(),
        })
    }
}

impl<'de> Deserialize<'de> for WriteDispositionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let (disp, strategy, table) = match v {
            toml::Value::String(s) => (s, None, None),
            t @ toml::Value::Table(_) => {
                let mut w: WdTable = fields("write_disposition", t).map_err(de::Error::custom)?;
                (w.disposition.clone(), w.strategy.take(), Some(w))
            }
            _ => return Err(de::Error::custom("expected a disposition name or a table")),
        };
        let strategy = strategy
            .map(|s| MergeStrategy::parse(&s))
            .transpose()
            .map_err(|e| de::Error::custom(e.message()))?;
        let scd2 = match table {
            Some(mut w) => w.scd2(strategy).map_err(de::Error::custom)?,
            None => Scd2Settings::default(),
        };
        Ok(WriteDispositionConfig {
            disposition: WriteDisposition::parse(&disp)
                .map_err(|e| de::Error::custom(e.message()))?,
            strategy,
            scd2,
        })
    }
}

/// A schema contract: one mode for everything (`"freeze"`) or per entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaContractConfig(pub sluice_core::SchemaContract);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractTable {
    #[serde(default)]
    tables: Option<String>,
    #[serde(default)]
    columns: Option<String>,
    #[serde(default)]
    data_type: Option<String>,
}

impl<'de> Deserialize<'de> for SchemaContractConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let parse = |s: Option<String>| -> Result<ContractMode, D::Error> {
            match s {
                None => Ok(ContractMode::Evolve),
                Some(s) => ContractMode::parse(&s).map_err(|e| de::Error::custom(e.message())),
            }
        };
        let c = match v {
            toml::Value::String(s) => {
                let m = parse(Some(s))?;
                sluice_core::SchemaContract {
                    tables: m,
                    columns: m,
                    data_type: m,
                }
            }
            t @ toml::Value::Table(_) => {
                let c: ContractTable = fields("schema_contract", t).map_err(de::Error::custom)?;
                sluice_core::SchemaContract {
                    tables: parse(c.tables)?,
                    columns: parse(c.columns)?,
                    data_type: parse(c.data_type)?,
                }
            }
            _ => return Err(de::Error::custom("expected a mode name or a table")),
        };
        Ok(SchemaContractConfig(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wd(toml_text: &str) -> Result<WriteDispositionConfig, String> {
        let v: toml::Value = toml::from_str(&format!("wd = {toml_text}")).unwrap();
        WriteDispositionConfig::deserialize(v["wd"].clone()).map_err(|e| e.to_string())
    }

    #[test]
    fn scd2_settings_read_as_dlt_spells_them() {
        let c = wd(r#"{ disposition = "merge", strategy = "scd2", validity_column_names = ["from", "to"], active_record_timestamp = "9999-12-31", boundary_timestamp = 2024-08-21T12:15:00Z, row_version_column_name = "row_hash" }"#).unwrap();
        assert_eq!(c.strategy, Some(MergeStrategy::Scd2));
        assert_eq!(
            c.scd2,
            Scd2Settings {
                validity_column_names: Some(["from".into(), "to".into()]),
                active_record_timestamp: Some("9999-12-31T00:00:00Z".into()),
                boundary_timestamp: Some("2024-08-21T12:15:00Z".into()),
                row_version_column_name: Some("row_hash".into()),
            }
        );
        let plain = wd(r#"{ disposition = "merge", strategy = "scd2" }"#).unwrap();
        assert_eq!(plain.scd2, Scd2Settings::default());
    }

    #[test]
    fn scd2_settings_are_checked() {
        let e = wd(
            r#"{ disposition = "merge", strategy = "upsert", boundary_timestamp = "2024-01-01" }"#,
        )
        .unwrap_err();
        assert!(
            e.contains("boundary_timestamp is a setting of strategy = \"scd2\""),
            "{e}"
        );
        let e = wd(r#"{ disposition = "merge", strategy = "scd2", active_record_timestamp = "i_am_not_a_timestamp" }"#)
            .unwrap_err();
        assert!(
            e.contains("active_record_timestamp") && e.contains("i_am_not_a_timestamp"),
            "{e}"
        );
        let e =
            wd(r#"{ disposition = "merge", strategy = "scd2", validity_column_names = ["from"] }"#)
                .unwrap_err();
        assert!(
            e.contains("validity_column_names must name two columns"),
            "{e}"
        );
        let e =
            wd(r#"{ disposition = "merge", strategy = "scd2", valid_from = "x" }"#).unwrap_err();
        assert!(e.contains("valid_from"), "unknown keys are refused: {e}");
    }
}
