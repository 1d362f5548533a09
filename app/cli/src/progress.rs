//! A one-line progress display on a terminal, redrawn four times a second: while extracting,
//! the source's counters (requests, rows, retries per resource, for the REST and Forter
//! sources) and the normalizer's (items, rows written, rates); while loading, the table chain
//! being written, tables and rows done of the total, and the rate. Off a terminal the source and
//! the pipeline log the same facts as lines instead (every few seconds, and per table chain);
//! `--quiet` shows neither.

use sluice_core::{ResourceTrace, SourceCounters};
use sluice_pipeline::progress::{RunCounts, RunProgress, Step, rate};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// The status line for a snapshot of counters.
pub fn status_line(counts: &[ResourceTrace], elapsed: Duration) -> String {
    let requests: u64 = counts.iter().map(|c| c.requests).sum();
    let rows: u64 = counts.iter().map(|c| c.rows).sum();
    let retries: u64 = counts.iter().map(|c| c.retries).sum();
    let done = counts.iter().filter(|c| c.done).count();
    let active: Vec<String> = counts
        .iter()
        .filter(|c| !c.done && c.requests > 0)
        .take(3)
        .map(|c| format!("{} {} rows/{} pages", c.resource, c.rows, c.pages))
        .collect();
    let secs = elapsed.as_secs_f64().max(0.001);
    let mut line = format!(
        "[{:>6.1}s] {requests} requests ({:.0}/s), {rows} rows, {retries} retries, {done}/{} resources done",
        secs,
        requests as f64 / secs,
        counts.len()
    );
    if !active.is_empty() {
        line.push_str(" | ");
        line.push_str(&active.join(", "));
    }
    line
}

/// The status line of the load step.
pub fn load_line(run: &RunCounts) -> String {
    let (tables, tables_done) = run.tables;
    let (rows, rows_done) = run.rows;
    format!(
        "[{:>6.1}s] loading {} ({tables_done}/{tables} tables), {rows_done}/{rows} rows ({})",
        run.step_elapsed.as_secs_f64(),
        run.table,
        rate(rows_done, run.step_elapsed)
    )
}

/// The status line of the extract step: the source's counters when it has them, then the
/// normalizer's.
pub fn extract_line(counts: Option<&[ResourceTrace]>, run: &RunCounts) -> String {
    let normalized = format!(
        "{} items normalized ({}), {} rows written",
        run.items,
        rate(run.items, run.step_elapsed),
        run.rows_normalized
    );
    match counts {
        Some(c) => format!("{} | {normalized}", status_line(c, run.step_elapsed)),
        None => format!("[{:>6.1}s] {normalized}", run.step_elapsed.as_secs_f64()),
    }
}

/// Redraw the status line on stderr until [`finish`]; does nothing when stderr is not a
/// terminal or `quiet` is set.
pub fn show(
    progress: Option<Arc<dyn SourceCounters>>,
    run: Arc<RunProgress>,
    quiet: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let counts = run.snapshot();
            let line = match counts.step {
                Step::Idle => continue,
                Step::Extract => {
                    let source = progress.as_ref().map(|p| p.snapshot());
                    extract_line(source.as_deref(), &counts)
                }
                Step::Load => load_line(&counts),
            };
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K{line}");
            let _ = err.flush();
        }
    }))
}

/// Stop the display and clear its line.
pub fn finish(handle: Option<tokio::task::JoinHandle<()>>) {
    if let Some(h) = handle {
        h.abort();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K");
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(resource: &str, rows: u64, requests: u64, done: bool) -> ResourceTrace {
        ResourceTrace {
            resource: resource.into(),
            pages: requests,
            rows,
            requests,
            retries: 1,
            bytes: 0,
            done,
        }
    }

    #[test]
    fn status_line_sums_and_names_active_resources() {
        let line = status_line(
            &[counts("users", 12, 3, true), counts("posts", 30, 15, false)],
            Duration::from_secs(2),
        );
        assert!(line.contains("18 requests (9/s)"), "{line}");
        assert!(
            line.contains("42 rows, 2 retries, 1/2 resources done"),
            "{line}"
        );
        assert!(line.ends_with("| posts 30 rows/15 pages"), "{line}");
    }
}
