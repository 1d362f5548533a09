//! The DuckDB destination's configuration: where the database file is.
//!
//! `[destination.duckdb] credentials = "path/to/file.duckdb"` (or `credentials.database = …`,
//! or the environment variable `DESTINATION__DUCKDB__CREDENTIALS`). `:memory:` opens an
//! in-memory database. Without a setting the database is `<working_dir>/<pipeline_name>.duckdb`,
//! as in dlt. Relative paths are taken relative to the working directory.
//!
//! DuckDB settings come from dlt's credential keys: `credentials.global_config` and
//! `credentials.local_config` (tables of setting = value, applied with `SET` when the connection
//! opens) and `credentials.pragmas` (a list of pragma names, run as `PRAGMA name`). For loading,
//! sluice sets defaults of its own that these keys override (see [`OPEN_DEFAULTS`] and
//! [`MIN_LOAD_MEMORY_MIB`]).

use serde::Deserialize;
use sluice_core::{DestinationConfig, Error, Result};
use std::path::{Path, PathBuf};

/// The value that selects an in-memory database.
pub const MEMORY: &str = ":memory:";

/// DuckDB settings sluice applies when the connection opens unless the config sets them.
///
/// `preserve_insertion_order = false`: `INSERT … SELECT FROM read_parquet` may write rows in any
/// order (tables have no order; dlt's layout links rows by `_dlt_id`, not by position). With the
/// order preserved DuckDB buffers a large insert: measured 1.4× slower and more memory.
pub const OPEN_DEFAULTS: [(&str, &str); 1] = [("preserve_insertion_order", "false")];

/// Memory limit of a load when the config sets no `memory_limit` (database files only): at
/// least this many MiB, or [`LOAD_MEMORY_MIB_PER_COLUMN`] per column of the widest table of the
/// load and per DuckDB thread, whichever is more. A big package is then spilled to the database
/// file while it loads instead of being held in memory (1 000 000 orders, 147 MB of Parquet:
/// peak RSS of that load in DuckDB's Python client 830 MB without a limit, 220 MB with 128 MiB;
/// in `sluice run` 1 051 MB before, ~300 MB with it). DuckDB needs roughly 0.25 MiB per
/// column and thread for a row group in flight, so the limit keeps 4× headroom. The
/// limit is lifted again when the load ends, so queries run with DuckDB's own default.
pub const MIN_LOAD_MEMORY_MIB: u64 = 128;

/// See [`MIN_LOAD_MEMORY_MIB`].
pub const LOAD_MEMORY_MIB_PER_COLUMN: u64 = 1;

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// An in-memory database, gone when the connection closes.
    Memory,
    /// A database file (absolute path).
    File(PathBuf),
}

impl DatabaseLocation {
    /// The location as dlt prints it: `duckdb:///abs/path.duckdb` or `duckdb:///:memory:`.
    pub fn display(&self) -> String {
        match self {
            DatabaseLocation::Memory => format!("duckdb:///{MEMORY}"),
            DatabaseLocation::File(p) => {
                let s = p.display().to_string();
                if s.starts_with('/') {
                    format!("duckdb://{s}")
                } else {
                    format!("duckdb:///{s}")
                }
            }
        }
    }
}

/// The resolved settings of the DuckDB destination.
#[derive(Clone, PartialEq, Eq)]
pub struct DuckDbSettings {
    /// The database to open.
    pub database: DatabaseLocation,
    /// The dataset (DuckDB schema) to load into.
    pub dataset: String,
    /// Settings applied with `SET name = value` when the connection opens: (name, SQL literal).
    pub settings: Vec<(String, String)>,
    /// Pragmas run as `PRAGMA name` when the connection opens.
    pub pragmas: Vec<String>,
    /// Bound the memory of loads (see [`MIN_LOAD_MEMORY_MIB`]): a database file, and no
    /// `memory_limit` in the config.
    pub bounded_load_memory: bool,
}

