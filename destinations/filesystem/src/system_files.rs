//! The system files of a dataset (`_dlt_loads`, `_dlt_version`, `_dlt_pipeline_state`): their
//! names parsed into schema or pipeline, load id and hash, the recorded loads, and dlt's
//! cleanup of old state files.

use crate::FILENAME_SEPARATOR;
use crate::destination::FilesystemDestination;
use crate::error::{bad_system_file, store_err};
use crate::layout::load_id_key;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use sluice_core::Result;
use std::collections::BTreeSet;

/// A system file name split into its parts: `<name>__<load_id>[__<hash>].jsonl`.
pub(crate) struct SystemFile {
    /// The schema or pipeline name.
    pub(crate) name: String,
    /// The load id.
    pub(crate) load_id: String,
    /// The schema or state hash, for files that have one.
    pub(crate) hash: Option<String>,
    /// Where the file is.
    pub(crate) path: ObjectPath,
}

/// The newest of `files` (by load id) that `keep` accepts.
pub(crate) fn newest(
    files: Vec<SystemFile>,
    keep: impl Fn(&SystemFile) -> bool,
) -> Option<SystemFile> {
    files
        .into_iter()
        .filter(|f| keep(f))
        .max_by_key(|f| load_id_key(&f.load_id))
}

impl FilesystemDestination {
    /// A system file's JSON document and its text field `field` (`schema`, `state`); `None`
    /// for no file. A file that is not JSON or lacks the field is an error naming it.
    pub(crate) async fn read_system_doc(
        &self,
        file: Option<SystemFile>,
        field: &str,
    ) -> Result<Option<(serde_json::Value, String)>> {
        let Some(file) = file else {
            return Ok(None);
        };
        let text = crate::read::read_text(self.store.as_ref(), &file.path).await?;
        let doc: serde_json::Value = serde_json::from_str(text.trim())
            .map_err(|e| bad_system_file(&file.path, "is not JSON").with_source(e))?;
        let value = doc
            .get(field)
            .and_then(|s| s.as_str())
            .ok_or_else(|| bad_system_file(&file.path, &format!("has no '{field}' field")))?
            .to_string();
        Ok(Some((doc, value)))
    }

    /// Files in a system folder (`_dlt_loads`, …), parsed.
    pub(crate) async fn system_files(
        &self,
        folder: &str,
        with_hash: bool,
    ) -> Result<Vec<SystemFile>> {
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

    /// Keep the newest `max_state_files` state files of a pipeline (dlt's cleanup).
    pub(crate) async fn cleanup_states(&self, pipeline: &str) -> Result<()> {
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
}
