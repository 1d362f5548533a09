//! Progress counters of a running source, per resource, readable from another task.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counters of one resource. All fields are updated while the source runs.
#[derive(Debug, Default)]
pub struct ResourceProgress {
    /// Pages received (after response actions; ignored responses are not counted).
    pub pages: AtomicU64,
    /// Rows emitted (after incremental filtering).
    pub rows: AtomicU64,
    /// HTTP requests sent, retries included.
    pub requests: AtomicU64,
    /// Requests that were retried (429, 5xx, timeouts, connection errors).
    pub retries: AtomicU64,
    /// Response body bytes received.
    pub bytes: AtomicU64,
    /// Whether all requests of the resource have finished.
    pub done: AtomicBool,
    last_log_ms: AtomicU64,
}

/// A copy of one resource's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceCounts {
    /// Resource name.
    pub resource: String,
    /// Pages received.
    pub pages: u64,
    /// Rows emitted.
    pub rows: u64,
    /// Requests sent.
    pub requests: u64,
    /// Requests retried.
    pub retries: u64,
    /// Finished.
    pub done: bool,
}

/// Progress of a whole source; share it with `Arc` (see `RestApiSource::progress`).
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    log_interval: Duration,
    resources: Mutex<Vec<(String, Arc<ResourceProgress>)>>,
}

impl Default for Progress {
    fn default() -> Self {
        Self::new(Duration::from_secs(5))
    }
}

impl Progress {
    /// New counters that log a line per resource at most every `log_interval`.
    pub fn new(log_interval: Duration) -> Self {
        Self {
            started: Instant::now(),
            log_interval,
            resources: Mutex::new(Vec::new()),
        }
    }

    /// The counters of a resource (created on first use).
    pub fn resource(&self, name: &str) -> Arc<ResourceProgress> {
        let mut r = self.resources.lock().expect("progress lock");
        if let Some((_, p)) = r.iter().find(|(n, _)| n == name) {
            return p.clone();
        }
        let p = Arc::new(ResourceProgress::default());
        r.push((name.to_string(), p.clone()));
        p
    }

    /// A copy of all counters, in resource order.
    pub fn snapshot(&self) -> Vec<ResourceCounts> {
        let r = self.resources.lock().expect("progress lock");
        r.iter()
            .map(|(n, p)| ResourceCounts {
                resource: n.clone(),
                pages: p.pages.load(Ordering::Relaxed),
                rows: p.rows.load(Ordering::Relaxed),
                requests: p.requests.load(Ordering::Relaxed),
                retries: p.retries.load(Ordering::Relaxed),
                done: p.done.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Total requests over all resources.
    pub fn total_requests(&self) -> u64 {
        self.snapshot().iter().map(|c| c.requests).sum()
    }

    /// Log a progress line for `name` if the interval has passed since the last one.
    pub(crate) fn maybe_log(&self, name: &str, p: &ResourceProgress) {
        let now = self.started.elapsed().as_millis() as u64;
        let last = p.last_log_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < self.log_interval.as_millis() as u64 {
            return;
        }
        if p.last_log_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            tracing::info!(
                resource = name,
                pages = p.pages.load(Ordering::Relaxed),
                rows = p.rows.load(Ordering::Relaxed),
                requests = p.requests.load(Ordering::Relaxed),
                retries = p.retries.load(Ordering::Relaxed),
                "extracting"
            );
        }
    }
}

impl sluice_core::SourceCounters for Progress {
    fn snapshot(&self) -> Vec<sluice_core::ResourceTrace> {
        let r = self.resources.lock().expect("progress lock");
        r.iter()
            .map(|(n, p)| sluice_core::ResourceTrace {
                resource: n.clone(),
                requests: p.requests.load(Ordering::Relaxed),
                retries: p.retries.load(Ordering::Relaxed),
                pages: p.pages.load(Ordering::Relaxed),
                rows: p.rows.load(Ordering::Relaxed),
                bytes: p.bytes.load(Ordering::Relaxed),
                done: p.done.load(Ordering::Relaxed),
            })
            .collect()
    }
}
