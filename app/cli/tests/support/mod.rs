//! A pipeline project for end-to-end tests of incremental loading, `pipeline drop` and
//! `pipeline sync`: a pipeline file with an incremental `events` resource (with a nested
//! `tags` table) and a merged `users` resource, against the local REST test server, run by
//! the `sluice` binary into DuckDB or Postgres. Every check of the data goes through
//! `sluice query`, so the same test runs against both.

#![allow(dead_code)]

use serde_json::{Value, json};
use sluice_integration_tests::rest_server::RestServer;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The source name in the pipeline file (and so the schema name).
pub const SOURCE: &str = "events_source";

/// The destinations a test runs against: DuckDB always, Postgres when its URL is set.
pub fn destinations(what: &str) -> Vec<(&'static str, Vec<(String, String)>)> {
    let mut out = vec![("duckdb", vec![])];
    if let Some(url) = sluice_core::test_support::service_url("SLUICE_TEST_POSTGRES_URL", what) {
        out.push((
            "postgres",
            vec![("DESTINATION__POSTGRES__CREDENTIALS".to_string(), url)],
        ));
    }
    out
}

/// A dataset name no other test (or test process) uses, so Postgres schemas never meet.
pub fn unique_dataset(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{tag}_{}_{nanos}", std::process::id())
}

/// An event of the test server's `/events`, updated on day `day` of January 2024, with
/// `id % 3` tags (rows of the nested `events__tags` table).
pub fn event(id: u64, day: u64) -> Value {
    let tags: Vec<String> = (0..id % 3).map(|k| format!("t{k}")).collect();
    json!({"id": id, "updated_at": format!("2024-01-{day:02}T00:00:00Z"), "tags": tags})
}

/// Events with ids `ids`, each updated on the day of its id.
pub fn events(ids: std::ops::RangeInclusive<u64>) -> Vec<Value> {
    ids.map(|i| event(i, i)).collect()
}

/// Tags of events with ids `ids` (see [`event`]).
pub fn tags(ids: std::ops::RangeInclusive<u64>) -> i64 {
    ids.map(|i| (i % 3) as i64).sum()
}

/// The incremental cursor as the pipeline file's source stores it in a state.
pub fn cursor_of(state: &Value) -> Option<String> {
    state["sources"][SOURCE]["resources"]["events"]["incremental"]["updated_at"]["last_value"]
        .as_str()
        .map(str::to_string)
}

/// A project folder (the working dir of every command) with a pipeline file, for one
/// destination and a dataset of its own.
pub struct Project {
    /// The project folder (the DuckDB file lands here).
    pub dir: tempfile::TempDir,
    /// The pipeline name.
    pub name: String,
    /// The destination.
    pub destination: &'static str,
    /// Its config, as environment variables.
    pub env: Vec<(String, String)>,
    /// The dataset, unique per test so Postgres schemas of parallel tests do not meet.
    pub dataset: String,
    /// The pipelines dir of the "first machine".
    pub pipelines: PathBuf,
}

impl Project {
    /// A project for `destination` against `server`; `tag` makes the dataset unique.
    pub fn new(
        server: &RestServer,
        name: &str,
        destination: &'static str,
        env: Vec<(String, String)>,
        tag: &str,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dataset = format!("{tag}_{}_{nanos}", std::process::id());
        let pipelines = dir.path().join("pipelines");
        let file = format!(
            r#"
[pipeline]
name = "{name}"
destination = "{destination}"
dataset = "{dataset}"

[source]
type = "rest_api"
name = "{SOURCE}"
backoff_factor = 0.01

[source.client]
base_url = "{url}"

[[source.resources]]
name = "events"
endpoint = {{ path = "events", data_selector = "events", params = {{ since = "{{incremental.start_value}}" }}, incremental = {{ cursor_path = "updated_at", initial_value = "2024-01-01T00:00:00Z" }}, paginator = {{ type = "page_number", base_page = 1, total_path = "", has_more_path = "has_more" }} }}

[[source.resources]]
name = "users"
primary_key = "id"
write_disposition = "merge"
endpoint = {{ path = "users", data_selector = "users", paginator = {{ type = "offset", limit = 5 }} }}
"#,
            url = server.url()
        );
        std::fs::write(dir.path().join("pipeline.toml"), file).unwrap();
        Self {
            dir,
            name: name.to_string(),
            destination,
            env,
            dataset,
            pipelines,
        }
    }

