//! Loading files: each table's Parquet files are uploaded with `PUT` to the stage, and
//! statements that load them (`COPY INTO`, one file per statement; replace deletes; merges
//! through staging tables in `<dataset>_staging`) are queued for the load's transaction, which
//! [`Destination::commit_load`](sluice_core::Destination::commit_load) runs.

use crate::client::QueryResult;
use crate::destination::{DEFAULT_STAGE, SnowflakeDestination, strings};
use sluice_core::naming::digest128;
use sluice_core::sql::SqlDialect;
use sluice_core::staged_merge::{StagingDataset, stage_for_merge};
use sluice_core::staging;
use sluice_core::{ChainJob, Column, DataType, Error, Result, Table, TableJob};
use std::path::{Path, PathBuf};

/// Extra Parquet options of `COPY INTO` (as dlt sets them): binary columns stay binary,
/// logical types (timestamps, dates, decimals) are honoured.
pub(crate) const PARQUET_OPTIONS: &str = ", BINARY_AS_TEXT = FALSE, USE_LOGICAL_TYPE = TRUE";

/// A statement queued for the load transaction.
#[derive(Debug, Clone)]
pub(crate) enum Queued {
    /// Plain SQL.
    Sql { sql: String, context: String },
    /// `COPY INTO target FROM location` of one Parquet file.
    Copy {
        target: String,
        location: String,
        context: String,
    },
}

/// A minimal self-deleting temporary directory (for stage-safe copies of load files).
pub(crate) mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// Deleted with its content when dropped.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// A new empty directory under the system's temporary directory.
        pub fn new() -> std::io::Result<Self> {
            let n: u64 = rand::random();
            let p = std::env::temp_dir().join(format!("sluice-snowflake-{n:016x}"));
            std::fs::create_dir_all(&p)?;
            Ok(Self(p))
        }
        /// Where it is.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A name safe to use unquoted in a stage path.
