//! A one-line progress display on a terminal for sources that expose counters (the REST and
//! Forter sources). Off a terminal the sources log a line per resource every few seconds instead.

use sluice_rest::{Progress, ResourceCounts};
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The status line for a snapshot of counters.
pub fn status_line(counts: &[ResourceCounts], elapsed: Duration) -> String {
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

/// Redraw the status line on stderr until the returned guard is dropped; does nothing when
/// stderr is not a terminal.
pub fn show(progress: Option<Arc<Progress>>) -> Option<tokio::task::JoinHandle<()>> {
    let progress = progress?;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let started = Instant::now();
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let line = status_line(&progress.snapshot(), started.elapsed());
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

    fn counts(resource: &str, rows: u64, requests: u64, done: bool) -> ResourceCounts {
        ResourceCounts {
            resource: resource.into(),
            pages: requests,
            rows,
            requests,
            retries: 1,
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