/// Keys accepted in `[destination.duckdb]` (besides `credentials`).
pub const SETTINGS: &[&str] = &[];
/// Keys accepted in `[destination.duckdb.credentials]`.
pub const CREDENTIALS: &[&str] = &["database", "global_config", "local_config", "pragmas"];

/// `[destination.duckdb]` as written. The values stay TOML values here: `credentials` is a
/// path or a table, and [`DuckDbSettings::resolve`] checks each value with a message that names
/// the setting and what it must be.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    #[serde(default)]
    credentials: Option<toml::Value>,
}

/// `[destination.duckdb.credentials]` as written (dlt's keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCredentials {
    /// The database file or `:memory:`.
    #[serde(default)]
    database: Option<toml::Value>,
    /// DuckDB settings for every connection.
    #[serde(default)]
    global_config: Option<toml::Value>,
    /// DuckDB settings for this connection.
    #[serde(default)]
    local_config: Option<toml::Value>,
    /// Pragmas to run.
    #[serde(default)]
    pragmas: Option<toml::Value>,
}

impl DuckDbSettings {
    /// Resolve the settings from a destination config without any I/O. Errors name the setting.
    pub fn resolve(config: &DestinationConfig) -> Result<Self> {
        let section = &config.section;
        section.reject_unknown_keys(SETTINGS, CREDENTIALS)?;
        let section_raw: RawSection = section.parse()?;
        let credentials: Option<RawCredentials> = match &section_raw.credentials {
            Some(toml::Value::Table(_)) => section
                .subsection("credentials")
                .map(|c| c.parse())
                .transpose()?,
            _ => None,
        };
        let key = format!("{}.credentials", config.section_path());
        let raw = match &section_raw.credentials {
            None => None,
            Some(toml::Value::String(s)) => Some((s.clone(), key.clone())),
            Some(toml::Value::Table(_)) => {
                match credentials.as_ref().and_then(|c| c.database.as_ref()) {
                    Some(toml::Value::String(s)) => Some((s.clone(), format!("{key}.database"))),
                    None => None,
                    Some(_) => {
                        return Err(Error::config(format!(
                            "{key}.database must be a string: the path of the DuckDB database file or ':memory:'"
                        )));
                    }
                }
            }
            Some(_) => {
                return Err(Error::config(format!(
                    "{key} must be a string: the path of the DuckDB database file or ':memory:' \
                     (or a table with a 'database' key)"
                )));
            }
        };
        if config.dataset_name.trim().is_empty() {
            return Err(Error::config(
                "the dataset name is empty: set dataset_name for the pipeline (it becomes the DuckDB schema)",
            ));
        }
        let database = match raw {
            Some((value, key)) => parse_database(&value, &key, &config.working_dir)?,
            None => {
                if config.pipeline_name.trim().is_empty() {
                    return Err(Error::config(format!(
                        "{key} is not set and the pipeline has no name to derive the default \
                         database file '<pipeline_name>.duckdb' from: set {key} to a file path or ':memory:' \
                         (or the environment variable DESTINATION__DUCKDB__CREDENTIALS)"
                    )));
                }
                DatabaseLocation::File(absolute(
                    &config
                        .working_dir
                        .join(format!("{}.duckdb", config.pipeline_name)),
                ))
            }
        };
        if let DatabaseLocation::File(path) = &database
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem.eq_ignore_ascii_case(config.dataset_name.trim())
        {
            // DuckDB names the database (catalog) after the file, and `stem.table` would then
            // be ambiguous in every statement ("Ambiguous reference to catalog or schema").
            return Err(Error::config(format!(
                "the dataset '{}' has the same name as the DuckDB database file {}: DuckDB cannot \
                 tell the dataset from the database in SQL; choose another dataset_name, or set \
                 {key} to a file with another name",
                config.dataset_name,
                path.display()
            )));
        }
        let mut settings: Vec<(String, String)> = Vec::new();
        let mut pragmas = Vec::new();
        if let Some(c) = &credentials {
            for (part, value) in [
                ("global_config", &c.global_config),
                ("local_config", &c.local_config),
            ] {
                read_settings(value.as_ref(), &format!("{key}.{part}"), &mut settings)?;
            }
            pragmas = read_pragmas(c.pragmas.as_ref(), &format!("{key}.pragmas"))?;
        }
        let is_set = |settings: &[(String, String)], name: &str| {
            settings.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        for (name, value) in OPEN_DEFAULTS {
            if !is_set(&settings, name) {
                settings.push((name.to_string(), value.to_string()));
            }
        }
        let bounded_load_memory =
            database != DatabaseLocation::Memory && !is_set(&settings, "memory_limit");
        Ok(Self {
            database,
            dataset: config.dataset_name.clone(),
            settings,
            pragmas,
            bounded_load_memory,
        })
    }
}

impl std::fmt::Debug for DuckDbSettings {
    /// Setting values are left out: `global_config` may hold secrets (e.g. `s3_secret_access_key`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.settings.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("DuckDbSettings")
            .field("database", &self.database)
            .field("dataset", &self.dataset)
            .field("settings", &names)
            .field("pragmas", &self.pragmas)
            .field("bounded_load_memory", &self.bounded_load_memory)
            .finish()
    }
}

