//! The running filesystem destination: data files written under the layout (copied Parquet,
//! or converted to JSONL and CSV), replace by removing the table's other files afterwards,
//! and the load recorded by its `_dlt_loads` file, written last.

use crate::bucket::decode_part;
use crate::config::FilesystemSettings;
use crate::convert::convert_into;
use crate::error::store_err;
use crate::layout::{PathParams, package_time};
use crate::system_files::newest;
use crate::upload::{self, UploadStats};
use crate::{FILENAME_SEPARATOR, INIT_FILE, STATE_ENGINE_VERSION, read};
use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use sluice_core::capabilities::FileFormat;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Destination, Error, LoadCommit, Result, Schema,
    SchemaChange, StateRecord,
};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// One uploaded data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// The table.
    pub table: String,
    /// The object's URL (`file:///…`, `s3://…`).
    pub url: String,
    /// Bytes and parts.
    pub stats: UploadStats,
}

/// A connected filesystem destination bound to one dataset.
pub struct FilesystemDestination {
    pub(crate) settings: FilesystemSettings,
    pub(crate) store: Arc<dyn ObjectStore>,
    root: ObjectPath,
    caps: Capabilities,
    load_id: Option<String>,
    begin_time: DateTime<Utc>,
    pub(crate) schema_name: Option<String>,
    uploads: Vec<UploadRecord>,
    /// Answer any SQL through DuckDB (the `sql` feature, see `sql.rs`) instead of only the
    /// simple queries of `read.rs`.
    #[cfg_attr(not(feature = "sql"), allow(dead_code))]
    sql: bool,
}

impl std::fmt::Debug for FilesystemDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilesystemDestination")
            .field("location", &self.settings.location())
            .field("layout", &self.settings.layout.as_str())
            .field("format", &self.settings.file_format)
            .field("load_id", &self.load_id)
            .finish()
    }
}

impl FilesystemDestination {
    /// Open the store described by `settings`.
    pub fn open(settings: FilesystemSettings) -> Result<Self> {
        let store = settings.build_store()?;
        let root = settings.dataset_root();
        Ok(Self {
            settings,
            store,
            root,
            caps: crate::capabilities(),
            load_id: None,
            begin_time: Utc::now(),
            schema_name: None,
            uploads: Vec::new(),
            sql: false,
        })
    }

    /// Answer any SQL in [`Destination::query`] with an embedded DuckDB over the loaded files,
    /// instead of only simple `SELECT`s of one table. What the factory's `connect` returns
    /// has it on.
    #[cfg(feature = "sql")]
    pub fn with_sql(mut self) -> Self {
        self.sql = true;
        self
    }

    /// The resolved settings.
    pub fn settings(&self) -> &FilesystemSettings {
        &self.settings
    }

    /// The object store client.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The dataset folder inside the store.
    pub fn dataset_root(&self) -> &ObjectPath {
        &self.root
    }

    /// The data files uploaded since the last [`Destination::begin_load`].
    pub fn uploads(&self) -> &[UploadRecord] {
        &self.uploads
    }

    /// Set the schema name used by a `{schema_name}` placeholder in the layout. Without it the
    /// name is taken from the package's `schema.json` beside the load files.
    pub fn set_schema_name(&mut self, name: impl Into<String>) {
        self.schema_name = Some(name.into());
    }

    /// The path of `rel` (a `/`-separated path under the dataset folder).
    pub(crate) fn object_path(&self, rel: &str) -> ObjectPath {
        let mut all: Vec<String> = self.root.parts().map(|p| decode_part(p.as_ref())).collect();
        all.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        ObjectPath::from_iter(all.iter().map(String::as_str))
    }

