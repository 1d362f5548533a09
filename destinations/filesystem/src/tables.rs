//! The data files of a table: found by dlt's table prefix under every schema name that may
//! hold them, restricted to recorded loads, read back as Arrow, counted from their footers,
//! deleted (replace, drop), and the simple queries [`read::parse_query`] understands.

use crate::INIT_FILE;
use crate::destination::FilesystemDestination;
use crate::error::store_err;
use crate::layout::load_id_key;
use crate::read::{self, Projection, SimpleQuery};
use arrow::record_batch::RecordBatch;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStoreExt};
use sluice_core::{Destination, Error, Result};
use std::collections::{BTreeSet, HashSet};

impl FilesystemDestination {
    /// Schema names to look for a table's files under, when the layout has `{schema_name}`:
    /// the one set with [`Self::set_schema_name`], else those of the recorded loads.
    pub(crate) async fn schema_names_for_reading(&self) -> Result<Vec<String>> {
        if self.schema_name.is_some() || !self.settings.layout.has("schema_name") {
            return Ok(vec![self.schema_name_or_default()]);
        }
        let mut names: Vec<String> = self
            .system_files(sluice_core::LOADS_TABLE, false)
            .await?
            .into_iter()
            .map(|f| f.name)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if names.is_empty() {
            names.push(self.schema_name_or_default());
        }
        Ok(names)
    }

    /// Objects of a table under every schema name that may hold it, with each file's regex.
    async fn table_objects_any_schema(
        &self,
        table: &str,
    ) -> Result<Vec<(String, ObjectMeta, regex::Regex)>> {
        let mut out = Vec::new();
        for schema_name in self.schema_names_for_reading().await? {
            let re = self.settings.layout.file_regex(&schema_name, table);
            for (rel, meta) in self.table_objects(&schema_name, table).await? {
                out.push((rel, meta, re.clone()));
            }
        }
        Ok(out)
    }

    /// All objects of a table (every load, every format), by dlt's table prefix.
    async fn table_objects(
        &self,
        schema_name: &str,
        table: &str,
    ) -> Result<Vec<(String, ObjectMeta)>> {
        let prefix = self
            .settings
            .layout
            .table_prefix(schema_name, table)
            .map_err(|e| e.context(format!("table {table}")))?;
        let dir = prefix.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let mut out = Vec::new();
        for meta in self.list(dir).await? {
            if let Some(rel) = self.relative(&meta.location)
                && rel.starts_with(&prefix)
            {
                out.push((rel, meta));
            }
        }
        Ok(out)
    }

    /// The data files of `table` that belong to recorded loads (all of them when the layout has
    /// no `{load_id}`), oldest load first, as paths in the store.
    pub async fn table_files(&self, table: &str) -> Result<Vec<ObjectPath>> {
        let objects = self.table_objects_any_schema(table).await?;
        let completed = if self.settings.layout.has("load_id") {
            Some(self.completed_loads().await?)
        } else {
            None
        };
        let mut files: Vec<((u64, u64, String), String, ObjectPath)> = Vec::new();
        for (rel, meta, re) in objects {
            if rel.ends_with(&format!("/{INIT_FILE}")) {
                continue;
            }
            let load_id = re
                .captures(&rel)
                .and_then(|c| c.name("load_id").map(|m| m.as_str().to_string()));
            if let (Some(done), Some(id)) = (&completed, &load_id)
                && !done.contains(id)
            {
                continue;
            }
            let key = load_id_key(load_id.as_deref().unwrap_or(""));
            files.push((key, rel, meta.location));
        }
        files.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Ok(files.into_iter().map(|(_, _, p)| p).collect())
    }

    /// URLs of the data files of `table` from recorded loads, for readers such as DuckDB's
    /// `read_parquet([...], union_by_name = true)`.
    pub async fn table_file_urls(&self, table: &str) -> Result<Vec<String>> {
        Ok(self
            .table_files(table)
            .await?
            .iter()
            .map(|p| self.settings.object_url(p))
            .collect())
    }

