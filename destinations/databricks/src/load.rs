//! How a chain's files reach its tables, under both loader file formats:
//!
//! - `parquet` (default): each table's files are uploaded to the staging volume with the Files
//!   API under `<volume>/<load id>/<table folder>/` with deterministic names, then loaded with
//!   one `COPY INTO … FROM '<folder>' FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' =
//!   'true')` per table. COPY INTO skips files a table has loaded already, which makes a retried
//!   append safe; replaced and staging tables load with `'force' = 'true'` (their earlier rows
//!   were deleted, so the files must load again).
//! - `insert_values`: the rows go as `INSERT … VALUES` statements ([`crate::values`]); a retried
//!   append first deletes what an earlier attempt of the same load id wrote.
//!
//! Replace deletes the chain's rows first; merge loads into staging tables in
//! `<dataset>_staging` and runs the shared delete-insert or upsert (`MERGE INTO`) SQL.

use crate::config::{DEFAULT_STAGING_VOLUME, LoaderFileFormat};
use crate::destination::DatabricksDestination;
use crate::files::volume_path;
use sluice_core::schema::{C_DLT_ID, C_DLT_LOAD_ID, C_DLT_PARENT_ID, C_DLT_ROOT_ID};
use sluice_core::sql::SqlDialect;
use sluice_core::staged_merge::{StagingDataset, stage_for_merge};
use sluice_core::staging;
use sluice_core::{ChainJob, Result, TableJob};

/// `COPY INTO target FROM 'location'` of the Parquet files in a volume folder; `force` loads
/// files the table has loaded before.
pub fn copy_into_sql(target: &str, location: &str, force: bool) -> String {
    let force = if force { ", 'force' = 'true'" } else { "" };
    format!(
        "COPY INTO {target} FROM {} FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' = 'true'{force})",
        crate::types::literal(location)
    )
}

/// `CREATE VOLUME IF NOT EXISTS` of a managed volume (quoted three-part name).
pub fn create_volume_sql(
    quote: &dyn Fn(&str) -> String,
    volume: &(String, String, String),
) -> String {
    format!(
        "CREATE VOLUME IF NOT EXISTS {}.{}.{}",
        quote(&volume.0),
        quote(&volume.1),
        quote(&volume.2)
    )
}

impl DatabricksDestination {
    /// The staging volume: `(catalog, schema, volume)`.
    pub fn staging_volume(&self) -> (String, String, String) {
        self.settings.staging_volume.clone().unwrap_or_else(|| {
            (
                self.client.catalog().to_string(),
                self.caps.casefold.apply(&self.settings.dataset),
                DEFAULT_STAGING_VOLUME.to_string(),
            )
        })
    }

    /// The folder of a load in the staging volume.
    pub fn load_folder(&self, load_id: &str) -> String {
        let (c, s, v) = self.staging_volume();
        format!("{}/{load_id}", volume_path(&c, &s, &v))
    }

    /// Create the default staging volume when sluice owns it (a configured one must exist).
    async fn ensure_volume(&mut self) -> Result<()> {
        if self.volume_ready {
            return Ok(());
        }
        if self.settings.staging_volume.is_none() {
            let sql = {
                let d = self.dialect();
                create_volume_sql(&|s| d.quote(s), &self.staging_volume())
            };
            self.exec(&sql, "cannot create the staging volume").await?;
        }
        self.volume_ready = true;
        Ok(())
    }

    /// Upload a table's files to its folder of the load; returns the folder.
    pub async fn stage_files(&mut self, load_id: &str, t: &TableJob) -> Result<String> {
        self.ensure_volume().await?;
        let folder = format!(
            "{}/{}",
            self.load_folder(load_id),
            staging::table_folder(&t.table.name)
        );
        for (n, file) in t.files.iter().enumerate() {
            let bytes = tokio::fs::read(file).await.map_err(|e| {
                sluice_core::Error::storage(format!("cannot read load file {}", file.display()))
                    .with_source(e)
            })?;
            let path = format!("{folder}/{}", staging::file_name(n, file));
            self.client.put_file(&path, bytes).await.map_err(|e| {
                e.context(format!(
                    "cannot stage a load file of table {}",
                    t.table.name
                ))
            })?;
        }
        self.staged_loads.insert(load_id.to_string());
        Ok(folder)
    }

    /// Load a table's files into `target` (qualified, quoted).
    async fn fill(&mut self, load_id: &str, t: &TableJob, target: &str, force: bool) -> Result<()> {
        if t.files.is_empty() {
            return Ok(());
        }
        let context = format!("cannot load table {}", t.table.name);
        match self.settings.loader_file_format {
            LoaderFileFormat::Parquet => {
                let folder = self.stage_files(load_id, t).await?;
                let sql = copy_into_sql(target, &folder, force);
                self.exec(&sql, &context).await?;
            }
            LoaderFileFormat::InsertValues => {
                let statements = crate::values::insert_statements(&self.dialect(), t, target)?;
                for sql in statements {
                    self.exec(&sql, &context).await?;
                }
            }
        }
        Ok(())
    }