    /// The path of `meta` relative to the dataset folder, decoded.
    pub(crate) fn relative(&self, path: &ObjectPath) -> Option<String> {
        let parts = path.prefix_match(&self.root)?;
        Some(
            parts
                .map(|p| decode_part(p.as_ref()))
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    pub(crate) async fn list(&self, rel_dir: &str) -> Result<Vec<ObjectMeta>> {
        let prefix = self.object_path(rel_dir);
        let result: std::result::Result<Vec<ObjectMeta>, object_store::Error> =
            self.store.list(Some(&prefix)).try_collect().await;
        match result {
            Ok(v) => Ok(v),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(store_err(format!("cannot list {prefix}"))(e)),
        }
    }

    async fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        let path = self.object_path(rel);
        self.store
            .put(&path, PutPayload::from(bytes))
            .await
            .map_err(store_err(format!("cannot write {path}")))?;
        Ok(())
    }

    fn schema_name_for(&self, job: &ChainJob) -> String {
        if let Some(n) = &self.schema_name {
            return n.clone();
        }
        if job.schema_name.is_empty() {
            tracing::warn!(
                target: "sluice::filesystem",
                "the layout uses {{schema_name}} but the schema name is unknown; using the pipeline name"
            );
            return self.settings.pipeline_name.clone();
        }
        job.schema_name.clone()
    }

    pub(crate) fn schema_name_or_default(&self) -> String {
        self.schema_name
            .clone()
            .unwrap_or_else(|| self.settings.pipeline_name.clone())
    }

    /// Upload one package file (as is for Parquet, converted for JSONL and CSV).
    async fn upload(&self, file: &Path, path: ObjectPath) -> Result<UploadStats> {
        let s = &self.settings;
        match s.file_format {
            FileFormat::Parquet => {
                upload::upload_file(self.store.clone(), file, path, s.part_size, s.concurrency)
                    .await
            }
            format => {
                let mut up =
                    upload::Upload::new(self.store.clone(), path, s.part_size, s.concurrency);
                match convert_into(file, format, &mut up).await {
                    Ok(()) => up.finish().await,
                    Err(e) => {
                        up.abort().await;
                        Err(e)
                    }
                }
            }
        }
    }

    async fn write_system_json(&self, rel: &str, value: &serde_json::Value) -> Result<()> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        self.put_bytes(rel, bytes).await
    }
}

/// A deterministic id of a package file: the same file of the same table always maps to the
/// same object name.
pub fn file_id(table: &str, file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{table}/{name}").as_bytes());
    digest.iter().take(5).map(|b| format!("{b:02x}")).collect()
}

/// A base64 hash as a path-safe hex string (dlt's `_to_path_safe_string`).
fn path_safe_hash(hash: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(hash) {
        Ok(bytes) if !bytes.is_empty() => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        _ => hash
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect(),
    }
}

#[async_trait]
impl Destination for FilesystemDestination {
    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    fn location(&self) -> String {
        self.settings.location()
    }

    async fn check(&mut self) -> Result<()> {
        let prefix = self.root.clone();
        self.store
            .list_with_delimiter(Some(&prefix))
            .await
            .map(|_| ())
            .map_err(store_err(format!(
                "cannot reach {} (check bucket_url and the credentials)",
                self.settings.location()
            )))
    }