fn is_stage_safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl SnowflakeDestination {
    /// The stage location files go to (`@"DS"."_SLUICE_STAGE"`).
    fn stage(&self) -> String {
        match &self.settings.stage_name {
            Some(s) => format!("@{s}"),
            None => format!("@{}", self.dialect().table(DEFAULT_STAGE)),
        }
    }

    /// Create the stage when sluice owns it, and find out whether `COPY INTO` accepts the
    /// Parquet options dlt uses (a copy from an empty folder has no effect).
    async fn ensure_stage(&mut self) -> Result<()> {
        if self.stage_ready {
            return Ok(());
        }
        if self.settings.stage_name.is_none() {
            let sql = format!(
                "CREATE STAGE IF NOT EXISTS {}",
                self.dialect().table(DEFAULT_STAGE)
            );
            self.exec(&sql, "cannot create the stage").await?;
        }
        let probe = format!(
            "COPY INTO {} FROM {}/_sluice_probe/ FILE_FORMAT = (TYPE = 'PARQUET'{PARQUET_OPTIONS}) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE",
            self.dialect().table(sluice_core::LOADS_TABLE),
            self.stage()
        );
        match self.client.query(&probe).await {
            Ok(_) => self.parquet_options = true,
            Err(e) => {
                tracing::warn!(
                    target: "sluice::snowflake",
                    error = %e,
                    "COPY INTO does not accept BINARY_AS_TEXT / USE_LOGICAL_TYPE here; loading Parquet without them"
                );
                self.parquet_options = false;
            }
        }
        self.stage_ready = true;
        Ok(())
    }

    async fn ensure_staging_schema(&mut self) -> Result<()> {
        if !self.staging_ready {
            let sql = self.staging_dialect().create_dataset();
            self.exec(&sql, "cannot create the staging dataset").await?;
            self.staging_ready = true;
        }
        Ok(())
    }

    /// A path of `file` that is safe in a stage location (a copy under a plain name when the
    /// file name has other characters).
    fn stage_safe_file(&mut self, file: &Path, n: usize) -> Result<PathBuf> {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_stage_safe(&name) {
            return Ok(file.to_path_buf());
        }
        if self.temp_dir.is_none() {
            self.temp_dir = Some(tempfile_dir::TempDir::new()?);
        }
        let dir = self.temp_dir.as_ref().expect("just made").path();
        let safe = dir.join(format!("file_{n}_{}.parquet", digest128(&name, 8)));
        if std::fs::hard_link(file, &safe).is_err() {
            std::fs::copy(file, &safe)?;
        }
        Ok(safe)
    }

    /// Upload a table's files to the stage and queue their load into `target` (a qualified,
    /// quoted name). JSON columns go through a raw table (JSON as text) and `PARSE_JSON`:
    /// a Parquet string lands in a `VARIANT` column as a string, not as the document.
    async fn stage_table(&mut self, load_id: &str, t: &TableJob, target: &str) -> Result<()> {
        if t.files.is_empty() {
            return Ok(());
        }
        self.ensure_stage().await?;
        let dir = format!(
            "{}/{}/{}",
            self.stage(),
            load_id,
            staging::table_folder(&t.table.name)
        );
        let mut locations = Vec::new();
        for (n, file) in t.files.iter().enumerate() {
            let local = self.stage_safe_file(file, n)?;
            self.client.put_file(&local, &dir).await.map_err(|e| {
                e.context(format!(
                    "cannot upload a load file of table {}",
                    t.table.name
                ))
            })?;
            let name = local
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            locations.push(format!("{dir}/{name}"));
        }
        let has_json = t
            .table
            .complete_columns()
            .any(|c| c.data_type == Some(DataType::Json));
        let context = format!("cannot load table {}", t.table.name);
        if !has_json {
            for location in locations {
                self.queued.push(Queued::Copy {
                    target: target.to_string(),
                    location,
                    context: context.clone(),
                });
            }
            return Ok(());
        }
        self.ensure_staging_schema().await?;
        let mut raw_table = Table::new(format!("_sluice_raw_{}", t.table.name));
        for c in t.table.complete_columns() {
            let mut c = c.clone();
            if c.data_type == Some(DataType::Json) {
                c.data_type = Some(DataType::Text);
            }
            c.nullable = true;
            raw_table = raw_table.with_column(c);
        }
        let (raw, drop_raw, create_raw) = {
            let sd = self.staging_dialect();
            let raw = sd.table(&raw_table.name);
            (
                raw.clone(),
                format!("DROP TABLE IF EXISTS {raw}"),
                sd.create_table(&raw_table),
            )
        };
        self.exec(&drop_raw, &context).await?;
        self.exec(&create_raw, &context).await?;
        for location in locations {
            self.queued.push(Queued::Copy {
                target: raw.clone(),
                location,
                context: context.clone(),
            });
        }
        let d = self.dialect();
        let cols: Vec<&Column> = t.table.complete_columns().collect();
        let names = cols.iter().map(|c| d.quote(&c.name)).collect::<Vec<_>>();
        let values = cols
            .iter()
            .map(|c| {
                if c.data_type == Some(DataType::Json) {
                    format!("PARSE_JSON({})", d.quote(&c.name))
                } else {
                    d.quote(&c.name)
                }
            })
            .collect::<Vec<_>>();
        let insert = format!(
            "INSERT INTO {target} ({}) SELECT {} FROM {raw}",
            names.join(", "),
            values.join(", ")
        );
        self.queued.push(Queued::Sql {
            sql: insert,
            context,
        });
        self.cleanup.push(drop_raw);
        Ok(())
    }

    /// Queue the load of the chain's files into its tables.
    pub(crate) async fn write_append(&mut self, job: &ChainJob) -> Result<()> {
        for t in job.tables() {
            let target = self.dialect().table(&t.table.name);
            self.stage_table(&job.load_id, t, &target).await?;
        }
        Ok(())
    }

    /// Queue deletes of the chain's rows, then the load of its files.
    pub(crate) async fn write_replace(&mut self, job: &ChainJob) -> Result<()> {
        let existing = self.existing_tables().await?;
        let tables: Vec<(String, String)> = {
            let d = self.dialect();
            job.tables()
                .map(|t| (d.table(&t.table.name), t.table.name.clone()))
                .collect()
        };
        let deletes = self.dialect().delete_chain(job);
        for sql in deletes {
            // Skip tables that are not in the database (dropped by hand, never created).
            let name = tables
                .iter()
                .find(|(q, _)| sql.ends_with(q.as_str()))
                .map(|(_, n)| n.clone());
            if let Some(name) = &name
                && !existing.contains(&self.folded(name))
            {
                continue;
            }
            self.queued.push(Queued::Sql {
                sql,
                context: format!(
                    "cannot empty table {} for replace",
                    name.as_deref().unwrap_or("?")
                ),
            });
        }
        self.write_append(job).await
    }

    /// Load the chain's files into staging tables and queue the merge statements.
    pub(crate) async fn write_merge(&mut self, job: &ChainJob) -> Result<()> {
        let root_name = job.root.table.name.clone();
        let statements = stage_for_merge(self, job).await?;
        let context = format!("cannot merge into table {root_name}");
        for sql in statements {
            self.queued.push(Queued::Sql {
                sql,
                context: context.clone(),
            });
        }
        Ok(())
    }

    /// Run one queued statement (in the load's transaction).
    pub(crate) async fn run_queued(&mut self, q: Queued) -> Result<()> {
        match q {
            Queued::Sql { sql, context } => {
                self.exec(&sql, &context).await?;
            }
            Queued::Copy {
                target,
                location,
                context,
            } => {
                let options = if self.parquet_options {
                    PARQUET_OPTIONS
                } else {
                    ""
                };
                // FORCE: whether a package was loaded is decided by `_dlt_loads`, not by
                // Snowflake's load history (a rolled back attempt must load again).
                let sql = format!(
                    "COPY INTO {target} FROM {location} FILE_FORMAT = (TYPE = 'PARQUET'{options}) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE FORCE = TRUE"
                );
                let r = self.exec(&sql, &context).await?;
                check_copy_result(&r).map_err(|e| e.context(&context))?;
            }
        }
        Ok(())
    }
}

