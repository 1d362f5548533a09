//! The filesystem destination of sluice: Parquet (or JSONL, CSV) files on local disk, S3, GCS,
//! Azure or in memory, laid out the way dlt lays them out, for data lakes.
//!
//! Files go to `<bucket_url>/<dataset>/<layout>`, by default
//! `<bucket_url>/<dataset>/<table>/<load_id>.<file_id>.parquet`. The package's Parquet files are
//! copied as they are (Snappy-compressed, row groups of at most [`sluice_core::parquet_io::ROW_GROUP_SIZE`]
//! rows); JSONL and CSV are converted from them batch by batch. Files larger than one part go up
//! as multipart uploads, streamed from disk. The `file_id` is derived from the package file, so a
//! retried load writes the same object names again instead of adding duplicates.
//!
//! A load is recorded by `_dlt_loads/<schema>__<load_id>.jsonl`, written **last**, after every
//! data file, the schema (`_dlt_version/<schema>__<load_id>__<hash>.jsonl`) and the state
//! (`_dlt_pipeline_state/<pipeline>__<load_id>__<hash>.jsonl`). Readers of this crate
//! ([`Destination::query`], [`FilesystemDestination::table_files`]) only see files of recorded
//! loads when the layout has a `{load_id}`. There are no transactions: a load that fails halfway
//! leaves no marker, and the next run rewrites the same objects and then writes the marker.
//!
//! Replace writes the new files first and then removes the table's other files. Merge is not
//! possible on plain files: it appends, with a warning (as dlt does).
//!
//! ```no_run
//! use sluice_core::{DestinationFactory, Registry};
//! let mut registry = Registry::new();
//! registry.register(std::sync::Arc::new(sluice_filesystem::FilesystemFactory));
//! assert_eq!(sluice_filesystem::FilesystemFactory.name(), "filesystem");
//! ```

mod config;
pub mod layout;
pub mod read;
pub mod upload;

pub use config::{
    AzureCredentials, Bucket, DEFAULT_CONCURRENCY, DEFAULT_MAX_STATE_FILES, DEFAULT_PART_SIZE,
    FilesystemSettings, GcsCredentials, MIN_PART_SIZE, S3Credentials,
};
pub use config::{CREDENTIALS, SETTINGS};
pub use layout::{DEFAULT_LAYOUT, Layout, PathParams};
pub use upload::UploadStats;

use arrow::record_batch::RecordBatch;
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use config::{decode_part, store_err};
use futures::TryStreamExt;
use layout::{load_id_key, package_time};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use read::{Projection, SimpleQuery};
use sha2::{Digest, Sha256};
use sluice_core::capabilities::FileFormat;
use sluice_core::{
    Capabilities, ChainDisposition, ChainJob, Destination, DestinationConfig, DestinationFactory,
    Error, LoadCommit, Result, Schema, SchemaChange, StateRecord, ValidatedConfig,
};
use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::sync::Arc;

/// An example config of this destination (`sluice destinations describe filesystem`).
pub const EXAMPLE_CONFIG: &str = r#"[destination.filesystem]
bucket_url = "s3://my-bucket/lake"   # or a local path, file:///…, gs://…, az://…
layout = "{table_name}/{load_id}.{file_id}.{ext}"

[destination.filesystem.credentials]
aws_access_key_id = "AKIA..."
aws_secret_access_key = "SECRET"
region_name = "eu-central-1"
# endpoint_url = "http://127.0.0.1:9000"   # an S3-compatible server
"#;

/// The registry name of this destination.
pub const NAME: &str = "filesystem";
/// Name of the marker file that dlt puts in initialized folders.
pub const INIT_FILE: &str = "init";
/// Separator between the parts of system file names (`<schema>__<load_id>.jsonl`).
pub const FILENAME_SEPARATOR: &str = "__";
/// Engine version of the stored pipeline state (dlt's `STATE_ENGINE_VERSION`).
pub const STATE_ENGINE_VERSION: u64 = 4;

/// The filesystem destination factory (registered as `filesystem`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FilesystemFactory;

/// The filesystem destination's capabilities: case-sensitive names kept as they are, long
/// identifiers, Parquet files, no transactions, no merge (merge appends).
pub fn capabilities() -> Capabilities {
    Capabilities {
        max_identifier_length: 65536,
        max_column_identifier_length: 65536,
        ..Capabilities::default()
    }
}

#[async_trait]
impl DestinationFactory for FilesystemFactory {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    fn validate(&self, config: &DestinationConfig) -> Result<ValidatedConfig> {
        Ok(ValidatedConfig::new(
            config.clone(),
            FilesystemSettings::resolve(config)?,
        ))
    }

    async fn connect(&self, config: &ValidatedConfig) -> Result<Box<dyn Destination>> {
        Ok(Box::new(self.connect_filesystem(config).await?))
    }

