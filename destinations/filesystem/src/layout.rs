//! File layouts: where a table's file goes under the dataset folder, with dlt's placeholders.
//!
//! The default is dlt's `{table_name}/{load_id}.{file_id}.{ext}`. Placeholders:
//! `schema_name`, `table_name`, `load_id`, `file_id`, `ext`, `curr_date`, `timestamp`,
//! `timestamp_ms`, `load_package_timestamp`, `load_package_timestamp_ms`, the date tokens
//! `YYYY YY Y MMMM MMM MM M DD D HH H mm m ss s SSSS SSS SS S dddd ddd dd d Q`, and any
//! `extra_placeholders` from the config. As in dlt, the date and time values are those of the
//! load package (its load id), so a retried load renders the same names, and names of months and
//! days are lower case. `.{ext}` is appended when the layout has no `{ext}`.

use chrono::{DateTime, Datelike, Timelike, Utc};
use regex::Regex;
use sluice_core::{Error, Result};
use std::collections::BTreeMap;

/// dlt's default layout.
pub const DEFAULT_LAYOUT: &str = "{table_name}/{load_id}.{file_id}.{ext}";

/// Placeholders that may stand before `{table_name}` in a layout used for replace.
const TABLE_PREFIX_PLACEHOLDERS: &[&str] = &["schema_name"];

const BASIC_PLACEHOLDERS: &[&str] = &[
    "schema_name",
    "table_name",
    "load_id",
    "file_id",
    "ext",
    "curr_date",
    "timestamp",
    "timestamp_ms",
    "load_package_timestamp",
    "load_package_timestamp_ms",
];

/// dlt's (pendulum's) date and time tokens.
pub const DATETIME_PLACEHOLDERS: &[&str] = &[
    "YYYY", "YY", "Y", "MMMM", "MMM", "MM", "M", "DD", "D", "HH", "H", "mm", "m", "ss", "s",
    "SSSS", "SSS", "SS", "S", "dddd", "ddd", "dd", "d", "Q",
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Placeholder(String),
}

/// A parsed file layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    text: String,
    segments: Vec<Segment>,
    extra: BTreeMap<String, String>,
}

/// The values a layout is rendered with.
#[derive(Debug, Clone)]
pub struct PathParams<'a> {
    /// Schema name.
    pub schema_name: &'a str,
    /// Table name.
    pub table_name: &'a str,
    /// Load id.
    pub load_id: &'a str,
    /// File id (deterministic per package file).
    pub file_id: &'a str,
    /// File extension without the dot.
    pub ext: &'a str,
    /// The load package's timestamp.
    pub package_time: DateTime<Utc>,
}

