//! `sluice pipeline NAME drop` and `sluice pipeline NAME sync` end to end, on DuckDB and
//! Postgres: a drop removes a resource's tables (with nested tables) from the destination and
//! the schema and resets its state, everywhere a later restore looks; the next run loads it
//! again from the start. A sync restores a pipeline into a pipelines dir where it never ran,
//! and a run there continues incrementally.

mod support;

use sluice_integration_tests::rest_server::RestServer;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use support::{Project, SOURCE, cursor_of, destinations, events, fails, ok, output, stdout, tags};

fn day(d: u64) -> Option<String> {
    Some(format!("2024-01-{d:02}T00:00:00Z"))
}

/// The table names of the schema stored in `pipelines`.
fn schema_tables(p: &Project, pipelines: &Path) -> Vec<String> {
    let file = pipelines
        .join(&p.name)
        .join("schemas")
        .join(format!("{SOURCE}.schema.json"));
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    schema["tables"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with("_dlt"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_removes_tables_schema_and_state_and_the_next_run_reloads() {
    let server = RestServer::start().await;
    for (destination, env) in destinations("pipeline drop") {
        let p = Project::new(&server, "dropper", destination, env, "dropper");
        let first = p.pipelines.clone();
        let label = destination;
        server.set_events(events(1..=6));
        ok(p.run_in(&first)).await;
        assert_eq!(p.count("events").await, 6, "{label}");
        assert_eq!(p.count("users").await, 12, "{label}");
        assert_eq!(p.local_cursor(&first), day(6), "{label}");
        let max_version = "SELECT MAX(version) AS n FROM {dataset}._dlt_version";
        let version = p.number(max_version).await;

        // Without a terminal to ask on, only --yes drops.
        let stderr = fails(p.pipeline(&["drop", "--resources", "events"])).await;
        assert!(stderr.contains("pass --yes"), "{label}: {stderr}");
        assert!(p.has_table("events").await, "{label}");

        // Unknown names are named, with the known ones.
        let stderr = fails(p.pipeline(&["drop", "--resources", "nope,events", "--yes"])).await;
        assert!(
            stderr.contains(&format!("unknown resource(s) nope in schema {SOURCE}")),
            "{label}: {stderr}"
        );
        assert!(
            stderr.contains("known resources: events, users"),
            "{label}: {stderr}"
        );
        let stderr = fails(p.pipeline(&["drop", "--tables", "ghost", "--yes"])).await;
        assert!(
            stderr.contains("unknown table(s) ghost") && stderr.contains("events__tags"),
            "{label}: {stderr}"
        );
        assert!(p.has_table("events").await, "{label}");

        // Drop the events resource: its table and nested table, its cursor.
        let out = ok(p.pipeline(&["drop", "events", "--yes"])).await;
        let text = stdout(&out);
        for line in [
            format!(
                "About to drop the following data in dataset {} in destination {destination}:",
                p.dataset
            ),
            format!("Selected schema:: {SOURCE}"),
            r#"Selected resource(s):: ["events"]"#.to_string(),
            r#"Table(s) to drop:: ["events__tags","events"]"#.to_string(),
            r#"Resource(s) state to reset:: ["events"]"#.to_string(),
            "Dropped 2 table(s) and reset the state of 1 resource(s)".to_string(),
        ] {
            assert!(text.contains(&line), "{label}: {line} in {text}");
        }
        assert!(!p.has_table("events").await, "{label}");
        assert!(!p.has_table("events__tags").await, "{label}");
        assert_eq!(p.count("users").await, 12, "{label}");
        assert_eq!(p.local_cursor(&first), None, "{label}");
        assert_eq!(schema_tables(&p, &first), ["users"], "{label}");
        // The destination has the new schema version (older versions are deleted, as dlt
        // does) and state: a restore sees the drop.
        assert_eq!(p.count("_dlt_version").await, 1, "{label}");
        assert!(p.number(max_version).await > version, "{label}");
        let (state, fresh) = p.restored().await;
        assert_eq!(cursor_of(&state), None, "{label}");
        assert_eq!(schema_tables(&p, fresh.path()), ["users"], "{label}");

        // The next run creates the tables again and loads from the initial value.
        ok(p.run_in(&first)).await;
        assert_eq!(p.count("events").await, 6, "{label}");
        assert_eq!(p.count("events__tags").await, tags(1..=6), "{label}");
        assert_eq!(p.count("users").await, 12, "{label}");
        assert_eq!(p.local_cursor(&first), day(6), "{label}");

        // A table by name (a root table: with its nested tables and its resource's state).
        let out = ok(p.pipeline(&["drop", "--tables", "events", "--yes"])).await;
        assert!(
            stdout(&out).contains(r#"Resource(s) state to reset:: ["events"]"#),
            "{label}: {}",
            stdout(&out)
        );
        assert!(!p.has_table("events__tags").await, "{label}");
        // State only: the cursor goes, the tables stay.
        ok(p.run_in(&first)).await;
        ok(p.pipeline(&["drop", "events", "--state-only", "--yes"])).await;
        assert_eq!(p.local_cursor(&first), None, "{label}");
        assert_eq!(p.count("events").await, 6, "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_asks_on_a_terminal() {
    let server = RestServer::start().await;
    let p = Project::new(&server, "asker", "duckdb", vec![], "asker");
    server.set_events(events(1..=3));
    ok(p.run_in(&p.pipelines)).await;
    let sluice = env!("CARGO_BIN_EXE_sluice");
    // `script` runs the command on a pseudo terminal, fed with `answer`.
    let ask = |answer: &'static str| {
        let mut c = Command::new("script");
        c.current_dir(p.dir.path())
            .env("SLUICE_PIPELINES_DIR", &p.pipelines)
            .args([
                "-qec",
                &format!("'{sluice}' pipeline asker drop --tables users"),
                "/dev/null",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        async move {
            tokio::task::spawn_blocking(move || {
                let mut child = c.spawn().unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(answer.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = ask("n\n").await;
    let text = stdout(&out);
    assert!(
        text.contains("Do you want to apply these changes? [y/N]"),
        "{text}"
    );
    assert!(text.contains("Nothing was dropped"), "{text}");
    assert!(p.has_table("users").await);

    let out = ask("y\n").await;
    let text = stdout(&out);
    assert!(text.contains("Dropped 1 table(s)"), "{text}");
    assert!(!p.has_table("users").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_restores_into_an_empty_pipelines_dir_and_runs_continue() {
    let server = RestServer::start().await;
    for (destination, env) in destinations("pipeline sync") {
        let p = Project::new(&server, "syncer", destination, env, "syncer");
        let label = destination;
        server.set_events(events(1..=4));
        ok(p.run_in(&p.pipelines)).await;

        // Where the pipeline never ran, sync needs to be told the destination.
        let empty = tempfile::tempdir().unwrap();
        let stderr = fails(p.sluice_in(empty.path(), &["pipeline", "syncer", "sync"])).await;
        assert!(
            stderr.contains("not found") && stderr.contains("pass --destination"),
            "{label}: {stderr}"
        );
        // A pipeline the destination never saw: a clear error, nothing left behind.
        let stderr = fails(p.sluice_in(
            empty.path(),
            &[
                "pipeline",
                "syncer_unknown",
                "sync",
                "--destination",
                destination,
                "--dataset",
                &p.dataset,
            ],
        ))
        .await;
        assert!(
            stderr.contains("holds no state or schema of pipeline syncer_unknown"),
            "{label}: {stderr}"
        );
        assert!(!empty.path().join("syncer_unknown").exists(), "{label}");
        let stderr = fails(p.sluice_in(
            empty.path(),
            &["pipeline", "syncer", "sync", "--destination", "nowhere"],
        ))
        .await;
        assert!(stderr.contains("nowhere"), "{label}: {stderr}");
        assert!(!empty.path().join("syncer").exists(), "{label}");

        // Restore into an empty pipelines dir: state (with the cursor) and schema.
        let (state, fresh) = p.restored().await;
        assert_eq!(cursor_of(&state), day(4), "{label}");
        assert_eq!(state["destination_name"], destination, "{label}");
        assert_eq!(state["dataset_name"], p.dataset.as_str(), "{label}");
        let info = ok(p.sluice_in(fresh.path(), &["pipeline", "syncer", "info"])).await;
        assert!(
            stdout(&info).contains(&format!("Resources in schema: {SOURCE}")),
            "{label}: {}",
            stdout(&info)
        );

        // A run there continues where the first machine stopped.
        server.set_events(events(1..=7));
        let out = output(p.run_in(fresh.path())).await;
        assert!(
            out.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(p.count("events").await, 7, "{label}");
        assert_eq!(
            p.number("SELECT COUNT(DISTINCT id) AS n FROM {dataset}.events")
                .await,
            7,
            "{label}"
        );
        assert_eq!(p.local_cursor(fresh.path()), day(7), "{label}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_drop_blocks_runs_until_it_is_run_again() {
    let server = RestServer::start().await;
    let p = Project::new(&server, "halfdrop", "duckdb", vec![], "halfdrop");
    server.set_events(events(1..=6));
    ok(p.run_in(&p.pipelines)).await;

    // Killed after dropping the tables, before the new schema and state are stored.
    let mut killed = p.pipeline(&["drop", "events", "--yes"]);
    killed.env("SLUICE_FAILPOINT", "after_drop_tables");
    fails(killed).await;
    assert!(!p.has_table("events").await);

    // A run now would load into tables the schema still lists: it refuses, naming the fix.
    let stderr = fails(p.run_in(&p.pipelines)).await;
    assert!(
        stderr.contains(
            "a drop of table(s) events__tags, events in pipeline halfdrop was interrupted"
        ) && stderr.contains("sluice pipeline halfdrop drop --tables events__tags,events"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(p.pipelines.join("halfdrop/packages/normalized"))
            .unwrap()
            .next()
            .is_none(),
        "nothing was extracted"
    );
    // Another drop must complete that one first.
    let stderr = fails(p.pipeline(&["drop", "users", "--yes"])).await;
    assert!(stderr.contains("complete it first"), "{stderr}");

    // The same drop again completes it; the next run loads the resource from the start.
    ok(p.pipeline(&["drop", "events", "--yes"])).await;
    assert_eq!(p.local_cursor(&p.pipelines), None);
    ok(p.run_in(&p.pipelines)).await;
    assert_eq!(p.count("events").await, 6);
    assert_eq!(p.count("events__tags").await, tags(1..=6));
}
