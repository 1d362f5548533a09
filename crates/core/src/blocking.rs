//! Blocking work called from async code.
//!
//! Destinations and the pipeline do some work that blocks a thread: an embedded database's
//! statements (DuckDB), decoding Parquet, converting files, local file I/O. Run on a tokio worker
//! as is, it stalls every other task of that worker (HTTP requests in flight, progress output).

/// Run blocking `f` from async code without stalling the runtime. On a multi-threaded runtime
/// it runs through [`tokio::task::block_in_place`]: the worker hands its other tasks to the
/// other workers first, and `f` runs on the current thread, so state tied to a thread (DuckDB's
/// open transaction) stays where it is. On a current-thread runtime (`#[tokio::test]`), or
/// outside any runtime, `f` just runs.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::blocking;

    #[test]
    fn runs_outside_a_runtime_and_on_both_flavors() {
        assert_eq!(blocking(|| 1), 1);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(async { blocking(|| 2) }), 2);
        // One worker: while a task blocks in `blocking`, another task still runs.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .unwrap();
        let ticked_in = rt.block_on(async {
            let blocker = tokio::spawn(async {
                blocking(|| std::thread::sleep(std::time::Duration::from_millis(600)))
            });
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let start = std::time::Instant::now();
            tokio::spawn(async { tokio::time::sleep(std::time::Duration::from_millis(10)).await })
                .await
                .unwrap();
            let ticked_in = start.elapsed();
            blocker.await.unwrap();
            ticked_in
        });
        assert!(
            ticked_in < std::time::Duration::from_millis(400),
            "the other task waited {ticked_in:?} for the blocked worker"
        );
    }
}
