//! One pipeline run from two machines (two pipelines dirs) into one dataset, on DuckDB and
//! Postgres: the destination's copy of the state decides. A machine whose local state is
//! behind continues from the destination's; a package extracted from a state another run has
//! committed past since is set aside, not loaded, so no row loads twice and no cursor goes back.

mod support;

use sluice_integration_tests::rest_server::RestServer;
use support::{Project, cursor_of, destinations, events, fails, ok};

fn day(d: u64) -> Option<String> {
    Some(format!("2024-01-{d:02}T00:00:00Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_machines_never_load_rows_twice_or_set_the_cursor_back() {
    let server = RestServer::start().await;
    for (destination, env) in destinations("one pipeline from two machines") {
        let p = Project::new(&server, "two_machines", destination, env, "two_machines");
        let a = p.pipelines.clone();
        let b_dir = tempfile::tempdir().unwrap();
        let b = b_dir.path().to_path_buf();
        let label = destination;
        let distinct = "SELECT COUNT(DISTINCT id) AS n FROM {dataset}.events";

        // Machine A loads events 1..5.
        server.set_events(events(1..=5));
        ok(p.run_in(&a)).await;
        assert_eq!(p.count("events").await, 5, "{label}");

        // Machine B has never run the pipeline: it starts from the destination's state.
        server.set_events(events(1..=8));
        ok(p.run_in(&b)).await;
        assert_eq!(p.count("events").await, 8, "{label}");
        assert_eq!(p.local_cursor(&b), day(8), "{label}");

        // Machine A runs again with its old local state (cursor at day 5): the destination's
        // state is newer, so A continues from it and loads only events 9 and 10.
        assert_eq!(p.local_cursor(&a), day(5), "{label}");
        server.set_events(events(1..=10));
        ok(p.run_in(&a)).await;
        assert_eq!(p.count("events").await, 10, "{label}");
        assert_eq!(p.number(distinct).await, 10, "{label}");
        assert_eq!(p.local_cursor(&a), day(10), "{label}");

        // Both machines extract from the same state at once: A's run stops after extracting
        // (its package waits), B's run loads events 11 and 12 first.
        server.set_events(events(1..=12));
        let mut a_run = p.run_in(&a);
        a_run.env("SLUICE_FAILPOINT", "after_package_commit");
        fails(a_run).await;
        ok(p.run_in(&b)).await;
        assert_eq!(p.count("events").await, 12, "{label}");

        // A's package would load events 11 and 12 again: it is set aside with a clear
        // message, nothing is written, and the destination's cursor stays at day 12.
        let stderr = fails(p.run_in(&a)).await;
        assert!(
            stderr.contains(
                "was not loaded: another run of pipeline two_machines committed state version"
            ) && stderr.contains("superseded"),
            "{label}: {stderr}"
        );
        assert_eq!(p.count("events").await, 12, "{label}");
        assert_eq!(cursor_of(&p.restored().await.0), day(12), "{label}");
        let superseded = std::fs::read_dir(a.join("two_machines/superseded"))
            .unwrap()
            .count();
        assert_eq!(superseded, 1, "{label}");

        // A's next run continues from the destination's state: nothing new, nothing twice.
        ok(p.run_in(&a)).await;
        assert_eq!(p.count("events").await, 12, "{label}");
        assert_eq!(p.number(distinct).await, 12, "{label}");
        assert_eq!(p.local_cursor(&a), day(12), "{label}");
    }
}