/// A DuckDB setting or pragma name: letters, digits and underscores (it is spliced into SQL).
fn check_setting_name(name: &str, key: &str) -> Result<()> {
    let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "{key}: '{name}' is not a DuckDB setting name (letters, digits and underscores only)"
        )))
    }
}

fn read_settings(
    value: Option<&toml::Value>,
    key: &str,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    let table = match value {
        None => return Ok(()),
        Some(toml::Value::Table(t)) => t,
        Some(_) => {
            return Err(Error::config(format!(
                "{key} must be a table of DuckDB settings, e.g. {{ memory_limit = \"1GB\", threads = 2 }}"
            )));
        }
    };
    for (name, v) in table {
        check_setting_name(name, key)?;
        let sql = match v {
            toml::Value::String(s) => sluice_core::sql::literal(s),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(Error::config(format!(
                    "{key}.{name} must be a string, number or boolean"
                )));
            }
        };
        out.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        out.push((name.clone(), sql));
    }
    Ok(())
}

fn read_pragmas(value: Option<&toml::Value>, key: &str) -> Result<Vec<String>> {
    let list = match value {
        None => return Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a,
        Some(_) => {
            return Err(Error::config(format!(
                "{key} must be a list of pragma names, e.g. [\"enable_progress_bar\"]"
            )));
        }
    };
    list.iter()
        .map(|v| match v {
            toml::Value::String(s) => {
                check_setting_name(s, key)?;
                Ok(s.clone())
            }
            _ => Err(Error::config(format!(
                "{key} must hold pragma names (strings)"
            ))),
        })
        .collect()
}

fn parse_database(value: &str, key: &str, working_dir: &Path) -> Result<DatabaseLocation> {
    let trimmed = value.trim();
    // Accept dlt's connection-string form `duckdb:///path` as well as a bare path.
    let path = trimmed.strip_prefix("duckdb://").unwrap_or(trimmed);
    let path = if let Some(rest) = path.strip_prefix('/')
        && rest == MEMORY
    {
        rest
    } else {
        path
    };
    if path.is_empty() {
        return Err(Error::config(format!(
            "{key} is empty: set it to the path of the DuckDB database file or ':memory:'"
        )));
    }
    if path == MEMORY {
        return Ok(DatabaseLocation::Memory);
    }
    if path.starts_with(':') {
        return Err(Error::config(format!(
            "{key} = '{path}' is not a database path: the only special value is ':memory:'"
        )));
    }
    if path.ends_with('/') || path.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(Error::config(format!(
            "{key} = '{path}' names a directory: give the path of the database file, e.g. '{path}data.duckdb'"
        )));
    }
    let p = Path::new(path);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        working_dir.join(p)
    };
    Ok(DatabaseLocation::File(absolute(&p)))
}

/// An absolute path without touching the file system (no symlink resolution).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
