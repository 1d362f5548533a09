//! SQL over the filesystem destination, answered by an embedded DuckDB.
//!
//! [`FilesystemSqlFactory`] is registered as `filesystem` when both the `filesystem` and the
//! `duckdb` features are on. It is the plain [`FilesystemFactory`] in every respect (config,
//! capabilities, loading) except [`Destination::query`]: each query opens an in-memory DuckDB
//! connection, creates the schema `"<dataset>"` with one view per data table of the stored
//! schemas over the table's files from recorded loads
//! (`read_parquet([...], union_by_name = true)`), and runs the SQL there. Any SQL DuckDB
//! understands works, with the same quoted names as on the other destinations
//! (`"dataset"."table"`). A table of the schema without files yet is an empty table.
//!
//! This DuckDB build has no `httpfs`: files of a remote bucket (`s3://`, `gs://`, `az://`,
//! `memory://`) are first copied, streamed, into a temporary folder that lives for one query;
//! local buckets are read in place.

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use sluice_core::capabilities::FileFormat;
use sluice_core::sql::{SqlDialect, literal};
use sluice_core::{
    Capabilities, ChainJob, Destination, DestinationConfig, DestinationFactory, Error, LoadCommit,
    Result, Schema, SchemaChange, StateRecord, ValidatedConfig,
};
use sluice_filesystem::{Bucket, FilesystemDestination, FilesystemFactory};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// The `filesystem` destination with full SQL in [`Destination::query`] (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesystemSqlFactory;

#[async_trait]
impl DestinationFactory for FilesystemSqlFactory {
    fn name(&self) -> &str {
        FilesystemFactory.name()
    }

    fn capabilities(&self) -> Capabilities {
        FilesystemFactory.capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        FilesystemFactory.validate(config)
    }

    fn config_keys(&self) -> sluice_core::ConfigKeys {
        FilesystemFactory.config_keys()
    }

    fn example_config(&self) -> &'static str {
        FilesystemFactory.example_config()
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        Ok(Box::new(FilesystemSql {
            inner: FilesystemFactory.connect_filesystem(config).await?,
        }))
    }
}

/// A connected filesystem destination whose queries run in DuckDB.
#[derive(Debug)]
pub struct FilesystemSql {
    inner: FilesystemDestination,
}

impl FilesystemSql {
    /// The wrapped filesystem destination.
    pub fn filesystem(&mut self) -> &mut FilesystemDestination {
        &mut self.inner
    }

    /// The statements creating the dataset schema and one view (or empty table) per data table.
    /// Files of a remote bucket are copied into `scratch` first.
    async fn setup_sql(&mut self, scratch: &Path) -> Result<Vec<String>> {
        let settings = self.inner.settings();
        let local = matches!(settings.bucket, Bucket::Local(_));
        let reader = match settings.file_format {
            FileFormat::Parquet => "read_parquet",
            FileFormat::Jsonl => "read_json_auto",
            FileFormat::Csv => "read_csv_auto",
        };
        let caps = self.inner.capabilities().clone();
        let dialect = SqlDialect::new(&caps, settings.dataset.clone());
        let mut sql = vec![dialect.create_dataset()];
        for table in self.inner.data_tables().await? {
            let files = if local {
                self.inner.table_file_urls(&table.name).await?
            } else {
                self.copy_table_files(&table.name, scratch).await?
            };
            if files.is_empty() {
                if table.complete_columns().next().is_some() {
                    sql.push(dialect.create_table(&table));
                }
                continue;
            }
            let list: Vec<String> = files.iter().map(|f| literal(f)).collect();
            sql.push(format!(
                "CREATE VIEW {} AS SELECT * FROM {reader}([{}], union_by_name = true)",
                dialect.table(&table.name),
                list.join(", ")
            ));
        }
        Ok(sql)
    }

