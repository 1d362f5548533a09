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
//! the folder) happens under the lock too. It holds who has it (host, process id, since when),
//! for the message of a run that finds it taken. With a wait ([`PipelineLock::acquire_waiting`],
//! `sluice run --wait`), the second run waits for the first one to finish instead, up to a limit.
//! A lock of a process that died is free at once: the operating system releases it with the
//! process, so no stale lock is ever "taken over" by guessing.

use crate::paths::PipelinePaths;
use sluice_core::{Error, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
        Self::acquire_waiting(paths, name, None)
    }

    /// Take the lock of pipeline `name`; when another run holds it, wait up to `wait` for it
    /// (checking every 200 ms, saying once who holds it), or fail at once when `wait` is `None`.
    /// The error names the holder and the lock file. Called from async code, the wait does not
    /// stall the runtime (see [`sluice_core::blocking::blocking`]).
    pub fn acquire_waiting(
        paths: &PipelinePaths,
        name: &str,
        wait: Option<Duration>,
    ) -> Result<Self> {
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
        let deadline = wait.map(|w| Instant::now() + w);
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let who = holder(&mut file);
                    match deadline {
                        Some(d) if Instant::now() < d => {
                            if !told {
                                tracing::warn!(
                                    "pipeline {name} is in use by {who}; waiting for it to finish"
                                );
                                told = true;
                            }
                            sluice_core::blocking::blocking(|| std::thread::sleep(POLL));
                        }
                        _ => return Err(in_use(name, &who, &path, wait)),
                    }
                }
                Err(TryLockError::Error(e)) => {
                    return Err(
                        Error::storage(format!("cannot lock {}", path.display())).with_source(e)
                    );
                }
            }
        }
        // Who holds it, for the message of a run that finds it taken. Best effort.
        let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = file.set_len(0);
        let _ = file.seek(SeekFrom::Start(0));
        let _ = write!(
            file,
            "host {}, pid {}, since {started}",
            host_name(),
            std::process::id()
        );
        let _ = file.flush();
        Ok(Self { file, path })
    }
}

/// How often a waiting run checks the lock.
const POLL: Duration = Duration::from_millis(200);

/// Who holds the lock, as its holder wrote it ("another run" when it wrote nothing yet).
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.read_to_string(&mut text);
    match text.trim() {
        "" => "another run".to_string(),
        held => format!("another run ({held})"),
    }
}

/// The error of a run that did not get the lock.
fn in_use(name: &str, who: &str, path: &Path, waited: Option<Duration>) -> Error {
    let what_to_do = match waited {
        Some(w) => format!(
            "it was still held after waiting {} s. Wait longer (--wait SECONDS)",
            w.as_secs()
        ),
        None => "Wait for it to finish (--wait SECONDS makes this run wait)".to_string(),
    };
    Error::new(
        sluice_core::ErrorKind::Storage,
        format!(
            "pipeline {name} is in use by {who}: two runs of one pipeline would overwrite each \
             other's packages and state. {what_to_do}; the lock {} is released when that run \
             ends, also if it is killed. Or give this run another --pipeline-name",
            path.display()
        ),
    )
}

/// This machine's host name, for the lock holder's line (best effort).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".to_string())
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
                && err.contains(&format!("host {}", host_name()))
                && err.contains("--wait")
                && err.contains("shop.lock"),
            "{err}"
        );
        // Another pipeline in the same folder is independent.
        PipelineLock::acquire(&PipelinePaths::new(dir.path(), "other"), "other").unwrap();
        drop(first);
        PipelineLock::acquire(&paths, "shop").unwrap();
    }

    #[test]
    fn a_waiting_holder_gets_the_lock_when_the_first_lets_go_or_gives_up_in_time() {
        let dir = tempfile::tempdir().unwrap();
        let paths = PipelinePaths::new(dir.path(), "shop");
        let first = PipelineLock::acquire(&paths, "shop").unwrap();
        // Still held after the wait: a clear error, after about the wait.
        let started = Instant::now();
        let err = PipelineLock::acquire_waiting(&paths, "shop", Some(Duration::from_millis(500)))
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() >= Duration::from_millis(500));
        assert!(err.contains("still held after waiting"), "{err}");
        // Released while waiting: the waiter takes it.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            drop(first);
        });
        let second =
            PipelineLock::acquire_waiting(&paths, "shop", Some(Duration::from_secs(30))).unwrap();
        releaser.join().unwrap();
        drop(second);
    }
}