    fn config_keys(&self) -> sluice_core::ConfigKeys {
        sluice_core::ConfigKeys {
            settings: config::SETTINGS.to_vec(),
            credentials: [
                config::CREDENTIALS,
                sluice_core::config::GCP_SERVICE_ACCOUNT_KEYS,
            ]
            .concat(),
        }
    }

    fn example_config(&self) -> &'static str {
        EXAMPLE_CONFIG
    }
}

impl FilesystemFactory {
    /// Connect and return the concrete destination (for programs that want its extra methods).
    pub async fn connect_filesystem(
        &self,
        config: &ValidatedConfig,
    ) -> Result<FilesystemDestination> {
        FilesystemDestination::open(config.settings::<FilesystemSettings>()?.clone())
    }
}

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
    settings: FilesystemSettings,
    store: Arc<dyn ObjectStore>,
    root: ObjectPath,
    caps: Capabilities,
    load_id: Option<String>,
    begin_time: DateTime<Utc>,
    schema_name: Option<String>,
    uploads: Vec<UploadRecord>,
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

/// A system file name split into its parts: `<name>__<load_id>[__<hash>].jsonl`.
struct SystemFile {
    name: String,
    load_id: String,
    hash: Option<String>,
    path: ObjectPath,
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
            caps: capabilities(),
            load_id: None,
            begin_time: Utc::now(),
            schema_name: None,
            uploads: Vec::new(),
        })
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
    fn object_path(&self, rel: &str) -> ObjectPath {
        let mut all: Vec<String> = self.root.parts().map(|p| decode_part(p.as_ref())).collect();
        all.extend(rel.split('/').filter(|s| !s.is_empty()).map(str::to_string));
        ObjectPath::from_iter(all.iter().map(String::as_str))
    }

    /// The path of `meta` relative to the dataset folder, decoded.
    fn relative(&self, path: &ObjectPath) -> Option<String> {
        let parts = path.prefix_match(&self.root)?;
        Some(
            parts
                .map(|p| decode_part(p.as_ref()))
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    async fn list(&self, rel_dir: &str) -> Result<Vec<ObjectMeta>> {
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

    /// Files in a system folder (`_dlt_loads`, …), parsed.
    async fn system_files(&self, folder: &str, with_hash: bool) -> Result<Vec<SystemFile>> {
        let mut out = Vec::new();
        for meta in self.list(folder).await? {
            let Some(rel) = self.relative(&meta.location) else {
                continue;
            };
            let Some(file) = rel
                .strip_prefix(folder)
                .and_then(|r| r.strip_prefix('/'))
                .and_then(|r| r.strip_suffix(".jsonl"))
            else {
                continue;
            };
            if file.contains('/') {
                continue;
            }
            let parsed = if with_hash {
                let mut it = file.rsplitn(3, FILENAME_SEPARATOR);
                let (hash, load_id, name) = (it.next(), it.next(), it.next());
                match (hash, load_id, name) {
                    (Some(h), Some(l), Some(n)) => Some((n, l, Some(h.to_string()))),
                    _ => None,
                }
            } else {
                file.rsplit_once(FILENAME_SEPARATOR)
                    .map(|(n, l)| (n, l, None))
            };
            if let Some((name, load_id, hash)) = parsed {
                out.push(SystemFile {
                    name: name.to_string(),
                    load_id: load_id.to_string(),
                    hash,
                    path: meta.location,
                });
            }
        }
        Ok(out)
    }

    /// Load ids recorded in `_dlt_loads`.
    pub async fn completed_loads(&self) -> Result<BTreeSet<String>> {
        Ok(self
            .system_files(sluice_core::LOADS_TABLE, false)
            .await?
            .into_iter()
            .map(|f| f.load_id)
            .collect())
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

    fn schema_name_or_default(&self) -> String {
        self.schema_name
            .clone()
            .unwrap_or_else(|| self.settings.pipeline_name.clone())
    }

    /// Schema names to look for a table's files under, when the layout has `{schema_name}`:
    /// the one set with [`Self::set_schema_name`], else those of the recorded loads.
    async fn schema_names_for_reading(&self) -> Result<Vec<String>> {
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
                    "filesystem: table {table} has {} files ({f}); only Parquet files can be read back here: \
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

    async fn count_rows(&self, table: &str) -> Result<u64> {
        let mut n = 0;
        for f in self.table_files(table).await? {
            if f.extension() != Some("parquet") {
                return Err(Error::destination(format!(
                    "filesystem: table {table} has non-Parquet files ({f}): count them with DuckDB"
                )));
            }
            n += read::parquet_row_count(self.store.clone(), &f).await?;
        }
        Ok(n)
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

    /// Remove the objects of `table` that are not in `keep`.
    async fn delete_table_objects(
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

    async fn write_system_json(&self, rel: &str, value: &serde_json::Value) -> Result<()> {
        let mut bytes = serde_json::to_vec(value)?;
        bytes.push(b'\n');
        self.put_bytes(rel, bytes).await
    }

    /// Keep the newest `max_state_files` state files of a pipeline (dlt's cleanup).
    async fn cleanup_states(&self, pipeline: &str) -> Result<()> {
        let max = self.settings.max_state_files as usize;
        if max == 0 {
            return Ok(());
        }
        let mut files: Vec<SystemFile> = self
            .system_files(sluice_core::STATE_TABLE, true)
            .await?
            .into_iter()
            .filter(|f| f.name == pipeline)
            .collect();
        if files.len() <= max {
            return Ok(());
        }
        files.sort_by_key(|f| load_id_key(&f.load_id));
        let excess = files.len() - max;
        for f in files.into_iter().take(excess) {
            match self.store.delete(&f.path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_err(format!("cannot delete {}", f.path))(e)),
            }
        }
        Ok(())
    }

    async fn run_query(&self, q: &SimpleQuery) -> Result<Vec<RecordBatch>> {
        if let Some(ds) = &q.dataset
            && ds != &self.settings.dataset
        {
            return Err(Error::input(format!(
                "filesystem: the query names dataset '{ds}', but this destination holds dataset '{}'",
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

/// Convert a package Parquet file to JSONL or CSV, batch by batch, into an upload.
async fn convert_into(file: &Path, format: FileFormat, up: &mut upload::Upload) -> Result<()> {
    let reader = sluice_core::parquet_io::read_parquet(file, 8192)?;
    let mut first = true;
    for batch in reader {
        let batch = batch?;
        let buf = encode_batch(&batch, format, first)?;
        first = false;
        up.write(&buf).await?;
    }
    if first && format == FileFormat::Csv {
        // An empty file still gets its header.
        let schema = parquet_schema(file)?;
        let buf = encode_batch(&RecordBatch::new_empty(schema), format, true)?;
        up.write(&buf).await?;
    }
    Ok(())
}

fn parquet_schema(file: &Path) -> Result<arrow::datatypes::SchemaRef> {
    let f = std::fs::File::open(file).map_err(|e| {
        Error::storage(format!("cannot open the load file {}", file.display())).with_source(e)
    })?;
    let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)?;
    Ok(b.schema().clone())
}

fn encode_batch(batch: &RecordBatch, format: FileFormat, header: bool) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        FileFormat::Jsonl => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(batch)?;
            w.finish()?;
        }
        FileFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(header)
                .build(&mut buf);
            w.write(batch)?;
        }
        FileFormat::Parquet => {
            return Err(Error::internal("Parquet files are copied, not converted"));
        }
    }
    Ok(buf)
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
        let newest = self
            .system_files(sluice_core::VERSION_TABLE, true)
            .await?
            .into_iter()
            .filter(|f| f.name == schema_name)
            .max_by_key(|f| load_id_key(&f.load_id));
        let Some(file) = newest else {
            return Ok(None);
        };
        let text = read::read_text(self.store.as_ref(), &file.path).await?;
        let doc: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            Error::input(format!("filesystem: {} is not JSON", file.path)).with_source(e)
        })?;
        let schema_text = doc.get("schema").and_then(|s| s.as_str()).ok_or_else(|| {
            Error::input(format!("filesystem: {} has no 'schema' field", file.path))
        })?;
        let schema = if schema_text.trim_start().starts_with('{') {
            Schema::from_json(schema_text)
        } else {
            serde_json::from_value(sluice_core::state::decompress_state(schema_text)?)
                .map_err(|e| Error::input("invalid stored schema").with_source(e))
        };
        schema
            .map(Some)
            .map_err(|e| e.context(format!("stored schema '{schema_name}'")))
    }

    async fn stored_state(&mut self, pipeline_name: &str) -> Result<Option<StateRecord>> {
        let completed = self.completed_loads().await?;
        let newest = self
            .system_files(sluice_core::STATE_TABLE, true)
            .await?
            .into_iter()
            .filter(|f| f.name == pipeline_name && completed.contains(&f.load_id))
            .max_by_key(|f| load_id_key(&f.load_id));
        let Some(file) = newest else {
            return Ok(None);
        };
        let text = read::read_text(self.store.as_ref(), &file.path).await?;
        let doc: serde_json::Value = serde_json::from_str(text.trim()).map_err(|e| {
            Error::input(format!("filesystem: {} is not JSON", file.path)).with_source(e)
        })?;
        let state_text = doc.get("state").and_then(|s| s.as_str()).ok_or_else(|| {
            Error::input(format!("filesystem: {} has no 'state' field", file.path))
        })?;
        Ok(Some(StateRecord {
            pipeline_name: pipeline_name.to_string(),
            version: doc.get("version").and_then(|v| v.as_u64()).unwrap_or(0),
            version_hash: doc
                .get("version_hash")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string(),
            state: sluice_core::state::decompress_state(state_text)
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
        match read::parse_query(sql) {
            Some(q) => self.run_query(&q).await,
            None => Err(Error::input(
                "filesystem: this destination answers only SELECT * / SELECT col, … / SELECT COUNT(*) \
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
