//! One writer per pipeline on this machine.
//!
//! Every step that changes a pipeline's working dir (a run, loading pending packages, a sync
//! from the destination, `--full-refresh`) first takes an exclusive lock on
//! `<pipelines_dir>/<name>.lock`, an operating-system file lock (`flock` on Unix): it is
//! released when the pipeline value is dropped *or the process dies*, so a run killed with
//! `kill -9` never leaves a stale lock behind. A second run of the same pipeline stops at once
//! with an error naming the run that holds it, instead of deleting that run's package in
//! progress. Read-only commands (`pipeline … info`, `show`, `query`) take no lock.
//!
//! The lock file sits beside the pipeline's folder, not in it, so `--full-refresh` (which removes
//! the folder) happens under the lock too.

use crate::paths::PipelinePaths;
use sluice_core::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// A held pipeline lock; released on drop.
#[derive(Debug)]
pub struct PipelineLock {
    file: File,
    path: PathBuf,
}

impl PipelineLock {
    /// The lock file of a pipeline.
    pub fn path(paths: &PipelinePaths) -> PathBuf {
        let name = paths
            .root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        paths.root.with_file_name(format!("{name}.lock"))
    }

    /// Take the lock of pipeline `name`, or fail at once if another run holds it.
    pub fn acquire(paths: &PipelinePaths, name: &str) -> Result<Self> {
        let path = Self::path(paths);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::storage(format!("cannot create {}", dir.display())).with_source(e)
            })?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| {
                Error::storage(format!("cannot open the lock file {}", path.display()))
                    .with_source(e)
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another run".to_string()
                } else {
                    format!("another run ({holder})")
                };
                return Err(Error::new(
                    sluice_core::ErrorKind::Storage,
                    format!(
                        "pipeline {name} is in use by {who}: two runs of one pipeline would \
                         overwrite each other's packages and state. Wait for it to finish (the \
                         lock {} is released when it ends, also if it is killed), or give this run \
                         another --pipeline-name",
                        path.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(
                    Error::storage(format!("cannot lock {}", path.display())).with_source(e)
                );
            }
        }
        // Who holds it, for the message of a run that finds it taken. Best effort.
        let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(file, "pid {}, started {started}", std::process::id());
        let _ = file.flush();
        Ok(Self { file, path })
    }
}

impl Drop for PipelineLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        tracing::debug!(lock = %self.path.display(), "pipeline lock released");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PipelinePaths::new(dir.path(), "shop");
        let first = PipelineLock::acquire(&paths, "shop").unwrap();
        assert_eq!(PipelineLock::path(&paths), dir.path().join("shop.lock"));
        let err = PipelineLock::acquire(&paths, "shop")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline shop is in use")
                && err.contains(&format!("pid {}", std::process::id()))
                && err.contains("shop.lock"),
            "{err}"
        );
        // Another pipeline in the same folder is independent.
        PipelineLock::acquire(&PipelinePaths::new(dir.path(), "other"), "other").unwrap();
        drop(first);
        PipelineLock::acquire(&paths, "shop").unwrap();
    }
}
