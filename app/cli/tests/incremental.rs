//! Incremental loading end to end through the `sluice` binary, on DuckDB and Postgres: over
//! several runs only new rows load; the cursor advances only with a loaded package (a run
//! killed after extracting and a run whose load fails leave it where it was, and the run that
//! loads their pending package moves it); and the cursor survives a restore from the
//! destination into an empty pipelines dir.

mod support;

use sluice_integration_tests::rest_server::RestServer;
use support::{Project, cursor_of, destinations, events, fails, ok, stdout, tags};

fn day(d: u64) -> Option<String> {
    Some(format!("2024-01-{d:02}T00:00:00Z"))
}

/// Make loading into `events` fail at the destination (and [`repair`] undo it): DuckDB
/// cannot insert into a view standing where the table was; Postgres refuses the new rows by a
/// check constraint.
async fn break_events(p: &Project) {
    match p.destination {
        "duckdb" => {
            p.execute("ALTER TABLE {dataset}.events RENAME TO events_held")
                .await;
            p.execute("CREATE VIEW {dataset}.events AS SELECT * FROM {dataset}.events_held")
                .await;
        }
        _ => {
            p.execute("ALTER TABLE {dataset}.events ADD CONSTRAINT no_new_events CHECK (id <= 10)")
                .await
        }
    }
}

async fn repair(p: &Project) {
    match p.destination {
        "duckdb" => {
            p.execute("DROP VIEW {dataset}.events").await;
            p.execute("ALTER TABLE {dataset}.events_held RENAME TO events")
                .await;
        }
        _ => {
            p.execute("ALTER TABLE {dataset}.events DROP CONSTRAINT no_new_events")
                .await
        }
    }
}

/// The number of distinct event ids loaded.
async fn distinct_ids(p: &Project) -> i64 {
    p.number("SELECT COUNT(DISTINCT id) AS n FROM {dataset}.events")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_new_rows_load_and_the_cursor_moves_with_loaded_packages() {
    let server = RestServer::start().await;
    for (destination, env) in destinations("incremental loading through sluice run") {
        let p = Project::new(&server, "incremental", destination, env, "incremental");
        let first = p.pipelines.clone();
        let label = destination;

        // Run 1: everything from the initial value.
        server.set_events(events(1..=5));
        ok(p.run_in(&first)).await;
        assert_eq!(p.count("events").await, 5, "{label}");
        assert_eq!(p.count("events__tags").await, tags(1..=5), "{label}");
        assert_eq!(p.local_cursor(&first), day(5), "{label}");

        // Run 2: the server returns events since the cursor (inclusive); the one at the cursor
        // was loaded already and is not loaded again.
        server.set_events(events(1..=8));
        ok(p.run_in(&first)).await;
        assert!(
            server
                .log()
                .iter()
                .any(|l| l.contains("since=2024-01-05T00%3A00%3A00Z")),
            "{label}: {:?}",
            server.log()
        );
        assert_eq!(p.count("events").await, 8, "{label}");
        assert_eq!(distinct_ids(&p).await, 8, "{label}");
        assert_eq!(p.count("events__tags").await, tags(1..=8), "{label}");
        assert_eq!(p.local_cursor(&first), day(8), "{label}");

        // Run 3: nothing new, nothing loaded.
        ok(p.run_in(&first)).await;
        assert_eq!(p.count("events").await, 8, "{label}");

        // Run 4 is killed once its package is committed: extracted, not loaded. The cursor
        // stays, here and at the destination.
        server.set_events(events(1..=10));
        let mut killed = p.run_in(&first);
        killed.env("SLUICE_FAILPOINT", "after_package_commit");
        fails(killed).await;
        assert_eq!(p.count("events").await, 8, "{label}");
        assert_eq!(p.local_cursor(&first), day(8), "{label}");
        assert_eq!(cursor_of(&p.restored().await.0), day(8), "{label}");

        // Run 5 loads the pending package (and extracts nothing): now the cursor moves.
        let out = ok(p.run_in(&first)).await;
        assert!(
            stdout(&out).contains("Pending packages from an interrupted run were loaded"),
            "{label}: {}",
            stdout(&out)
        );
        assert_eq!(p.count("events").await, 10, "{label}");
        assert_eq!(distinct_ids(&p).await, 10, "{label}");
        assert_eq!(p.local_cursor(&first), day(10), "{label}");
        assert_eq!(cursor_of(&p.restored().await.0), day(10), "{label}");

        // Run 6 extracts two new events but its load fails: the cursor stays.
        server.set_events(events(1..=12));
        break_events(&p).await;
        let stderr = fails(p.run_in(&first)).await;
        assert!(
            stderr.contains("was not loaded and stays pending"),
            "{label}: {stderr}"
        );
        repair(&p).await;
        assert_eq!(p.count("events").await, 10, "{label}");
        assert_eq!(p.local_cursor(&first), day(10), "{label}");
        assert_eq!(cursor_of(&p.restored().await.0), day(10), "{label}");

        // Run 7 loads that package; the cursor moves.
        ok(p.run_in(&first)).await;
        assert_eq!(p.count("events").await, 12, "{label}");
        assert_eq!(distinct_ids(&p).await, 12, "{label}");
        assert_eq!(p.local_cursor(&first), day(12), "{label}");

        // The cursor survives a restore into an empty pipelines dir, and a run there loads
        // only what is new.
        server.set_events(events(1..=13));
        let (state, fresh) = p.restored().await;
        assert_eq!(cursor_of(&state), day(12), "{label}");
        ok(p.run_in(fresh.path())).await;
        assert_eq!(p.count("events").await, 13, "{label}");
        assert_eq!(distinct_ids(&p).await, 13, "{label}");
        assert_eq!(p.count("events__tags").await, tags(1..=13), "{label}");
        assert_eq!(p.local_cursor(fresh.path()), day(13), "{label}");
    }
}
