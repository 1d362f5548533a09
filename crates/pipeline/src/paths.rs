//! Where pipelines live on disk.
//!
//! `~/.sluice/pipelines/<pipeline_name>/` by default; `SLUICE_PIPELINES_DIR` or
//! `--pipelines-dir` override the parent folder.

use sluice_core::{Error, Result};
use std::path::{Path, PathBuf};

/// The folder holding all pipelines: the explicit one, else `SLUICE_PIPELINES_DIR`, else
/// `~/.sluice/pipelines`.
pub fn pipelines_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("SLUICE_PIPELINES_DIR").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| {
            Error::config("HOME is not set: pass --pipelines-dir or set SLUICE_PIPELINES_DIR")
        })?;
    Ok(PathBuf::from(home).join(".sluice").join("pipelines"))
}

/// Check that a pipeline name is usable as a folder name.
pub fn validate_pipeline_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        && name != "."
        && name != "..";
    if ok {
        Ok(())
    } else {
        Err(Error::config(format!(
            "invalid pipeline name '{name}': use letters, digits, '_', '-' or '.'"
        )))
    }
}

/// The folders of one pipeline's working directory.
#[derive(Debug, Clone)]
pub struct PipelinePaths {
    /// `<pipelines_dir>/<name>`.
    pub root: PathBuf,
}

impl PipelinePaths {
    /// Paths for pipeline `name` under `pipelines_dir`.
    pub fn new(pipelines_dir: &Path, name: &str) -> Self {
        Self {
            root: pipelines_dir.join(name),
        }
    }
    /// Local state file.
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// Folder of stored schemas.
    pub fn schemas_dir(&self) -> PathBuf {
        self.root.join("schemas")
    }
    /// A stored schema file.
    pub fn schema_file(&self, schema_name: &str) -> PathBuf {
        self.schemas_dir()
            .join(format!("{schema_name}.schema.json"))
    }
    /// Packages being written (not yet complete; discarded on start).
    pub fn new_packages(&self) -> PathBuf {
        self.root.join("packages").join("new")
    }
    /// Complete packages waiting to be loaded.
    pub fn normalized_packages(&self) -> PathBuf {
        self.root.join("packages").join("normalized")
    }
    /// Loaded packages.
    pub fn loaded_packages(&self) -> PathBuf {
        self.root.join("packages").join("loaded")
    }
    /// The last run's trace.
    pub fn trace_file(&self) -> PathBuf {
        self.root.join("trace.json")
    }

    /// Create the folders.
    pub fn create(&self) -> Result<()> {
        for d in [
            self.schemas_dir(),
            self.new_packages(),
            self.normalized_packages(),
            self.loaded_packages(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| {
                Error::storage(format!("cannot create {}", d.display())).with_source(e)
            })?;
        }
        Ok(())
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut f = std::fs::File::create(&tmp)
        .map_err(|e| Error::storage(format!("cannot write {}", tmp.display())).with_source(e))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
        .map_err(|e| Error::storage(format!("cannot rename to {}", path.display())).with_source(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_pipeline_name("forter_order_v3_pipeline").is_ok());
        assert!(validate_pipeline_name("../x").is_err());
        assert!(validate_pipeline_name("").is_err());
    }

    #[test]
    fn explicit_dir_wins() {
        assert_eq!(
            pipelines_dir(Some(Path::new("/x"))).unwrap(),
            PathBuf::from("/x")
        );
    }
}
