//! Table hints of a resource: key columns, write disposition, schema contract.

use super::fields;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
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

/// A write disposition: `"merge"` or `{disposition = "merge", strategy = "upsert"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteDispositionConfig {
    /// append, replace or merge.
    pub disposition: WriteDisposition,
    /// Merge strategy.
    pub strategy: Option<MergeStrategy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WdTable {
    disposition: String,
    #[serde(default)]
    strategy: Option<String>,
}

impl<'de> Deserialize<'de> for WriteDispositionConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = toml::Value::deserialize(d)?;
        let (disp, strategy) = match v {
            toml::Value::String(s) => (s, None),
            t @ toml::Value::Table(_) => {
                let w: WdTable = fields("write_disposition", t).map_err(de::Error::custom)?;
                (w.disposition, w.strategy)
            }
            _ => return Err(de::Error::custom("expected a disposition name or a table")),
        };
        Ok(WriteDispositionConfig {
            disposition: WriteDisposition::parse(&disp)
                .map_err(|e| de::Error::custom(e.message()))?,
            strategy: strategy
                .map(|s| MergeStrategy::parse(&s))
                .transpose()
                .map_err(|e| de::Error::custom(e.message()))?,
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