impl Layout {
    /// Parse a layout; unknown placeholders are an error listing the known ones.
    pub fn parse(text: &str, extra: BTreeMap<String, String>) -> Result<Self> {
        let mut text = text.trim().trim_start_matches('/').to_string();
        if text.is_empty() {
            return Err(Error::config("the layout is empty"));
        }
        if !text.contains("{ext}") {
            text.push_str(".{ext}");
        }
        let mut segments = Vec::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find('{') {
            if start > 0 {
                segments.push(Segment::Literal(rest[..start].to_string()));
            }
            let end = rest[start..].find('}').ok_or_else(|| {
                Error::config(format!("layout '{text}' has a '{{' without a closing '}}'"))
            })? + start;
            let name = &rest[start + 1..end];
            let known = BASIC_PLACEHOLDERS.contains(&name)
                || DATETIME_PLACEHOLDERS.contains(&name)
                || extra.contains_key(name);
            if !known {
                return Err(Error::config(format!(
                    "layout '{text}' has the unknown placeholder {{{name}}}: use {}, {} or a name set in extra_placeholders",
                    BASIC_PLACEHOLDERS.join(", "),
                    DATETIME_PLACEHOLDERS.join(" ")
                )));
            }
            segments.push(Segment::Placeholder(name.to_string()));
            rest = &rest[end + 1..];
        }
        if rest.contains('}') {
            return Err(Error::config(format!(
                "layout '{text}' has a '}}' without an opening '{{'"
            )));
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        if !segments
            .iter()
            .any(|s| *s == Segment::Placeholder("table_name".into()))
        {
            return Err(Error::config(format!(
                "layout '{text}' has no {{table_name}}: files of different tables would mix"
            )));
        }
        Ok(Self {
            text,
            segments,
            extra,
        })
    }

    /// The layout text (with `.{ext}` appended when it was missing).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the layout contains a placeholder.
    pub fn has(&self, name: &str) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Placeholder(p) if p == name))
    }

    /// The file path (relative to the dataset folder) for `params`.
    pub fn render(&self, params: &PathParams<'_>) -> String {
        let mut out = String::new();
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Placeholder(p) => out.push_str(&self.value(p, params)),
            }
        }
        out
    }

    fn value(&self, name: &str, p: &PathParams<'_>) -> String {
        let t = p.package_time;
        match name {
            "schema_name" => p.schema_name.to_string(),
            "table_name" => p.table_name.to_string(),
            "load_id" => p.load_id.to_string(),
            "file_id" => p.file_id.to_string(),
            "ext" => p.ext.to_string(),
            "curr_date" => t.format("%Y-%m-%d").to_string(),
            "timestamp" | "load_package_timestamp" => t.timestamp().to_string(),
            // dlt renders these with pendulum's "SSS" (the milliseconds of the second).
            "timestamp_ms" | "load_package_timestamp_ms" => {
                format!("{:03}", t.timestamp_subsec_millis())
            }
            other => match self.extra.get(other) {
                Some(v) => v.clone(),
                None => datetime_token(other, t),
            },
        }
    }

    /// The start of every path of `table` (dlt's table prefix): the layout up to `{table_name}`
    /// and the separator after it, rendered. Only `{schema_name}` may come before `{table_name}`.
    pub fn table_prefix(&self, schema_name: &str, table_name: &str) -> Result<String> {
        let mut out = String::new();
        let mut iter = self.segments.iter();
        for s in iter.by_ref() {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Placeholder(p) if p == "table_name" => {
                    out.push_str(table_name);
                    break;
                }
                Segment::Placeholder(p) if TABLE_PREFIX_PLACEHOLDERS.contains(&p.as_str()) => {
                    out.push_str(schema_name)
                }
                Segment::Placeholder(p) => {
                    return Err(Error::config(format!(
                        "layout '{}': the placeholder {{{p}}} stands before {{table_name}}, so the files of a \
                         table cannot be found (only {{schema_name}} may come first)",
                        self.text
                    )));
                }
            }
        }
        match iter.next() {
            Some(Segment::Literal(l)) => {
                out.push(l.chars().next().expect("literal is not empty"));
                Ok(out)
            }
            _ => Err(Error::config(format!(
                "layout '{}': a separator is needed after {{table_name}} (as in {{table_name}}/…), \
                 otherwise tables that start with the same name mix",
                self.text
            ))),
        }
    }

    /// A regex over paths relative to the dataset folder that matches the files of `table` and
    /// captures their `load_id` (when the layout has one).
    pub fn file_regex(&self, schema_name: &str, table_name: &str) -> Regex {
        let mut re = String::from("^");
        let mut load_id_seen = false;
        for s in &self.segments {
            match s {
                Segment::Literal(l) => re.push_str(&regex::escape(l)),
                Segment::Placeholder(p) => match p.as_str() {
                    "table_name" => re.push_str(&regex::escape(table_name)),
                    "schema_name" => re.push_str(&regex::escape(schema_name)),
                    "load_id" if !load_id_seen => {
                        load_id_seen = true;
                        re.push_str(r"(?P<load_id>[0-9]+(?:\.[0-9]+)?)")
                    }
                    "load_id" => re.push_str(r"[0-9]+(?:\.[0-9]+)?"),
                    _ => re.push_str("[^/]*?"),
                },
            }
        }
        re.push('$');
        Regex::new(&re).expect("layout regex is valid")
    }
}

/// A pendulum date token, lower-cased as dlt renders it.
fn datetime_token(token: &str, t: DateTime<Utc>) -> String {
    let s = match token {
        "YYYY" => format!("{:04}", t.year()),
        "YY" => format!("{:02}", t.year().rem_euclid(100)),
        "Y" => t.year().to_string(),
        "MMMM" => t.format("%B").to_string(),
        "MMM" => t.format("%b").to_string(),
        "MM" => format!("{:02}", t.month()),
        "M" => t.month().to_string(),
        "DD" => format!("{:02}", t.day()),
        "D" => t.day().to_string(),
        "HH" => format!("{:02}", t.hour()),
        "H" => t.hour().to_string(),
        "mm" => format!("{:02}", t.minute()),
        "m" => t.minute().to_string(),
        "ss" => format!("{:02}", t.second()),
        "s" => t.second().to_string(),
        "SSSS" => format!("{:04}", t.timestamp_subsec_micros() / 100),
        "SSS" => format!("{:03}", t.timestamp_subsec_millis()),
        "SS" => format!("{:02}", t.timestamp_subsec_millis() / 10),
        "S" => (t.timestamp_subsec_millis() / 100).to_string(),
        "dddd" => t.format("%A").to_string(),
        "ddd" => t.format("%a").to_string(),
        "dd" => t.format("%a").to_string().chars().take(2).collect(),
        "d" => t.weekday().num_days_from_sunday().to_string(),
        "Q" => ((t.month() - 1) / 3 + 1).to_string(),
        other => format!("{{{other}}}"),
    };
    s.to_lowercase()
}