/// A `COPY INTO` answer lists one row per file with a `status`; any status other than
/// `LOADED` (or a copy of nothing) is an error.
fn check_copy_result(r: &QueryResult) -> Result<()> {
    let Some(status_col) = r
        .rowtype
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("status"))
    else {
        return Ok(());
    };
    let error_col = r
        .rowtype
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("first_error"));
    let statuses = strings(&r.batches, status_col)?;
    let errors = match error_col {
        Some(i) => strings(&r.batches, i)?,
        None => vec![None; statuses.len()],
    };
    for (status, err) in statuses.iter().zip(errors) {
        let s = status.as_deref().unwrap_or("").to_ascii_uppercase();
        if s == "LOADED" || s.starts_with("COPY EXECUTED") {
            continue;
        }
        return Err(Error::destination(format!(
            "COPY INTO reported status {s}: {}",
            err.unwrap_or_else(|| "no error message".into())
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl StagingDataset for SnowflakeDestination {
    fn target_dialect(&self) -> SqlDialect<'_> {
        self.dialect()
    }

    fn staging_dialect(&self) -> SqlDialect<'_> {
        SnowflakeDestination::staging_dialect(self)
    }

    async fn ensure_staging_dataset(&mut self) -> Result<()> {
        self.ensure_staging_schema().await
    }

    async fn run_statement(&mut self, sql: &str, context: &str) -> Result<()> {
        self.exec(sql, context).await.map(|_| ())
    }

    /// The files are uploaded now; their `COPY INTO` is queued for the load's transaction.
    async fn fill_staging(&mut self, load_id: &str, table: &TableJob, target: &str) -> Result<()> {
        self.stage_table(load_id, table, target).await
    }

    fn clean_up_later(&mut self, sql: String) {
        self.cleanup.push(sql);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_paths_are_plain() {
        assert!(is_stage_safe("orders.0.parquet"));
        assert!(!is_stage_safe("ünï.0.parquet"));
        assert!(!is_stage_safe("a b.parquet"));
    }
}
