//! Bulk loads from the package's Parquet files: `INSERT … BY NAME SELECT * FROM
//! read_parquet([…])` into the table (append), after emptying the chain (replace), or into
//! temporary staging tables that the merge statements read (merge). Never row at a time.

use crate::destination::DuckDbDestination;
use sluice_core::sql::literal;
use sluice_core::{ChainJob, Result, TableJob};
use std::collections::HashMap;

impl DuckDbDestination {
    /// The `read_parquet` table function over a table's files.
    fn read_parquet(&self, job: &TableJob) -> String {
        let files: Vec<String> = job
            .files
            .iter()
            .map(|f| literal(&f.to_string_lossy()))
            .collect();
        format!("read_parquet([{}], union_by_name = true)", files.join(", "))
    }

    /// Bulk insert a table's files into `target` (a qualified, quoted name).
    fn insert_files(&self, job: &TableJob, target: &str) -> Result<u64> {
        if job.files.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "INSERT INTO {target} BY NAME SELECT * FROM {}",
            self.read_parquet(job)
        );
        let n = self.exec(
            &sql,
            &format!(
                "cannot load {} file(s) into table {}",
                job.files.len(),
                job.table.name
            ),
        )?;
        Ok(n as u64)
    }

    /// Append the chain's files to its tables.
    pub(crate) fn write_append(&self, job: &ChainJob) -> Result<u64> {
        let d = self.dialect();
        let mut rows = 0;
        for t in job.tables() {
            rows += self.insert_files(t, &d.table(&t.table.name))?;
        }
        Ok(rows)
    }

    /// Empty the chain's tables, then append (inside the load's transaction).
    pub(crate) fn write_replace(&self, job: &ChainJob) -> Result<u64> {
        let d = self.dialect();
        let tables: Vec<&TableJob> = job.tables().collect();
        for sql in d.delete_chain(job) {
            // Skip tables that are not in the database (dropped by hand, never created).
            let name = tables
                .iter()
                .find(|t| sql.ends_with(&d.table(&t.table.name)))
                .map(|t| t.table.name.clone());
            if let Some(name) = &name
                && !self.table_exists(name)?
            {
                continue;
            }
            self.exec(
                &sql,
                &format!(
                    "cannot empty table {} for replace",
                    name.as_deref().unwrap_or("?")
                ),
            )?;
        }
        self.write_append(job)
    }

    /// Load the chain's files into temporary staging tables and merge them with the chain's
    /// strategy.
    pub(crate) fn write_merge(&self, job: &ChainJob) -> Result<u64> {
        let root_name = &job.root.table.name;
        // Nested tables that get no rows and are not in the database (never created, dropped
        // by hand) have nothing to delete from: leave them out of the merge statements.
        let mut job = job.clone();
        let mut nested = Vec::with_capacity(job.nested.len());
        for t in std::mem::take(&mut job.nested) {
            if !t.files.is_empty() || self.table_exists(&t.table.name)? {
                nested.push(t);
            }
        }
        job.nested = nested;
        let job = &job;
        let d = self.dialect();
        let mut staging: HashMap<String, String> = HashMap::new();
        for (i, t) in job.tables().enumerate() {
            if t.files.is_empty() {
                continue;
            }
            let stg = format!("temp.main.{}", d.quote(&format!("_sluice_staging_{i}")));
            self.exec(
                &format!(
                    "CREATE OR REPLACE TEMP TABLE {} AS SELECT * FROM {} LIMIT 0",
                    d.quote(&format!("_sluice_staging_{i}")),
                    d.table(&t.table.name)
                ),
                &format!("cannot create the staging table of {}", t.table.name),
            )?;
            self.insert_files(t, &stg)?;
            staging.insert(t.table.name.clone(), stg);
        }
        let lookup = |name: &str| -> String {
            staging
                .get(name)
                .cloned()
                // A table without files has no staging table; merge SQL does not touch it then.
                .unwrap_or_else(|| d.table(name))
        };
        let mut rows = 0u64;
        let context = format!("cannot merge into table {root_name}");
        let statements = d.merge(job, &lookup)?;
        for sql in statements {
            let n = self.exec(&sql, &context)?;
            if sql.starts_with("INSERT") || sql.starts_with("MERGE") {
                rows += n as u64;
            }
        }
        for stg in staging.values() {
            self.exec(
                &format!("DROP TABLE IF EXISTS {stg}"),
                "cannot drop a staging table",
            )?;
        }
        Ok(rows)
    }
}
