//! A resource: its endpoint (or configured items), table hints and declared columns.

use super::{EndpointConfig, JsonValue, KeyList, SchemaContractConfig, WriteDispositionConfig};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use sluice_core::{Error, Result};
use std::fmt;

/// A resource table (also the shape of `resource_defaults`, without `name`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceConfig {
    /// Resource name (the table name unless `table_name` is set).
    #[serde(default)]
    pub name: Option<String>,
    /// The endpoint: a path or a table. Missing means the path is the name.
    #[serde(default, deserialize_with = "de_endpoint")]
    pub endpoint: Option<EndpointConfig>,
    /// Primary key.
    #[serde(default)]
    pub primary_key: Option<KeyList>,
    /// Merge key.
    #[serde(default)]
    pub merge_key: Option<KeyList>,
    /// Write disposition.
    #[serde(default)]
    pub write_disposition: Option<WriteDispositionConfig>,
    /// Parent fields copied into each child row as `_<parent>_<field>`.
    #[serde(default)]
    pub include_from_parent: Option<Vec<String>>,
    /// Maximum nesting of child tables.
    #[serde(default)]
    pub max_table_nesting: Option<u32>,
    /// Schema contract.
    #[serde(default)]
    pub schema_contract: Option<SchemaContractConfig>,
    /// Table name (default: the resource name).
    #[serde(default)]
    pub table_name: Option<String>,
    /// Whether the resource's rows are emitted (an unselected parent still feeds its children).
    #[serde(default)]
    pub selected: Option<bool>,
    /// Declared columns by source name, with dlt's column hints.
    #[serde(default)]
    pub columns: Option<IndexMap<String, ColumnConfig>>,
    /// Items given in the config instead of an endpoint: the resource yields them without any
    /// request. As a parent (usually with `selected = false`) it fans a child out over a fixed
    /// list, e.g. ids: `{ name = "ids", items = [{ id = 1 }, { id = 2 }], selected = false }`.
    #[serde(default)]
    pub items: Option<Vec<JsonValue>>,
}

/// A declared column (dlt's column hints).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnConfig {
    /// dlt data type name (`text`, `bigint`, `double`, `bool`, `timestamp`, `date`, `decimal`, `json`, …).
    #[serde(default)]
    pub data_type: Option<String>,
    /// Whether NULL is allowed (default true).
    #[serde(default)]
    pub nullable: Option<bool>,
    /// Part of the primary key.
    #[serde(default)]
    pub primary_key: Option<bool>,
    /// Part of the merge key.
    #[serde(default)]
    pub merge_key: Option<bool>,
    /// Unique values.
    #[serde(default)]
    pub unique: Option<bool>,
    /// Deletes the row on merge when set.
    #[serde(default)]
    pub hard_delete: Option<bool>,
    /// Precision.
    #[serde(default)]
    pub precision: Option<u32>,
    /// Scale.
    #[serde(default)]
    pub scale: Option<u32>,
    /// Whether a timestamp keeps its time zone.
    #[serde(default)]
    pub timezone: Option<bool>,
    /// `asc` or `desc`.
    #[serde(default)]
    pub dedup_sort: Option<String>,
}

impl ColumnConfig {
    /// The core column for a source column name; an unknown type is an error naming it.
    pub fn to_column(&self, name: &str) -> Result<sluice_core::Column> {
        let data_type = match &self.data_type {
            None => None,
            Some(t) => Some(sluice_core::DataType::parse(t).ok_or_else(|| {
                Error::config(format!("column '{name}': unknown data_type '{t}'"))
            })?),
        };
        let mut c = sluice_core::Column::new(name, sluice_core::DataType::Text);
        c.data_type = data_type;
        c.nullable = self.nullable.unwrap_or(true);
        if self.primary_key == Some(true) {
            c = c.primary_key();
        }
        c.merge_key = self.merge_key.unwrap_or(false);
        c.unique = self.unique.unwrap_or(false);
        c.hard_delete = self.hard_delete.unwrap_or(false);
        c.precision = self.precision;
        c.scale = self.scale;
        c.timezone = self.timezone;
        c.dedup_sort = self.dedup_sort.clone();
        Ok(c)
    }
}

fn de_endpoint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<EndpointConfig>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = EndpointConfig;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path or an endpoint table")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<EndpointConfig, E> {
            Ok(EndpointConfig {
                path: Some(s.to_string()),
                ..EndpointConfig::default()
            })
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<EndpointConfig, A::Error> {
            EndpointConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_any(V).map(Some)
}

/// A resource: a name (`"posts"`, fetched from path `posts`) or a table.
#[derive(Debug, Clone)]
pub struct ResourceEntry(pub ResourceConfig);

impl<'de> Deserialize<'de> for ResourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResourceEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a resource name or a resource table")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ResourceEntry, E> {
                Ok(ResourceEntry(ResourceConfig {
                    name: Some(s.to_string()),
                    ..ResourceConfig::default()
                }))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ResourceEntry, A::Error> {
                ResourceConfig::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(ResourceEntry)
            }
        }
        d.deserialize_any(V)
    }
}