    async fn initialize(&mut self) -> Result<()> {
        // dlt's init markers: in the dataset folder and in each system folder.
        let markers = [
            INIT_FILE.to_string(),
            format!("{}/{INIT_FILE}", sluice_core::LOADS_TABLE),
            format!("{}/{INIT_FILE}", sluice_core::VERSION_TABLE),
            format!("{}/{INIT_FILE}", sluice_core::STATE_TABLE),
        ];
        for m in markers {
            let path = self.object_path(&m);
            match self.store.head(&path).await {
                Ok(_) => continue,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(store_err(format!(
                        "cannot reach {} (check bucket_url and the credentials)",
                        self.settings.location()
                    ))(e));
                }
            }
            self.put_bytes(&m, Vec::new())
                .await
                .map_err(|e| e.context("cannot initialize the dataset"))?;
        }
        Ok(())
    }

    async fn is_loaded(&mut self, load_id: &str) -> Result<bool> {
        Ok(self.completed_loads().await?.contains(load_id))
    }

    async fn begin_load(&mut self, load_id: &str) -> Result<()> {
        tracing::debug!(target: "sluice::filesystem", load_id, "begin load");
        self.load_id = Some(load_id.to_string());
        self.begin_time = Utc::now();
        self.uploads.clear();
        Ok(())
    }

    async fn apply_schema_changes(&mut self, changes: &[SchemaChange]) -> Result<()> {
        // Files carry their own schema: a new column simply appears in the new files.
        for c in changes {
            tracing::debug!(target: "sluice::filesystem", table = c.table_name(), "schema change (nothing to apply on files)");
        }
        Ok(())
    }

    async fn write_chain(&mut self, job: &ChainJob) -> Result<u64> {
        let disposition = match job.disposition {
            ChainDisposition::Merge => {
                tracing::warn!(
                    target: "sluice::filesystem",
                    table = %job.root.table.name,
                    "the filesystem destination cannot merge into plain files: the rows of table {} \
                     and its nested tables are appended instead (dlt does the same; deduplicate when reading)",
                    job.root.table.name
                );
                ChainDisposition::Append
            }
            d => d,
        };
        let schema_name = if self.settings.layout.has("schema_name") {
            self.schema_name_for(job)
        } else {
            self.schema_name_or_default()
        };
        let ptime = package_time(&job.load_id).unwrap_or(self.begin_time);
        let ext = self.settings.file_format.extension();
        let mut written: Vec<(String, HashSet<ObjectPath>)> = Vec::new();
        for t in job.tables() {
            let mut paths = HashSet::new();
            for file in &t.files {
                let fid = file_id(&t.table.name, file);
                let rel = self.settings.layout.render(&PathParams {
                    schema_name: &schema_name,
                    table_name: &t.table.name,
                    load_id: &job.load_id,
                    file_id: &fid,
                    ext,
                    package_time: ptime,
                });
                let path = self.object_path(&rel);
                let stats = self.upload(file, path.clone()).await.map_err(|e| {
                    e.context(format!("load {}: table {}", job.load_id, t.table.name))
                })?;
                tracing::debug!(target: "sluice::filesystem", table = %t.table.name, path = %path, bytes = stats.bytes, parts = stats.parts, "file written");
                self.uploads.push(UploadRecord {
                    table: t.table.name.clone(),
                    url: self.settings.object_url(&path),
                    stats,
                });
                paths.insert(path);
            }
            written.push((t.table.name.clone(), paths));
        }
        if disposition == ChainDisposition::Replace {
            // Only now that every new file is in place: remove the tables' other files.
            for (table, keep) in &written {
                let n = self
                    .delete_table_objects(&schema_name, table, keep)
                    .await
                    .map_err(|e| {
                        e.context(format!("load {}: replace table {table}", job.load_id))
                    })?;
                tracing::debug!(target: "sluice::filesystem", table = %table, removed = n, "replaced");
            }
        }
        Ok(job.rows())
    }

    async fn commit_load(&mut self, commit: &LoadCommit) -> Result<()> {
        let schema = &commit.schema;
        let load_id = &commit.load_id;
        let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
        let hash = path_safe_hash(&schema.version_hash);
        // 1. The schema, when this version is not stored yet.
        let stored = self
            .system_files(sluice_core::VERSION_TABLE, true)
            .await?
            .into_iter()
            .any(|f| f.name == schema.name && f.hash.as_deref() == Some(hash.as_str()));
        if !stored {
            let doc = serde_json::json!({
                "version_hash": schema.version_hash,
                "schema_name": schema.name,
                "version": schema.version,
                "engine_version": schema.engine_version,
                "inserted_at": now,
                "schema": schema.to_json()?,
            });
            let rel = format!(
                "{}/{}{FILENAME_SEPARATOR}{load_id}{FILENAME_SEPARATOR}{hash}.jsonl",
                sluice_core::VERSION_TABLE,
                schema.name
            );
            self.write_system_json(&rel, &doc)
                .await
                .map_err(|e| e.context(format!("load {load_id}: cannot store the schema")))?;
        }
        // 2. The state.
        if let Some(state) = &commit.state {
            let doc = serde_json::json!({
                "version": state.version,
                "engine_version": STATE_ENGINE_VERSION,
                "pipeline_name": state.pipeline_name,
                "state": sluice_core::state::compress_state(&state.state),
                "created_at": state.created_at,
                "version_hash": state.version_hash,
                "_dlt_load_id": load_id,
            });
            let rel = format!(
                "{}/{}{FILENAME_SEPARATOR}{load_id}{FILENAME_SEPARATOR}{hash}.jsonl",
                sluice_core::STATE_TABLE,
                state.pipeline_name
            );
            self.write_system_json(&rel, &doc).await.map_err(|e| {
                e.context(format!("load {load_id}: cannot store the pipeline state"))
            })?;
            self.cleanup_states(&state.pipeline_name).await?;
        }
        // 3. The load marker, last: only now is the load complete.
        let doc = serde_json::json!({
            "load_id": load_id,
            "schema_name": schema.name,
            "status": 0,
            "inserted_at": now,
            "schema_version_hash": schema.version_hash,
        });
        let rel = format!(
            "{}/{}{FILENAME_SEPARATOR}{load_id}.jsonl",
            sluice_core::LOADS_TABLE,
            schema.name
        );
        self.write_system_json(&rel, &doc)
            .await
            .map_err(|e| e.context(format!("load {load_id}: cannot record the load")))?;
        self.load_id = None;
        tracing::debug!(target: "sluice::filesystem", load_id = %load_id, "load committed");
        Ok(())
    }

    async fn abort_load(&mut self) -> Result<()> {
        // No transaction: what was written stays, without a load marker; the next run rewrites
        // the same objects and then records the load.
        self.load_id = None;
        Ok(())
    }

    async fn stored_schema(&mut self, schema_name: &str) -> Result<Option<Schema>> {
        let files = self.system_files(sluice_core::VERSION_TABLE, true).await?;
        let newest = newest(files, |f| f.name == schema_name);
        let Some((_, schema_text)) = self.read_system_doc(newest, "schema").await? else {
            return Ok(None);
        };
        let schema = if schema_text.trim_start().starts_with('{') {
            Schema::from_json(&schema_text)
        } else {
            serde_json::from_value(sluice_core::state::decompress_state(&schema_text)?)
                .map_err(|e| Error::input("invalid stored schema").with_source(e))
        };
        schema
            .map(Some)
            .map_err(|e| e.context(format!("stored schema '{schema_name}'")))
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        let completed = self.completed_loads().await?;
        let files = self.system_files(sluice_core::STATE_TABLE, true).await?;
        let newest = newest(files, |f| {
            f.name == pipeline_name && completed.contains(&f.load_id)
        });
        let Some((doc, state_text)) = self.read_system_doc(newest, "state").await? else {
            return Ok(None);
        };
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: doc.get("version").and_then(|v| v.as_u64()).unwrap_or(0),
            version_hash: doc
                .get("version_hash")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            state: sluice_core::state::decompress_state(&state_text)
                .map_err(|e| e.context(format!("pipeline state of '{pipeline_name}'")))?,
            created_at: doc
                .get("created_at")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
        }))
    }

    async fn drop_tables(&mut self, tables: &[String]) -> Result<()> {
        for schema_name in self.schema_names_for_reading().await? {
            for t in tables {
                self.delete_table_objects(&schema_name, t, &HashSet::new())
                    .await
                    .map_err(|e| e.context(format!("cannot drop table {t}")))?;
            }
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        #[cfg(feature = "sql")]
        if self.sql {
            return crate::sql::query(self, sql).await;
        }
        match read::parse_query(sql) {
            Some(q) => self.run_query(&q).await,
            None => Err(Error::input(
                "this destination answers only SELECT * / SELECT col, … / SELECT COUNT(*) \
                 FROM one table (with optional ORDER BY and LIMIT); for other SQL query the files with \
                 DuckDB, e.g. SELECT … FROM read_parquet('<bucket_url>/<dataset>/<table>/*.parquet', union_by_name = true)",
            )),
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;

    #[test]
    fn file_ids_are_deterministic() {
        let a = file_id("orders", Path::new("/p/1/orders.0.parquet"));
        assert_eq!(
            a,
            file_id("orders", Path::new("/elsewhere/orders.0.parquet"))
        );
        assert_ne!(a, file_id("orders", Path::new("/p/1/orders.1.parquet")));
        assert_eq!(a.len(), 10);
    }

    #[test]
    fn hashes_become_hex() {
        assert_eq!(path_safe_hash("AAEC"), "000102");
        assert_eq!(path_safe_hash("not base64!"), "not_base64_");
    }

    #[test]
    fn destination_is_send() {
        fn is_send<T: Send>() {}
        is_send::<FilesystemDestination>();
    }
}
