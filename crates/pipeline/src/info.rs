//! What a run did, printed the way dlt prints its load info.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// One loaded package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageSummary {
    /// Load id.
    pub load_id: String,
    /// Rows per table.
    pub rows: IndexMap<String, u64>,
    /// Whether this package was found already loaded at the destination (nothing written twice).
    pub already_loaded: bool,
}

/// The result of [`Pipeline::run`](crate::Pipeline::run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Pipeline name.
    pub pipeline_name: String,
    /// Destination name.
    pub destination_name: String,
    /// Dataset name.
    pub dataset_name: String,
    /// Where the destination stores data (no secrets).
    pub location: String,
    /// Packages loaded by this run, oldest first.
    pub packages: Vec<PackageSummary>,
    /// Time spent loading.
    pub load_elapsed: Duration,
    /// Time of the whole run.
    pub elapsed: Duration,
    /// Pending packages from an earlier run were loaded and no new data was extracted.
    pub pending_only: bool,
    /// Warnings to show (key collisions, discarded rows).
    pub warnings: Vec<String>,
    /// When the run started (RFC 3339, UTC).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Time spent extracting and normalizing (one streaming step); `None` when the run only
    /// loaded pending packages.
    #[serde(default)]
    pub extract_elapsed: Option<Duration>,
    /// What the source did per resource (requests, retries, pages, rows, bytes), for sources
    /// that count.
    #[serde(default)]
    pub resources: Vec<sluice_core::ResourceTrace>,
}

impl RunInfo {
    /// The run's steps and how long each took: extract and normalize (when the run extracted),
    /// load, and the whole run.
    pub fn steps(&self) -> Vec<(&'static str, Duration)> {
        let mut steps = Vec::new();
        if let Some(d) = self.extract_elapsed {
            steps.push(("extract and normalize", d));
        }
        steps.push(("load", self.load_elapsed));
        steps.push(("total", self.elapsed));
        steps
    }

    /// Rows per table over all packages.
    pub fn rows_per_table(&self) -> IndexMap<String, u64> {
        let mut out: IndexMap<String, u64> = IndexMap::new();
        for p in &self.packages {
            for (t, n) in &p.rows {
                *out.entry(t.clone()).or_default() += n;
            }
        }
        out
    }
}

/// A duration the way dlt (humanize.precisedelta) writes it: `1.08 seconds`,
/// `2 minutes and 3.51 seconds`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{secs:.2} seconds");
    }
    let minutes = (secs / 60.0).floor() as u64;
    let rest = secs - (minutes * 60) as f64;
    if minutes < 60 {
        return format!(
            "{minutes} minute{} and {rest:.2} seconds",
            if minutes == 1 { "" } else { "s" }
        );
    }
    let hours = minutes / 60;
    let m = minutes % 60;
    format!(
        "{hours} hour{}, {m} minute{} and {rest:.2} seconds",
        if hours == 1 { "" } else { "s" },
        if m == 1 { "" } else { "s" }
    )
}

impl fmt::Display for RunInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Pipeline {} load step completed in {}",
            self.pipeline_name,
            human_duration(self.load_elapsed)
        )?;
        writeln!(
            f,
            "{} load package(s) were loaded to destination {} and into dataset {}",
            self.packages.len(),
            self.destination_name,
            self.dataset_name
        )?;
        writeln!(
            f,
            "The {} destination used {} location to store data",
            self.destination_name, self.location
        )?;
        for p in &self.packages {
            writeln!(
                f,
                "Load package {} is LOADED and contains no failed jobs",
                p.load_id
            )?;
        }
        if self.pending_only {
            writeln!(
                f,
                "Pending packages from an interrupted run were loaded; no new data was extracted. Run again to extract new data."
            )?;
        }
        let rows = self.rows_per_table();
        if rows.is_empty() {
            writeln!(f, "No data found to normalize")?;
        } else {
            writeln!(f, "Normalized data for the following tables:")?;
            for (t, n) in rows {
                writeln!(f, "- {t}: {n} row(s)")?;
            }
        }
        for w in &self.warnings {
            writeln!(f, "Warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_dlt() {
        assert_eq!(human_duration(Duration::from_millis(1080)), "1.08 seconds");
        assert_eq!(
            human_duration(Duration::from_millis(123_510)),
            "2 minutes and 3.51 seconds"
        );
    }
}
