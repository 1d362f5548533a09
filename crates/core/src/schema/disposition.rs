//! How a table's rows are written: the write disposition, the merge strategy, and the
//! settings of dlt's `scd2` strategy (validity columns, active record and boundary timestamps,
//! the row version column).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the rows of a table are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WriteDisposition {
    /// Add rows to the table.
    #[default]
    Append,
    /// Replace the whole table (and its nested tables) with this load's rows.
    Replace,
    /// Merge rows on the primary / merge key.
    Merge,
    /// Do not load (system tables).
    Skip,
}

impl WriteDisposition {
    /// Parse `append`, `replace`, `merge` or `skip`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "append" => Ok(Self::Append),
            "replace" => Ok(Self::Replace),
            "merge" => Ok(Self::Merge),
            "skip" => Ok(Self::Skip),
            other => Err(Error::config(format!(
                "unknown write disposition '{other}': use append, replace or merge"
            ))),
        }
    }

    /// The name as written in config.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Append => "append",
            Self::Replace => "replace",
            Self::Merge => "merge",
            Self::Skip => "skip",
        }
    }
}

/// How a merge is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MergeStrategy {
    /// Delete rows whose key matches an incoming row, then insert the incoming rows
    /// (deduplicated on the primary key).
    #[default]
    DeleteInsert,
    /// Update matching rows in place and insert the others.
    Upsert,
    /// Insert incoming rows whose key is not present yet.
    InsertOnly,
    /// Keep the history of each row (slowly changing dimension type 2): a row version absent
    /// from the load is retired (its valid-to column set), a new one is inserted as active.
    #[serde(rename = "scd2")]
    Scd2,
}

impl MergeStrategy {
    /// Parse `delete-insert`, `upsert`, `insert-only` or `scd2`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "delete-insert" => Ok(Self::DeleteInsert),
            "upsert" => Ok(Self::Upsert),
            "insert-only" => Ok(Self::InsertOnly),
            "scd2" => Ok(Self::Scd2),
            other => Err(Error::config(format!(
                "unknown merge strategy '{other}': use delete-insert, upsert, insert-only or scd2"
            ))),
        }
    }

    /// The name as written in config.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DeleteInsert => "delete-insert",
            Self::Upsert => "upsert",
            Self::InsertOnly => "insert-only",
            Self::Scd2 => "scd2",
        }
    }
}

/// The validity columns an scd2 table gets unless `validity_column_names` names others.
pub const DEFAULT_VALIDITY_COLUMN_NAMES: [&str; 2] = ["_dlt_valid_from", "_dlt_valid_to"];

/// Settings of the `scd2` merge strategy, as dlt spells them in a `write_disposition` table.
/// Timestamps are kept as RFC 3339 text in UTC (see [`parse_timestamp_setting`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scd2Settings {
    /// Names of the valid-from and valid-to columns (before normalization); default
    /// [`DEFAULT_VALIDITY_COLUMN_NAMES`].
    pub validity_column_names: Option<[String; 2]>,
    /// The valid-to value of an active row; `None`: NULL.
    pub active_record_timestamp: Option<String>,
    /// The time that retires old versions and starts new ones; `None`: the load's time.
    pub boundary_timestamp: Option<String>,
    /// A column of the data holding the row's version hash; `None`: `_dlt_id` holds a hash of
    /// the whole item.
    pub row_version_column_name: Option<String>,
}

/// A timestamp setting (`boundary_timestamp`, `active_record_timestamp`) as RFC 3339 in UTC.
/// Accepts RFC 3339, a date (`9999-12-31`, midnight UTC), a date and time without zone (UTC),
/// with a space or `T`, and unix seconds. The error names `setting`.
pub fn parse_timestamp_setting(setting: &str, value: &str) -> Result<String> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
    let v = value.trim();
    let utc = |d: DateTime<Utc>| d.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Ok(utc(d.with_timezone(&Utc)));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %#z"] {
        if let Ok(d) = DateTime::parse_from_str(v, fmt) {
            return Ok(utc(d.with_timezone(&Utc)));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(v, fmt) {
            return Ok(utc(d.and_utc()));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(utc(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc()));
    }
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && let Some(d) = DateTime::from_timestamp_micros((secs * 1e6).round() as i64)
    {
        return Ok(utc(d));
    }
    Err(Error::config(format!(
        "{setting}: '{value}' is not a timestamp: use RFC 3339 (2024-08-21T12:15:00Z), a date \
         (9999-12-31) or unix seconds"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_parse_and_print_as_dlt_spells_them() {
        for s in ["delete-insert", "upsert", "insert-only", "scd2"] {
            assert_eq!(MergeStrategy::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(
            serde_json::to_string(&MergeStrategy::Scd2).unwrap(),
            "\"scd2\""
        );
        assert!(
            MergeStrategy::parse("scd3")
                .unwrap_err()
                .to_string()
                .contains("scd2")
        );
    }

    #[test]
    fn timestamp_settings_accept_dlt_forms() {
        let p = |v| parse_timestamp_setting("boundary_timestamp", v).unwrap();
        assert_eq!(p("9999-12-31"), "9999-12-31T00:00:00Z");
        assert_eq!(p("2024-08-21T12:15:00+00:00"), "2024-08-21T12:15:00Z");
        assert_eq!(p("9999-12-31T00:00:00+01:00"), "9999-12-30T23:00:00Z");
        assert_eq!(p("2024-08-21T12:15:00"), "2024-08-21T12:15:00Z");
        assert_eq!(p("2024-08-21 12:15:00.5"), "2024-08-21T12:15:00.500Z");
        assert_eq!(p("1724242500"), "2024-08-21T12:15:00Z");
        let e = parse_timestamp_setting("boundary_timestamp", "i_am_not_a_timestamp")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("boundary_timestamp") && e.contains("i_am_not"),
            "{e}"
        );
    }
}
