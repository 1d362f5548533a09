//! Load packages: the unit of work between normalize and load.
//!
//! A package is a folder with Parquet files per table, the schema, the schema changes, the
//! pipeline state after this package, and a manifest. It is written under `packages/new/`
//! and committed by one atomic rename into `packages/normalized/`; a crash leaves either no
//! package or a whole one. After a successful load it is renamed into `packages/loaded/`.

use crate::paths::{PipelinePaths, write_atomic};
use crate::state::PipelineState;
use arrow::record_batch::RecordBatch;
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use sluice_core::parquet_io::ParquetFileWriter;
use sluice_core::{Error, Result, Schema, SchemaChange};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Rotate a table's file after this many bytes so files stay a reasonable size.
pub const MAX_FILE_BYTES: usize = 256 * 1024 * 1024;

/// A new load id: unix time in seconds with microseconds, like dlt's (`1692364844.925480`).
pub fn new_load_id() -> String {
    let now = chrono::Utc::now();
    format!("{}.{:06}", now.timestamp(), now.timestamp_subsec_micros())
}

/// Files and rows of one table in a package.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TableFiles {
    /// File names relative to the package folder.
    pub files: Vec<String>,
    /// Rows in the files.
    pub rows: u64,
}

/// What a package holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// The load id.
    pub load_id: String,
    /// The schema (source) name.
    pub schema_name: String,
    /// When the package was created (RFC 3339).
    pub created_at: String,
    /// Root tables of the resources extracted into this package.
    pub resources: Vec<String>,
    /// Files per table.
    pub tables: IndexMap<String, TableFiles>,
    /// Whether the package carries the pipeline state.
    pub has_state: bool,
    /// Whether that state changed in this package (then it is stored at the destination).
    #[serde(default)]
    pub state_changed: bool,
}

impl Manifest {
    /// Total rows.
    pub fn rows(&self) -> u64 {
        self.tables.values().map(|t| t.rows).sum()
    }
}

/// Writes a package under `packages/new/<load_id>`.
pub struct PackageWriter {
    dir: PathBuf,
    manifest: Manifest,
    writers: HashMap<String, ParquetFileWriter>,
}

impl PackageWriter {
    /// Start a package.
    pub fn create(paths: &PipelinePaths, load_id: &str, schema_name: &str) -> Result<Self> {
        let dir = paths.new_packages().join(load_id);
        std::fs::create_dir_all(&dir).map_err(|e| {
            Error::storage(format!("cannot create package folder {}", dir.display())).with_source(e)
        })?;
        Ok(Self {
            dir,
            manifest: Manifest {
                load_id: load_id.to_string(),
                schema_name: schema_name.to_string(),
                created_at: chrono::Utc::now().to_rfc3339(),
                resources: Vec::new(),
                tables: IndexMap::new(),
                has_state: false,
                state_changed: false,
            },
            writers: HashMap::new(),
        })
    }

    /// The load id.
    pub fn load_id(&self) -> &str {
        &self.manifest.load_id
    }

    /// Record that a resource (its root table) is part of this package, even with no rows.
    pub fn add_resource(&mut self, root_table: &str) {
        if !self.manifest.resources.iter().any(|r| r == root_table) {
            self.manifest.resources.push(root_table.to_string());
        }
    }

    /// Append a batch to the table's current file; a batch with a grown schema starts a new file.
    pub fn write(&mut self, table: &str, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rotate = match self.writers.get(table) {
            Some(w) => w.schema() != batch.schema() || w.bytes_written() > MAX_FILE_BYTES,
            None => false,
        };
        if rotate {
            let w = self.writers.remove(table).expect("writer exists");
            self.finish_file(table, w)?;
        }
        if !self.writers.contains_key(table) {
            let entry = self.manifest.tables.entry(table.to_string()).or_default();
            let name = format!("{table}.{}.parquet", entry.files.len());
            let path = self.dir.join(safe_file_name(&name));
            let w = ParquetFileWriter::create(&path, batch.schema())
                .map_err(|e| e.context(format!("table {table}")))?;
            self.writers.insert(table.to_string(), w);
        }
        self.writers
            .get_mut(table)
            .expect("writer exists")
            .write(batch)
            .map_err(|e| e.context(format!("writing table {table}")))
    }

    fn finish_file(&mut self, table: &str, w: ParquetFileWriter) -> Result<()> {
        let entry = self.manifest.tables.entry(table.to_string()).or_default();
        let name = safe_file_name(&format!("{table}.{}.parquet", entry.files.len()));
        let rows = w.finish()?;
        entry.files.push(name);
        entry.rows += rows;
        Ok(())
    }

    /// Finish all files, write schema, changes, state and manifest, and commit the package by
    /// renaming it into `packages/normalized/`.
    pub fn commit(
        mut self,
        paths: &PipelinePaths,
        schema: &Schema,
        changes: &[SchemaChange],
        state: Option<(&PipelineState, bool)>,
    ) -> Result<Package> {
        let tables: Vec<String> = self.writers.keys().cloned().collect();
        for t in tables {
            let w = self.writers.remove(&t).expect("writer exists");
            self.finish_file(&t, w)?;
        }
        write_atomic(&self.dir.join("schema.json"), schema.to_json()?.as_bytes())?;
        write_atomic(
            &self.dir.join("schema_changes.json"),
            &serde_json::to_vec_pretty(changes)?,
        )?;
        if let Some((state, changed)) = state {
            self.manifest.state_changed = changed;
            write_atomic(
                &self.dir.join("state.json"),
                &serde_json::to_vec_pretty(state)?,
            )?;
            self.manifest.has_state = true;
        }
        write_atomic(
            &self.dir.join("manifest.json"),
            &serde_json::to_vec_pretty(&self.manifest)?,
        )?;
        sync_dir(&self.dir);
        let target = paths.normalized_packages().join(&self.manifest.load_id);
        std::fs::rename(&self.dir, &target).map_err(|e| {
            Error::storage(format!("cannot commit package {}", self.manifest.load_id))
                .with_source(e)
        })?;
        sync_dir(&paths.normalized_packages());
        Ok(Package {
            dir: target,
            manifest: self.manifest,
        })
    }
}

fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c == '/' || c == '\\' || c == '\0' {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// A committed package on disk.
#[derive(Debug, Clone)]
pub struct Package {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

impl Package {
    /// Open the package in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let bytes = std::fs::read(dir.join("manifest.json")).map_err(|e| {
            Error::storage(format!("package {} has no manifest", dir.display())).with_source(e)
        })?;
        let manifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::storage(format!("package {} has a corrupt manifest", dir.display()))
                .with_source(e)
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    /// The load id.
    pub fn load_id(&self) -> &str {
        &self.manifest.load_id
    }

    /// The schema stored in the package.
    pub fn schema(&self) -> Result<Schema> {
        let text = std::fs::read_to_string(self.dir.join("schema.json"))?;
        Schema::from_json(&text)
    }

    /// The pipeline state stored in the package, if any.
    pub fn state(&self) -> Result<Option<PipelineState>> {
        if !self.manifest.has_state {
            return Ok(None);
        }
        let bytes = std::fs::read(self.dir.join("state.json"))?;
        Ok(Some(serde_json::from_slice(&bytes)?))
    }

    /// The schema changes recorded when the package was made.
    pub fn changes(&self) -> Result<Vec<SchemaChange>> {
        let bytes = std::fs::read(self.dir.join("schema_changes.json"))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// Absolute paths of a table's files.
    pub fn files(&self, table: &str) -> Vec<PathBuf> {
        self.manifest
            .tables
            .get(table)
            .map(|t| t.files.iter().map(|f| self.dir.join(f)).collect())
            .unwrap_or_default()
    }

    /// The folder `destination` owns in this package (see `ChainJob::scratch_dir`):
    /// `.scratch/<destination>`, a name no table file can have. Not created here.
    pub fn scratch_dir(&self, destination: &str) -> PathBuf {
        self.dir.join(".scratch").join(destination)
    }

    /// Rows of a table in this package.
    pub fn rows(&self, table: &str) -> u64 {
        self.manifest.tables.get(table).map(|t| t.rows).unwrap_or(0)
    }

    /// Move the package into `packages/loaded/`.
    pub fn mark_loaded(self, paths: &PipelinePaths) -> Result<Package> {
        let target = paths.loaded_packages().join(self.load_id());
        if target.exists() {
            std::fs::remove_dir_all(&target)?;
        }
        std::fs::rename(&self.dir, &target).map_err(|e| {
            Error::storage(format!("cannot move package {} to loaded", self.load_id()))
                .with_source(e)
        })?;
        sync_dir(&paths.loaded_packages());
        Ok(Package {
            dir: target,
            manifest: self.manifest,
        })
    }
}

/// Packages in `dir`, oldest first.
pub fn list_packages(dir: &Path) -> Result<Vec<Package>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.push(Package::open(&entry.path())?);
        }
    }
    out.sort_by(|a, b| a.manifest.load_id.cmp(&b.manifest.load_id));
    Ok(out)
}

/// Remove packages that were never committed (a run died while writing them). Returns how many.
pub fn discard_incomplete(paths: &PipelinePaths) -> Result<usize> {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(paths.new_packages()) {
        for entry in entries.flatten() {
            std::fs::remove_dir_all(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    use std::sync::Arc;

    fn batch(cols: &[&str], n: i64) -> RecordBatch {
        let schema = Arc::new(ArrowSchema::new(
            cols.iter()
                .map(|c| Field::new(*c, DataType::Int64, true))
                .collect::<Vec<_>>(),
        ));
        let arrays = cols
            .iter()
            .map(|_| Arc::new(Int64Array::from_iter_values(0..n)) as _)
            .collect();
        RecordBatch::try_new(schema, arrays).unwrap()
    }

    #[test]
    fn package_commits_atomically_and_rotates_on_schema_growth() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = PipelinePaths::new(tmp.path(), "p");
        paths.create().unwrap();
        let mut w = PackageWriter::create(&paths, "1.000001", "src").unwrap();
        w.add_resource("t");
        w.write("t", &batch(&["a"], 3)).unwrap();
        w.write("t", &batch(&["a"], 2)).unwrap();
        w.write("t", &batch(&["a", "b"], 4)).unwrap();
        assert!(
            list_packages(&paths.normalized_packages())
                .unwrap()
                .is_empty()
        );
        let schema = Schema::new("src");
        let p = w.commit(&paths, &schema, &[], None).unwrap();
        assert_eq!(p.manifest.tables["t"].files.len(), 2);
        assert_eq!(p.rows("t"), 9);
        let listed = list_packages(&paths.normalized_packages()).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].schema().unwrap(), schema);
        let loaded = listed
            .into_iter()
            .next()
            .unwrap()
            .mark_loaded(&paths)
            .unwrap();
        assert!(loaded.dir.starts_with(paths.loaded_packages()));
        assert!(
            list_packages(&paths.normalized_packages())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn incomplete_packages_are_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = PipelinePaths::new(tmp.path(), "p");
        paths.create().unwrap();
        let mut w = PackageWriter::create(&paths, "2.000001", "src").unwrap();
        w.write("t", &batch(&["a"], 3)).unwrap();
        drop(w);
        assert_eq!(discard_incomplete(&paths).unwrap(), 1);
        assert!(
            list_packages(&paths.normalized_packages())
                .unwrap()
                .is_empty()
        );
    }
}
