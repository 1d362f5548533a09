//! Live counters of a run's steps (extract and normalize, load), readable from another task
//! while the run goes on: what a progress display shows (`Pipeline::progress`).
//!
//! Off a terminal the pipeline logs the same facts instead: a line every few seconds while
//! extracting and normalizing, and a line per table chain while loading.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The step a run is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Not started, or finished.
    Idle,
    /// Extracting items and normalizing them into package files.
    Extract,
    /// Loading packages into the destination.
    Load,
}

/// Counters of one run; share it with `Arc`.
#[derive(Debug)]
pub struct RunProgress {
    step: AtomicU8,
    step_started: Mutex<Instant>,
    items: AtomicU64,
    rows_normalized: AtomicU64,
    tables_total: AtomicU64,
    tables_done: AtomicU64,
    rows_total: AtomicU64,
    rows_loaded: AtomicU64,
    table: Mutex<String>,
}

impl Default for RunProgress {
    fn default() -> Self {
        Self {
            step: AtomicU8::new(0),
            step_started: Mutex::new(Instant::now()),
            items: AtomicU64::new(0),
            rows_normalized: AtomicU64::new(0),
            tables_total: AtomicU64::new(0),
            tables_done: AtomicU64::new(0),
            rows_total: AtomicU64::new(0),
            rows_loaded: AtomicU64::new(0),
            table: Mutex::new(String::new()),
        }
    }
}

/// A copy of the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCounts {
    /// The current step.
    pub step: Step,
    /// Time in the current step.
    pub step_elapsed: Duration,
    /// Items normalized.
    pub items: u64,
    /// Rows written into package files (root and nested tables).
    pub rows_normalized: u64,
    /// Table chains of the load in progress, and how many are loaded.
    pub tables: (u64, u64),
    /// Rows of the load in progress, and how many are loaded.
    pub rows: (u64, u64),
    /// The table chain being loaded.
    pub table: String,
}

impl RunProgress {
    fn set_step(&self, step: Step) {
        self.step.store(
            match step {
                Step::Idle => 0,
                Step::Extract => 1,
                Step::Load => 2,
            },
            Ordering::Relaxed,
        );
        *self.step_started.lock().expect("progress lock") = Instant::now();
    }

    /// Extraction and normalization start.
    pub(crate) fn extracting(&self) {
        self.items.store(0, Ordering::Relaxed);
        self.rows_normalized.store(0, Ordering::Relaxed);
        self.set_step(Step::Extract);
    }

    /// Items normalized into rows.
    pub(crate) fn normalized(&self, items: u64, rows: u64) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.rows_normalized.fetch_add(rows, Ordering::Relaxed);
    }

    /// A package's load starts: `tables` chains with `rows` rows to write.
    pub(crate) fn loading(&self, tables: u64, rows: u64) {
        self.tables_total.store(tables, Ordering::Relaxed);
        self.tables_done.store(0, Ordering::Relaxed);
        self.rows_total.store(rows, Ordering::Relaxed);
        self.rows_loaded.store(0, Ordering::Relaxed);
        self.set_step(Step::Load);
    }

    /// The chain of `table` is being written.
    pub(crate) fn loading_table(&self, table: &str) {
        *self.table.lock().expect("progress lock") = table.to_string();
    }

    /// A chain was written with `rows` rows.
    pub(crate) fn loaded_table(&self, rows: u64) {
        self.tables_done.fetch_add(1, Ordering::Relaxed);
        self.rows_loaded.fetch_add(rows, Ordering::Relaxed);
    }

    /// The run ended.
    pub(crate) fn idle(&self) {
        self.set_step(Step::Idle);
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> RunCounts {
        RunCounts {
            step: match self.step.load(Ordering::Relaxed) {
                1 => Step::Extract,
                2 => Step::Load,
                _ => Step::Idle,
            },
            step_elapsed: self.step_started.lock().expect("progress lock").elapsed(),
            items: self.items.load(Ordering::Relaxed),
            rows_normalized: self.rows_normalized.load(Ordering::Relaxed),
            tables: (
                self.tables_total.load(Ordering::Relaxed),
                self.tables_done.load(Ordering::Relaxed),
            ),
            rows: (
                self.rows_total.load(Ordering::Relaxed),
                self.rows_loaded.load(Ordering::Relaxed),
            ),
            table: self.table.lock().expect("progress lock").clone(),
        }
    }
}

/// `n` per second over `elapsed`, for people (`1.2k/s`).
pub fn rate(n: u64, elapsed: Duration) -> String {
    let r = n as f64 / elapsed.as_secs_f64().max(0.001);
    if r >= 1_000_000.0 {
        format!("{:.1}M/s", r / 1_000_000.0)
    } else if r >= 1_000.0 {
        format!("{:.1}k/s", r / 1_000.0)
    } else {
        format!("{r:.0}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_follow_the_steps() {
        let p = RunProgress::default();
        assert_eq!(p.snapshot().step, Step::Idle);
        p.extracting();
        p.normalized(10, 25);
        p.normalized(5, 5);
        let s = p.snapshot();
        assert_eq!(
            (s.step, s.items, s.rows_normalized),
            (Step::Extract, 15, 30)
        );
        p.loading(3, 30);
        p.loading_table("orders");
        p.loaded_table(20);
        let s = p.snapshot();
        assert_eq!((s.step, s.tables, s.rows), (Step::Load, (3, 1), (30, 20)));
        assert_eq!(s.table, "orders");
        p.idle();
        assert_eq!(p.snapshot().step, Step::Idle);
        assert_eq!(rate(2500, Duration::from_secs(1)), "2.5k/s");
        assert_eq!(rate(7, Duration::from_secs(2)), "4/s");
    }
}
