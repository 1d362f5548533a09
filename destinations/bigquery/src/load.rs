//! Idempotent load jobs: one package file becomes one load job whose id is derived from the
//! load id, the target table (and its creation time) and the file. Before a job is submitted
//! it is looked up; after it succeeded a marker in the chain's scratch folder records it, so a
//! retried load never loads a file twice.

use crate::destination::{BigQueryDestination, short_hash};
use crate::error::job_failed;
use crate::jobs::JobState;
use crate::ndjson;
use sluice_core::{ChainJob, DataType, Error, Result, Table, TableJob};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Attempts per file when a load job fails (each under its own job id).
const MAX_JOB_ATTEMPTS: usize = 3;

impl BigQueryDestination {
    /// Load one package file into `target` with an idempotent load job. Returns the rows the
    /// job loaded (also when an earlier run loaded it and it is not submitted again). The job
    /// is recorded in `scratch` (the chain's [`ChainJob::scratch_dir`]), where a retried load
    /// finds it.
    pub async fn load_file(
        &self,
        load_id: &str,
        table: &Table,
        target: &str,
        file: &Path,
        scratch: &Path,
    ) -> Result<u64> {
        let Some(bq_table) = self.get_table(target).await? else {
            return Err(Error::destination(format!(
                "table {target} does not exist; apply the schema first"
            )));
        };
        let generation = bq_table.creation_time.clone().unwrap_or_default();
        let file_name = file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let key = short_hash(&[load_id, target, &generation, &file_name]);
        let marker = marker_path(scratch, file, target);
        // 1. A marker from an earlier run: the job it names succeeded.
        if let Some(recorded) = read_marker(&marker, &key) {
            match self.uploader.job_state(&recorded.job_id).await? {
                JobState::Succeeded(n) => return Ok(n),
                JobState::Missing => return Ok(recorded.rows),
                JobState::Running => {
                    return self.wait_job(&recorded.job_id, target, &marker, &key).await;
                }
                JobState::Failed(_) => {}
            }
        }
        let mut data: Option<Vec<u8>> = None;
        for attempt in 0..MAX_JOB_ATTEMPTS {
            let job_id = if attempt == 0 {
                format!("sluice_{key}")
            } else {
                format!("sluice_{key}_r{attempt}")
            };
            // 2. The job under its derived id (BigQuery keeps job ids): done, running, failed?
            match self.uploader.job_state(&job_id).await? {
                JobState::Succeeded(n) => {
                    write_marker(&marker, &key, &job_id, n);
                    return Ok(n);
                }
                JobState::Running => return self.wait_job(&job_id, target, &marker, &key).await,
                JobState::Failed(e) => {
                    tracing::warn!(target: "sluice::bigquery", job_id, reason = %e.reason, "earlier load job failed; retrying under a new id");
                    continue;
                }
                JobState::Missing => {}
            }
            // 3. Submit.
            let body = match data.take() {
                Some(d) => d,
                // Decoding Parquet into NDJSON is CPU work: off the async worker.
                None => sluice_core::blocking::blocking(|| to_ndjson(table, file))?,
            };
            if body.is_empty() {
                return Ok(0);
            }
            let timeout = Duration::from_secs(self.settings.file_upload_timeout);
            let (state, actual) = self
                .uploader
                .submit(
                    &job_id,
                    &self.settings.dataset,
                    target,
                    "WRITE_APPEND",
                    body.clone(),
                    timeout,
                )
                .await?;
            match state {
                JobState::Succeeded(n) => {
                    write_marker(&marker, &key, &actual, n);
                    return Ok(n);
                }
                JobState::Running | JobState::Missing => {
                    return self.wait_job(&actual, target, &marker, &key).await;
                }
                JobState::Failed(e) => return Err(job_failed(&actual, target, &e)),
            }
        }
        Err(Error::destination(format!(
            "loading {file_name} into table {target} failed {MAX_JOB_ATTEMPTS} times"
        )))
    }

    async fn wait_job(&self, job_id: &str, target: &str, marker: &Path, key: &str) -> Result<u64> {
        let mut delay = Duration::from_millis(200);
        loop {
            match self.uploader.job_state(job_id).await? {
                JobState::Succeeded(n) => {
                    write_marker(marker, key, job_id, n);
                    return Ok(n);
                }
                JobState::Failed(e) => return Err(job_failed(job_id, target, &e)),
                JobState::Missing => {
                    return Err(Error::transient(format!(
                        "load job {job_id} into table {target} disappeared"
                    )));
                }
                JobState::Running => {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Load every file of one table of `chain` into `target`; the rows loaded.
    pub(crate) async fn load_table(
        &self,
        chain: &ChainJob,
        job: &TableJob,
        target: &str,
    ) -> Result<u64> {
        let mut rows = 0;
        for file in &job.files {
            rows += self
                .load_file(&chain.load_id, &job.table, target, file, &chain.scratch_dir)
                .await
                .map_err(|e| e.context(format!("table {}", job.table.name)))?;
        }
        Ok(rows)
    }
}

/// What a marker in the scratch folder records about the load job that loaded a package file.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct JobMarker {
    key: String,
    job_id: String,
    rows: u64,
}

/// Where the load job of `file` into `target` is recorded: in the destination's scratch folder
/// of the package, named after the table folder and file (stable across attempts).
fn marker_path(scratch: &Path, file: &Path, target: &str) -> PathBuf {
    let name = |p: Option<&Path>| {
        p.and_then(|p| p.file_name())
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    let (dir, file_name) = (name(file.parent()), name(Some(file)));
    scratch.join(format!(
        "{}.bigquery-job.json",
        short_hash(&[target, &dir, &file_name])
    ))
}

fn read_marker(path: &Path, key: &str) -> Option<JobMarker> {
    let text = sluice_core::blocking::blocking(|| std::fs::read_to_string(path)).ok()?;
    let m: JobMarker = serde_json::from_str(&text).ok()?;
    (m.key == key).then_some(m)
}

fn write_marker(path: &Path, key: &str, job_id: &str, rows: u64) {
    let m = JobMarker {
        key: key.to_string(),
        job_id: job_id.to_string(),
        rows,
    };
    let tmp = path.with_extension("tmp");
    let written = sluice_core::blocking::blocking(|| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        serde_json::to_vec(&m)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|_| std::fs::rename(&tmp, path))
    });
    if let Err(e) = written {
        tracing::warn!(target: "sluice::bigquery", "cannot record load job {job_id} next to the package file: {e}");
    }
}

/// The rows of a package file as NDJSON for a load job.
fn to_ndjson(table: &Table, file: &Path) -> Result<Vec<u8>> {
    let json_columns: HashSet<String> = table
        .complete_columns()
        .filter(|c| c.data_type == Some(DataType::Json))
        .map(|c| c.name.clone())
        .collect();
    let mut out = Vec::new();
    for batch in sluice_core::parquet_io::read_parquet(file, 8192)? {
        ndjson::write_batch(&batch?, &json_columns, &mut out)?;
    }
    Ok(out)
}