    /// Stream the recorded files of `table` from the bucket into `scratch`; their local paths.
    async fn copy_table_files(&self, table: &str, scratch: &Path) -> Result<Vec<String>> {
        let store = self.inner.store();
        let mut out = Vec::new();
        for (i, path) in self.inner.table_files(table).await?.into_iter().enumerate() {
            let name = path.filename().unwrap_or("file");
            let local = scratch.join(format!("{i}.{}", name.replace('/', "_")));
            let fetch_err = |e: object_store::Error| {
                Error::transient(format!("filesystem: cannot read {path} for a query"))
                    .with_source(e)
            };
            let mut stream = store.get(&path).await.map_err(fetch_err)?.into_stream();
            let mut file = tokio::fs::File::create(&local).await?;
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk.map_err(fetch_err)?).await?;
            }
            file.flush().await?;
            out.push(local.display().to_string());
        }
        Ok(out)
    }
}

fn duck_err(context: &'static str) -> impl FnOnce(duckdb::Error) -> Error {
    move |e| Error::destination(format!("filesystem (DuckDB): {context}")).with_source(e)
}

#[async_trait]
impl Destination for FilesystemSql {
    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    fn location(&self) -> String {
        self.inner.location()
    }

    async fn check(&mut self) -> Result<()> {
        self.inner.check().await
    }

    async fn initialize(&mut self) -> Result<()> {
        self.inner.initialize().await
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        self.inner.is_loaded(load_id).await
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        self.inner.begin_load(load_id).await
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        self.inner.apply_schema_changes(changes).await
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        self.inner.write_chain(job).await
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        self.inner.commit_load(commit).await
    }

    async fn abort_load(&mut self) -> Result<()> {
        self.inner.abort_load().await
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        self.inner.stored_schema(schema_name).await
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        self.inner.stored_state(pipeline_name).await
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        self.inner.drop_tables(tables).await
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let scratch = tempfile::tempdir()?;
        let setup = self.setup_sql(scratch.path()).await?;
        // DuckDB works on this thread, without stalling the runtime's other tasks.
        sluice_core::blocking::blocking(|| {
            let conn = duckdb::Connection::open_in_memory()
                .map_err(duck_err("cannot open an in-memory database"))?;
            for statement in &setup {
                conn.execute_batch(statement)
                    .map_err(duck_err("cannot create the views over the table files"))?;
            }
            let mut stmt = conn.prepare(sql).map_err(duck_err("query failed"))?;
            let arrow = stmt.query_arrow([]).map_err(duck_err("query failed"))?;
            let schema = arrow.get_schema();
            let batches: Vec<RecordBatch> = arrow.collect();
            if batches.is_empty() {
                return Ok(vec![RecordBatch::new_empty(schema)]);
            }
            Ok(batches)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::DestinationFactoryExt;

    #[test]
    fn destination_is_send() {
        fn is_send<T: Send>() {}
        is_send::<FilesystemSql>();
    }

    fn config(bucket_url: &str, dir: &std::path::Path) -> DestinationConfig {
        DestinationConfig {
            destination_name: "filesystem".into(),
            pipeline_name: "p".into(),
            dataset_name: "ds".into(),
            working_dir: dir.to_path_buf(),
            section: sluice_core::ConfigSection::from_table(
                "destination.filesystem",
                toml::Table::from_iter([("bucket_url".to_string(), bucket_url.into())]),
            ),
        }
    }

    #[tokio::test]
    async fn remote_buckets_answer_sql_through_local_copies() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = FilesystemSqlFactory
            .open(&config("memory://m/x", dir.path()))
            .await
            .unwrap();
        d.initialize().await.unwrap();
        let batches = d.query("SELECT 41 + 1 AS answer").await.unwrap();
        assert_eq!(batches[0].num_rows(), 1);
    }

    #[tokio::test]
    async fn empty_local_dataset_answers_sql() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("bucket").display().to_string();
        let mut d = FilesystemSqlFactory
            .open(&config(&url, dir.path()))
            .await
            .unwrap();
        assert_eq!(FilesystemSqlFactory.name(), "filesystem");
        let b = d.query("SELECT 40 + 2 AS n").await.unwrap();
        assert_eq!(b[0].num_rows(), 1);
    }
}
