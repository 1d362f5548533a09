//! Pipeline state: what a pipeline remembers between runs (dlt's `state.json`).
//!
//! The synchronized part (everything but `_local`) is stored at the destination with each
//! load that changed it, so a new machine can continue a pipeline. Source state (incremental
//! cursors) lives under `sources.<source_name>`.

use crate::paths::write_atomic;
use serde::{Deserialize, Serialize};
use sluice_core::{Error, Result, StateRecord};
use std::path::Path;

/// State that stays on this machine.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LocalState {
    /// When the last run started (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// The last load id that was loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_load_id: Option<String>,
}

/// The state of a pipeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct PipelineState {
    /// Bumped whenever the synchronized content changes.
    #[serde(rename = "_state_version", default)]
    pub version: u64,
    /// Hash of the synchronized content.
    #[serde(rename = "_version_hash", default)]
    pub version_hash: String,
    /// Pipeline name.
    pub pipeline_name: String,
    /// Dataset the pipeline loads into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// Destination name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_name: Option<String>,
    /// Name of the default schema (the first source's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_schema_name: Option<String>,
    /// All schema names.
    #[serde(default)]
    pub schema_names: Vec<String>,
    /// Per-source state (incremental cursors and such).
    #[serde(default)]
    pub sources: serde_json::Map<String, serde_json::Value>,
    /// Machine-local part, never sent to the destination.
    #[serde(rename = "_local", default)]
    pub local: LocalState,
}

impl PipelineState {
    /// A fresh state for `pipeline_name`.
    pub fn new(pipeline_name: &str) -> Self {
        Self {
            pipeline_name: pipeline_name.to_string(),
            ..Self::default()
        }
    }

    /// Read from `path`; a missing file gives a fresh state.
    pub fn load(path: &Path, pipeline_name: &str) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::storage(format!("pipeline state {} is corrupt", path.display()))
                    .with_source(e)
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::new(pipeline_name)),
            Err(e) => Err(Error::storage(format!("cannot read {}", path.display())).with_source(e)),
        }
    }

    /// Write atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &serde_json::to_vec_pretty(self)?)
    }

    /// The synchronized content as JSON (without `_local` and the version fields).
    pub fn synced(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("state serializes");
        if let Some(o) = v.as_object_mut() {
            o.remove("_local");
            o.remove("_state_version");
            o.remove("_version_hash");
        }
        v
    }

    /// Recompute the hash; bump the version when the synchronized content changed.
    /// Returns whether it changed.
    pub fn bump(&mut self) -> bool {
        let hash = sluice_core::state::state_hash(&self.synced());
        if hash == self.version_hash {
            return false;
        }
        self.version += 1;
        self.version_hash = hash;
        true
    }

    /// The record stored at the destination.
    pub fn to_record(&self) -> StateRecord {
        let mut state = self.synced();
        if let Some(o) = state.as_object_mut() {
            o.insert("_state_version".into(), self.version.into());
            o.insert("_version_hash".into(), self.version_hash.clone().into());
        }
        StateRecord {
            pipeline_name: self.pipeline_name.clone(),
            version: self.version,
            version_hash: self.version_hash.clone(),
            state,
            created_at: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// Rebuild a state from a destination record, keeping this machine's `_local` part.
    pub fn from_record(record: &StateRecord, local: LocalState) -> Result<Self> {
        let mut s: PipelineState = serde_json::from_value(record.state.clone()).map_err(|e| {
            Error::input("the state stored at the destination is not a sluice/dlt state")
                .with_source(e)
        })?;
        s.local = local;
        s.version = record.version;
        s.version_hash = record.version_hash.clone();
        Ok(s)
    }

    /// The state of one source (`null` when none).
    pub fn source_state(&self, source: &str) -> serde_json::Value {
        self.sources
            .get(source)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_bumps_on_synced_changes_only() {
        let mut s = PipelineState::new("p");
        assert!(s.bump());
        assert_eq!(s.version, 1);
        s.local.last_run = Some("now".into());
        assert!(!s.bump());
        s.sources
            .insert("src".into(), serde_json::json!({"cursor": 5}));
        assert!(s.bump());
        assert_eq!(s.version, 2);
        let rec = s.to_record();
        let back = PipelineState::from_record(&rec, s.local.clone()).unwrap();
        assert_eq!(back, s);
    }
}