/// The timestamp of a load package from its load id (`<unix seconds>.<micros>`), if it is one.
pub fn package_time(load_id: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = match load_id.split_once('.') {
        Some((s, f)) => (s, f),
        None => (load_id, ""),
    };
    let secs: i64 = secs.parse().ok()?;
    let micros: u32 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(6).collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<6}").parse().ok()?
    };
    DateTime::from_timestamp(secs, micros * 1000)
}

/// A sort key that orders load ids by time (numerically), falling back to text.
pub fn load_id_key(load_id: &str) -> (u64, u64, String) {
    let (a, b) = load_id.split_once('.').unwrap_or((load_id, "0"));
    let secs = a.parse().unwrap_or(u64::MAX);
    let frac = format!("{b:0<9}").chars().take(9).collect::<String>();
    (secs, frac.parse().unwrap_or(0), load_id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params<'a>(table: &'a str) -> PathParams<'a> {
        PathParams {
            schema_name: "shop",
            table_name: table,
            load_id: "1767323045.123456",
            file_id: "abc123",
            ext: "parquet",
            package_time: package_time("1767323045.123456").unwrap(),
        }
    }

    #[test]
    fn default_layout_renders_like_dlt() {
        let l = Layout::parse(DEFAULT_LAYOUT, BTreeMap::new()).unwrap();
        assert_eq!(
            l.render(&params("orders")),
            "orders/1767323045.123456.abc123.parquet"
        );
        assert_eq!(l.table_prefix("shop", "orders").unwrap(), "orders/");
        let re = l.file_regex("shop", "orders");
        let c = re
            .captures("orders/1767323045.123456.abc123.parquet")
            .unwrap();
        assert_eq!(&c["load_id"], "1767323045.123456");
        assert!(!re.is_match("orders__items/1767323045.123456.abc123.parquet"));
    }

    #[test]
    fn date_placeholders_use_the_package_time() {
        // 2026-01-02T03:04:05.123456Z is a Friday.
        let l = Layout::parse(
            "{schema_name}/{table_name}/{YYYY}/{MM}/{DD}/{HH}{mm}{ss}.{SSS}.{MMMM}.{ddd}.{d}.{Q}.{curr_date}.{timestamp}.{timestamp_ms}.{region}.{file_id}",
            [("region".to_string(), "eu".to_string())].into_iter().collect(),
        )
        .unwrap();
        assert_eq!(
            l.render(&params("t")),
            "shop/t/2026/01/02/030405.123.january.fri.5.1.2026-01-02.1767323045.123.eu.abc123.parquet"
        );
        assert_eq!(l.table_prefix("shop", "t").unwrap(), "shop/t/");
    }

    #[test]
    fn bad_layouts_are_rejected() {
        assert!(Layout::parse("{table_name}/{nope}", BTreeMap::new()).is_err());
        assert!(Layout::parse("{load_id}.{ext}", BTreeMap::new()).is_err());
        assert!(Layout::parse("{table_name}/{load_id", BTreeMap::new()).is_err());
        let l = Layout::parse("{YYYY}/{table_name}/{load_id}", BTreeMap::new()).unwrap();
        assert_eq!(l.as_str(), "{YYYY}/{table_name}/{load_id}.{ext}");
        assert!(l.table_prefix("s", "t").is_err());
        let l = Layout::parse("{table_name}{load_id}", BTreeMap::new()).unwrap();
        assert!(l.table_prefix("s", "t").is_err());
    }

    #[test]
    fn load_ids_order_by_time() {
        assert!(load_id_key("999.5") < load_id_key("1000.1"));
        assert!(load_id_key("1000.1") < load_id_key("1000.2"));
        assert!(load_id_key("1000.05") < load_id_key("1000.1"));
        assert_eq!(
            package_time("1767323045.5")
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        assert!(package_time("abc").is_none());
    }
}