    /// `sluice ARGS` in the project folder with `pipelines` as pipelines dir.
    pub fn sluice_in(&self, pipelines: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
        c.current_dir(self.dir.path())
            .env("SLUICE_PIPELINES_DIR", pipelines)
            .env_remove("SLUICE_FAILPOINT")
            .stdin(Stdio::null())
            .args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// `sluice ARGS` with the first machine's pipelines dir.
    pub fn sluice(&self, args: &[&str]) -> Command {
        self.sluice_in(&self.pipelines, args)
    }

    /// `sluice run pipeline.toml` with `pipelines` as pipelines dir.
    pub fn run_in(&self, pipelines: &Path) -> Command {
        self.sluice_in(pipelines, &["run", "pipeline.toml"])
    }

    /// `sluice pipeline NAME ARGS`.
    pub fn pipeline(&self, args: &[&str]) -> Command {
        let mut all = vec!["pipeline", self.name.as_str()];
        all.extend_from_slice(args);
        self.sluice(&all)
    }

    /// One number from SQL run by `sluice query` (`{dataset}` is the dataset).
    pub async fn number(&self, sql: &str) -> i64 {
        let out = ok(self.sluice(&["query", &self.name, sql, "--format", "csv"])).await;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("no number in the output of {sql}: {text}"))
    }

    /// Rows of a table of the dataset.
    pub async fn count(&self, table: &str) -> i64 {
        self.number(&format!("SELECT COUNT(*) AS n FROM {{dataset}}.{table}"))
            .await
    }

    /// Whether the dataset has a table named `table`.
    pub async fn has_table(&self, table: &str) -> bool {
        self.number(&format!(
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '{}' \
             AND table_name = '{table}'",
            self.dataset
        ))
        .await
            > 0
    }

    /// Run SQL (DDL) at the destination through `sluice query`.
    pub async fn execute(&self, sql: &str) {
        ok(self.sluice(&["query", &self.name, sql])).await;
    }

    /// The local state of the pipeline in `pipelines`.
    pub fn local_state(&self, pipelines: &Path) -> Value {
        let text = std::fs::read_to_string(pipelines.join(&self.name).join("state.json"))
            .expect("the pipeline has a local state");
        serde_json::from_str(&text).unwrap()
    }

    /// The cursor of the local state in `pipelines`.
    pub fn local_cursor(&self, pipelines: &Path) -> Option<String> {
        cursor_of(&self.local_state(pipelines))
    }

    /// The state as the destination holds it, restored by `pipeline sync` into a new, empty
    /// pipelines dir (returned with it).
    pub async fn restored(&self) -> (Value, tempfile::TempDir) {
        let fresh = tempfile::tempdir().unwrap();
        let out = ok(self.sluice_in(
            fresh.path(),
            &[
                "pipeline",
                &self.name,
                "sync",
                "--destination",
                self.destination,
                "--dataset",
                &self.dataset,
            ],
        ))
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Restored state version"), "{stdout}");
        let state = self.local_state(fresh.path());
        (state, fresh)
    }
}

/// A command's arguments for messages (not its environment, which holds credentials).
fn shown(cmd: &Command) -> String {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    format!("sluice {}", args.join(" "))
}

/// Run `cmd` off the async workers (the test server runs on them).
pub async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Run `cmd` and fail the test, showing its output, unless it succeeded.
pub async fn ok(cmd: Command) -> Output {
    let shown = shown(&cmd);
    let out = output(cmd).await;
    assert!(
        out.status.success(),
        "{shown} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `cmd`, expect it to fail, and return its stderr.
pub async fn fails(cmd: Command) -> String {
    let shown = shown(&cmd);
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "{shown} should have failed:\n{}\n{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// Stdout of a finished command.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}