    /// The data tables (no `_dlt_*` tables) of the newest stored schema of every schema with a
    /// recorded load, ordered by name, for readers that need the table list (such as a SQL
    /// engine creating one view per table).
    pub async fn data_tables(&mut self) -> Result<Vec<sluice_core::Table>> {
        let names: BTreeSet<String> = self
            .system_files(sluice_core::LOADS_TABLE, false)
            .await?
            .into_iter()
            .map(|f| f.name)
            .collect();
        let mut tables = std::collections::BTreeMap::new();
        for name in names {
            if let Some(schema) = self.stored_schema(&name).await? {
                for t in schema.data_tables() {
                    tables.insert(t.name.clone(), t.clone());
                }
            }
        }
        Ok(tables.into_values().collect())
    }

    /// All rows of `table` (files of recorded loads), conformed to one schema: columns that older
    /// files lack are NULL there.
    pub async fn read_table(
        &self,
        table: &str,
    ) -> Result<(arrow::datatypes::SchemaRef, Vec<RecordBatch>)> {
        let files = self.table_files(table).await?;
        let mut per_file = Vec::new();
        for f in &files {
            if f.extension() != Some("parquet") {
                return Err(Error::destination(format!(
                    "table {table} has {} files ({f}); only Parquet files can be read back here: \
                     query the files with DuckDB (read_json / read_csv)",
                    f.extension().unwrap_or("other")
                )));
            }
            per_file.push(read::read_parquet_object(self.store.clone(), f).await?);
        }
        let schemas: Vec<_> = per_file
            .iter()
            .flat_map(|batches| batches.iter().map(|b| b.schema()))
            .collect();
        let schema = read::unify_schemas(&schemas);
        let mut out = Vec::new();
        for batches in per_file {
            for b in batches {
                out.push(read::conform(&b, &schema)?);
            }
        }
        Ok((schema, out))
    }

    /// `SELECT COUNT(*)` of one table, without DuckDB.
    pub(crate) async fn count_rows(&self, table: &str) -> Result<u64> {
        let mut n = 0;
        for f in self.table_files(table).await? {
            if f.extension() != Some("parquet") {
                return Err(Error::destination(format!(
                    "table {table} has non-Parquet files ({f}): count them with DuckDB"
                )));
            }
            n += read::parquet_row_count(self.store.clone(), &f).await?;
        }
        Ok(n)
    }

    /// Remove the objects of `table` that are not in `keep`.
    pub(crate) async fn delete_table_objects(
        &self,
        schema_name: &str,
        table: &str,
        keep: &HashSet<ObjectPath>,
    ) -> Result<usize> {
        let mut n = 0;
        for (_, meta) in self.table_objects(schema_name, table).await? {
            if keep.contains(&meta.location) {
                continue;
            }
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => n += 1,
                Err(e) => {
                    return Err(store_err(format!("cannot delete {}", meta.location))(e));
                }
            }
        }
        Ok(n)
    }

    /// A simple query of one table, without DuckDB.
    pub(crate) async fn run_query(&self, q: &SimpleQuery) -> Result<Vec<RecordBatch>> {
        if let Some(ds) = &q.dataset
            && ds != &self.settings.dataset
        {
            return Err(Error::input(format!(
                "the query names dataset '{ds}', but this destination holds dataset '{}'",
                self.settings.dataset
            )));
        }
        if let Projection::Count(name) = &q.projection {
            let n = self.count_rows(&q.table).await?;
            let b = read::count_batch(name, n)?;
            if q.limit == Some(0) {
                return Ok(vec![b.slice(0, 0)]);
            }
            return Ok(vec![b]);
        }
        let (schema, batches) = self.read_table(&q.table).await?;
        read::evaluate(q, &schema, batches)
    }
}
