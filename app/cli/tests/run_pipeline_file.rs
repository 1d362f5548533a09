//! `sluice run PIPELINE_FILE` end to end: the REST source against the local test server,
//! secrets from `.sluice/secrets.toml`, into DuckDB.

use sluice_integration_tests::rest_server::{BASIC_USER, RestServer};
use std::path::Path;
use std::process::Command;

fn sluice(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("SLUICE_FAILPOINT");
    c
}

/// Run `cmd` on a blocking thread (the test servers run on the async workers).
async fn output(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

/// Fail the test, showing stderr, unless the command succeeded.
fn assert_ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Write `text` to `dir/rel`, creating the folders.
fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn pipeline_file(url: &str) -> String {
    format!(
        r#"
[pipeline]
name = "shop"
destination = "duckdb"
dataset = "shop_data"

[source]
type = "rest_api"
name = "shop"
backoff_factor = 0.01

[source.client]
base_url = "{url}"

[[source.resources]]
name = "users"
primary_key = "id"
write_disposition = "merge"
endpoint = {{ path = "users", data_selector = "users", paginator = {{ type = "offset", limit = 5 }} }}

[[source.resources]]
name = "posts"
include_from_parent = ["id"]
endpoint = {{ path = "users/{{resources.users.id}}/posts", paginator = {{ type = "page_number", base_page = 1, total_path = "total_pages" }} }}

[[source.resources]]
name = "secured"
endpoint = {{ path = "auth/basic/items", auth = {{ type = "http_basic" }} }}
"#
    )
}

fn count(conn: &duckdb::Connection, table: &str) -> i64 {
    conn.query_row(
        &format!("SELECT COUNT(*) FROM shop_data.{table}"),
        [],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_file_runs_rest_source_into_duckdb() {
    let server = RestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("shop.toml");
    write(tmp.path(), "shop.toml", &pipeline_file(&server.url()));
    let secret = format!("[sources.shop]\nusername = \"{BASIC_USER}\"\n");
    write(tmp.path(), ".sluice/secrets.toml", &secret);

    let mut cmd = sluice(tmp.path());
    cmd.arg("run").arg(&file);
    let out = output(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(
            "1 load package(s) were loaded to destination duckdb and into dataset shop_data"
        ),
        "{stdout}"
    );
    assert!(
        !stderr.contains(BASIC_USER),
        "the secret must not be logged: {stderr}"
    );

    let conn = duckdb::Connection::open(tmp.path().join("shop.duckdb")).unwrap();
    assert_eq!(count(&conn, "users"), 12);
    assert_eq!(count(&conn, "posts"), 36);
    assert_eq!(count(&conn, "secured"), 3);
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM shop_data.posts p LEFT JOIN shop_data.users u ON p._users_id = u.id WHERE u.id IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);
    drop(conn);

    // --destination and --dataset on the command line win over the file.
    let mut cmd = sluice(tmp.path());
    cmd.arg("run").arg(&file).args(["--dataset", "other_data"]);
    let out = output(cmd).await;
    assert_ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("into dataset other_data"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_and_unknown_keys_fail_clearly() {
    let server = RestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("shop.toml");
    std::fs::write(&file, pipeline_file(&server.url())).unwrap();
    let mut cmd = sluice(tmp.path());
    cmd.arg("run")
        .arg(&file)
        .env("SOURCES__SHOP__USERNAME", "wrong-key");
    let out = output(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("secured") && stderr.contains("401"),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-key"), "{stderr}");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        pipeline_file(&server.url()).replace("primary_key = \"id\"", "primary_kee = \"id\""),
    )
    .unwrap();
    let out = sluice(tmp.path()).arg("run").arg(&bad).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("primary_kee"), "{stderr}");
}

/// dlt's global secrets (`~/.dlt/secrets.toml`) are read when the project has none; a project
/// file wins over them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_secrets_in_the_home_folder_are_read() {
    let server = RestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let (project, home) = (tmp.path().join("project"), tmp.path().join("home"));
    write(&project, "shop.toml", &pipeline_file(&server.url()));
    let secret = format!("[sources.shop]\nusername = \"{BASIC_USER}\"\n");
    write(&home, ".dlt/secrets.toml", &secret);
    let run = |dataset: &str| {
        let mut cmd = sluice(&project);
        cmd.env("HOME", &home)
            .args(["run", "shop.toml", "--dataset", dataset]);
        output(cmd)
    };
    assert_ok(&run("from_global").await);
    let conn = duckdb::Connection::open(project.join("shop.duckdb")).unwrap();
    let secured: i64 = conn
        .query_row("SELECT COUNT(*) FROM from_global.secured", [], |r| r.get(0))
        .unwrap();
    assert_eq!(secured, 3);
    drop(conn);

    // The project's own secrets win: a wrong username there fails the secured resource.
    let wrong = "[sources.shop]\nusername = \"not-the-user\"\n";
    write(&project, ".sluice/secrets.toml", wrong);
    let out = run("from_project").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the project's wrong user must win");
    assert!(stderr.contains("secured"), "{stderr}");
}

/// dlt's lookup fallback: a secret under `[sources]` (or `SOURCES__USERNAME`) serves a source
/// whose own section does not set it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_source_secrets_are_found_under_sources() {
    let server = RestServer::start().await;
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "shop.toml", &pipeline_file(&server.url()));
    let secret = format!("[sources]\nusername = \"{BASIC_USER}\"\n");
    write(tmp.path(), ".sluice/secrets.toml", &secret);
    let mut cmd = sluice(tmp.path());
    cmd.args(["run", "shop.toml"]);
    assert_ok(&output(cmd).await);
    let conn = duckdb::Connection::open(tmp.path().join("shop.duckdb")).unwrap();
    assert_eq!(count(&conn, "secured"), 3);
}
