//! The DuckDB destination's configuration: where the database file is.
//!
//! `[destination.duckdb] credentials = "path/to/file.duckdb"` (or `credentials.database = …`,
//! or the environment variable `DESTINATION__DUCKDB__CREDENTIALS`). `:memory:` opens an
//! in-memory database. Without a setting the database is `<working_dir>/<pipeline_name>.duckdb`,
//! as in dlt. Relative paths are taken relative to the working directory.

use sluice_core::{DestinationConfig, Error, Result};
use std::path::{Path, PathBuf};

/// The value that selects an in-memory database.
pub const MEMORY: &str = ":memory:";

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuckDbSettings {
    /// The database to open.
    pub database: DatabaseLocation,
    /// The dataset (DuckDB schema) to load into.
    pub dataset: String,
}

impl DuckDbSettings {
    /// Resolve the settings from a destination config without any I/O. Errors name the setting.
    pub fn resolve(config: &DestinationConfig) -> Result<Self> {
        let section = &config.section;
        let key = format!("{}.credentials", section_path(config));
        let raw = match section.get("credentials") {
            None => None,
            Some(toml::Value::String(s)) => Some((s.clone(), key.clone())),
            Some(toml::Value::Table(t)) => match t.get("database") {
                Some(toml::Value::String(s)) => Some((s.clone(), format!("{key}.database"))),
                None => None,
                Some(_) => {
                    return Err(Error::config(format!(
                        "{key}.database must be a string: the path of the DuckDB database file or ':memory:'"
                    )));
                }
            },
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
        Ok(Self {
            database,
            dataset: config.dataset_name.clone(),
        })
    }
}

fn section_path(config: &DestinationConfig) -> String {
    let p = config.section.path();
    if p.is_empty() {
        format!("destination.{}", config.destination_name)
    } else {
        p.to_string()
    }
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