    /// Append: rows of an earlier attempt of this load are deleted first (`insert_values`;
    /// COPY INTO skips files it loaded), then each table is filled.
    pub(crate) async fn write_append(&mut self, job: &ChainJob) -> Result<()> {
        if self.settings.loader_file_format == LoaderFileFormat::InsertValues {
            let deletes = retry_deletes(&self.dialect(), job);
            for (table, sql) in deletes {
                self.exec(&sql, &format!("cannot clear an earlier attempt in {table}"))
                    .await?;
            }
        }
        for t in job.tables() {
            let target = self.dialect().table(&t.table.name);
            self.fill(&job.load_id, t, &target, false).await?;
        }
        Ok(())
    }

    /// Replace: delete the chain's rows (children first), then fill each table.
    pub(crate) async fn write_replace(&mut self, job: &ChainJob) -> Result<()> {
        let existing = self.existing_tables().await?;
        let deletes: Vec<(String, String)> = {
            let d = self.dialect();
            job.nested
                .iter()
                .rev()
                .chain(std::iter::once(&job.root))
                .filter(|t| existing.contains(&self.caps.casefold.apply(&t.table.name)))
                .map(|t| {
                    (
                        t.table.name.clone(),
                        format!("DELETE FROM {}", d.table(&t.table.name)),
                    )
                })
                .collect()
        };
        for (table, sql) in deletes {
            self.exec(&sql, &format!("cannot empty table {table} for replace"))
                .await?;
        }
        for t in job.tables() {
            let target = self.dialect().table(&t.table.name);
            self.fill(&job.load_id, t, &target, true).await?;
        }
        Ok(())
    }

    /// Merge: fill staging tables, then run the merge statements.
    pub(crate) async fn write_merge(&mut self, job: &ChainJob) -> Result<()> {
        let statements = stage_for_merge(self, job).await?;
        let context = format!("cannot merge into table {}", job.root.table.name);
        for sql in statements {
            self.exec(&sql, &context).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StagingDataset for DatabricksDestination {
    fn target_dialect(&self) -> SqlDialect<'_> {
        self.dialect()
    }

    fn staging_dialect(&self) -> SqlDialect<'_> {
        DatabricksDestination::staging_dialect(self)
    }

    async fn ensure_staging_dataset(&mut self) -> Result<()> {
        if !self.staging_ready {
            let sql = DatabricksDestination::staging_dialect(self).create_dataset();
            self.exec(&sql, "cannot create the staging dataset").await?;
            self.staging_ready = true;
        }
        Ok(())
    }

    async fn run_statement(&mut self, sql: &str, context: &str) -> Result<()> {
        self.exec(sql, context).await.map(|_| ())
    }

    async fn fill_staging(&mut self, load_id: &str, table: &TableJob, target: &str) -> Result<()> {
        self.fill(load_id, table, target, true).await
    }

    fn clean_up_later(&mut self, sql: String) {
        self.cleanup.push(sql);
    }
}

/// Deletes of the rows an earlier attempt of `job`'s load wrote, children first: root rows by
/// `_dlt_load_id`, nested rows through `_dlt_root_id` (or their parent's rows). Tables without
/// the columns to find them are left out.
pub fn retry_deletes(d: &SqlDialect<'_>, job: &ChainJob) -> Vec<(String, String)> {
    let root = &job.root.table;
    if !root.columns.contains_key(C_DLT_LOAD_ID) {
        return Vec::new();
    }
    let root_rows = format!(
        "SELECT {} FROM {} WHERE {} = {}",
        d.quote(C_DLT_ID),
        d.table(&root.name),
        d.quote(C_DLT_LOAD_ID),
        crate::types::literal(&job.load_id)
    );
    // The `_dlt_id`s of each table's rows of this load, built parent before child.
    let mut ids: Vec<(String, String)> = vec![(root.name.clone(), root_rows.clone())];
    let mut out = Vec::new();
    for nested in &job.nested {
        let t = &nested.table;
        let condition = if t.columns.contains_key(C_DLT_ROOT_ID) {
            format!("{} IN ({root_rows})", d.quote(C_DLT_ROOT_ID))
        } else if let (true, Some((_, parent_ids))) = (
            t.columns.contains_key(C_DLT_PARENT_ID),
            t.parent
                .as_ref()
                .and_then(|p| ids.iter().find(|(name, _)| name == p)),
        ) {
            format!("{} IN ({parent_ids})", d.quote(C_DLT_PARENT_ID))
        } else {
            continue;
        };
        if t.columns.contains_key(C_DLT_ID) {
            ids.push((
                t.name.clone(),
                format!(
                    "SELECT {} FROM {} WHERE {condition}",
                    d.quote(C_DLT_ID),
                    d.table(&t.name)
                ),
            ));
        }
        out.push((
            t.name.clone(),
            format!("DELETE FROM {} WHERE {condition}", d.table(&t.name)),
        ));
    }
    out.reverse();
    out.push((
        root.name.clone(),
        format!(
            "DELETE FROM {} WHERE {} = {}",
            d.table(&root.name),
            d.quote(C_DLT_LOAD_ID),
            crate::types::literal(&job.load_id)
        ),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_and_deterministic() {
        assert_eq!(
            copy_into_sql("`ds`.`t`", "/Volumes/c/ds/v/1/t_x", false),
            "COPY INTO `ds`.`t` FROM '/Volumes/c/ds/v/1/t_x' FILEFORMAT = PARQUET COPY_OPTIONS ('mergeSchema' = 'true')"
        );
        assert!(copy_into_sql("t", "/p", true).ends_with("'force' = 'true')"));
    }
}
