//! End-to-end tests of the `sluice` binary against the embedded DuckDB.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sluice(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sluice"));
    c.current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env_remove("DESTINATION__DUCKDB__CREDENTIALS")
        .env_remove("SLUICE_FAILPOINT");
    c
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run sluice");
    assert!(
        out.status.success(),
        "sluice failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
    p
}

fn duck(path: &Path) -> duckdb::Connection {
    duckdb::Connection::open(path).expect("open duckdb file")
}

fn count(conn: &duckdb::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn columns(conn: &duckdb::Connection, schema: &str, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? ORDER BY column_name")
        .unwrap();
    stmt.query_map([schema, table], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn tables(conn: &duckdb::Connection, schema: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name")
        .unwrap();
    stmt.query_map([schema], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// The layout dlt 1.x produces for this file, written out from dlt's documented rules
/// (snake_case naming, `__` flattening, child tables per list, `value` for scalars,
/// an intermediate `list` row for lists of lists, system columns, null-only columns dropped).
#[test]
fn nested_orders_land_in_dlts_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_json(
        tmp.path(),
        "orders.json",
        &json!([
            {"orderId": "A1", "Customer": {"firstName": "Ada", "homeAddress": {"zipCode": "123"}},
             "cartItems": [
                {"productId": "p1", "price": {"amountUSD": "9.99"}, "tags": ["x", "y"]},
                {"productId": "p2", "price": {"amountUSD": "1.00"}, "tags": []}],
             "matrix": [[1, 2], [3]], "createdAt": "2026-01-01T00:00:00Z", "note": null},
            {"orderId": "A2", "Customer": {"firstName": "Linus"}, "cartItems": [], "createdAt": "2026-01-02T00:00:00Z"}
        ]),
    );
    let out = run_ok(sluice(tmp.path()).args(["load-file"]).arg(&file).args([
        "--table",
        "orders",
        "--destination",
        "duckdb",
    ]));
    assert!(
        out.contains("Pipeline sluice_pipeline load step completed in"),
        "{out}"
    );
    assert!(out.contains("1 load package(s) were loaded to destination duckdb and into dataset sluice_pipeline_data"), "{out}");
    assert!(
        out.contains("is LOADED and contains no failed jobs"),
        "{out}"
    );
    assert!(out.contains("- orders: 2 row(s)"), "{out}");

    let conn = duck(&tmp.path().join("sluice_pipeline.duckdb"));
    let ds = "sluice_pipeline_data";
    assert_eq!(
        tables(&conn, ds),
        sorted(&[
            "_dlt_loads",
            "_dlt_pipeline_state",
            "_dlt_version",
            "orders",
            "orders__cart_items",
            "orders__cart_items__tags",
            "orders__matrix",
            "orders__matrix__list"
        ])
    );
    assert_eq!(
        columns(&conn, ds, "orders"),
        sorted(&[
            "order_id",
            "customer__first_name",
            "customer__home_address__zip_code",
            "created_at",
            "_dlt_load_id",
            "_dlt_id"
        ])
    );
    let child = ["_dlt_parent_id", "_dlt_list_idx", "_dlt_id"];
    let with =
        |cols: &[&str]| sorted(&cols.iter().chain(child.iter()).copied().collect::<Vec<_>>());
    assert_eq!(
        columns(&conn, ds, "orders__cart_items"),
        with(&["product_id", "price__amount_usd"])
    );
    assert_eq!(
        columns(&conn, ds, "orders__cart_items__tags"),
        with(&["value"])
    );
    assert_eq!(columns(&conn, ds, "orders__matrix"), with(&[]));
    assert_eq!(columns(&conn, ds, "orders__matrix__list"), with(&["value"]));
    for (table, rows) in [
        ("orders", 2),
        ("orders__cart_items", 2),
        ("orders__cart_items__tags", 2),
        ("orders__matrix", 2),
        ("orders__matrix__list", 3),
    ] {
        assert_eq!(
            count(&conn, &format!("SELECT COUNT(*) FROM {ds}.{table}")),
            rows,
            "{table}"
        );
    }
    assert_eq!(
        count(
            &conn,
            &format!("SELECT COUNT(*) FROM {ds}._dlt_loads WHERE status = 0")
        ),
        1
    );
    let ty: String = conn
        .query_row(&format!("SELECT data_type FROM information_schema.columns WHERE table_schema='{ds}' AND table_name='orders' AND column_name='created_at'"), [], |r| r.get(0))
        .unwrap();
    assert!(ty.starts_with("TIMESTAMP"), "{ty}");
}

#[test]
fn destinations_and_inspection_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run_ok(sluice(tmp.path()).arg("destinations"));
    assert!(out.contains("duckdb"), "{out}");
    for name in ["duckdb", "postgres", "bigquery", "snowflake", "filesystem"] {
        let out = run_ok(sluice(tmp.path()).args(["destinations", "describe", name]));
        assert!(
            out.contains(&format!("[destination.{name}"))
                && out.contains(&format!("DESTINATION__{}__", name.to_uppercase()))
                && out.contains("Example"),
            "{out}"
        );
    }
    let out = run_ok(sluice(tmp.path()).args(["destinations", "describe", "postgres"]));
    assert!(
        out.contains(
            "keys in [destination.postgres.credentials]: database, username, password, host, port"
        ) && out.contains("columns per table: 1600"),
        "{out}"
    );
    let bad = sluice(tmp.path())
        .args(["destinations", "describe", "postgress"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("postgress"),
        "{stderr}"
    );
    let file = write_json(tmp.path(), "u.json", &json!([{"id": 1, "name": "x"}]));
    run_ok(sluice(tmp.path()).arg("load-file").arg(&file).args([
        "--table",
        "users",
        "--pipeline-name",
        "insp",
    ]));
    let info = run_ok(sluice(tmp.path()).args(["pipeline", "insp", "info"]));
    assert!(info.contains("Found pipeline insp"), "{info}");
    assert!(info.contains("dataset_name: insp_data"), "{info}");
    assert!(info.contains("Has 1 completed load packages"), "{info}");
    let schema = run_ok(sluice(tmp.path()).args(["pipeline", "insp", "schema"]));
    assert!(
        schema.contains("users:") && schema.contains("data_type: bigint"),
        "{schema}"
    );
    let q = run_ok(sluice(tmp.path()).args([
        "query",
        "insp",
        "SELECT name FROM {dataset}.users",
        "--format",
        "csv",
    ]));
    assert_eq!(q.trim(), "name\nx");
    let show = run_ok(sluice(tmp.path()).args(["pipeline", "insp", "show", "--text"]));
    assert!(show.contains("users: 1 row(s)"), "{show}");
    let missing = sluice(tmp.path())
        .args(["pipeline", "nope", "info"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("pipeline nope not found"));
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_input_fails_clearly_and_loads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, "[{\"id\": 1}, {\"id\": ]").unwrap();
    let err = failed(
        &sluice(tmp.path())
            .arg("load-file")
            .arg(&bad)
            .args(["--table", "t"])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("malformed JSON in") && err.contains("bad.json"),
        "{err}"
    );
    let conn = duck(&tmp.path().join("sluice_pipeline.duckdb"));
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM sluice_pipeline_data._dlt_loads"
        ),
        0
    );

    let missing = failed(
        &sluice(tmp.path())
            .args(["load-file", "nope.json", "--table", "t"])
            .output()
            .unwrap(),
    );
    assert!(missing.contains("nope.json"), "{missing}");
    let dest = failed(
        &sluice(tmp.path())
            .args(["load-file"])
            .arg(&bad)
            .args(["--table", "t", "--destination", "oracle"])
            .output()
            .unwrap(),
    );
    assert!(
        dest.contains("unknown destination 'oracle'") && dest.contains("duckdb"),
        "{dest}"
    );
}

#[test]
fn frozen_contract_names_table_column_and_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_json(tmp.path(), "a.json", &json!([{"id": 1}]));
    let b = write_json(tmp.path(), "b.json", &json!([{"id": 2, "extra": "x"}]));
    run_ok(
        sluice(tmp.path())
            .arg("load-file")
            .arg(&a)
            .args(["--table", "t"]),
    );
    let err = failed(
        &sluice(tmp.path())
            .arg("load-file")
            .arg(&b)
            .args(["--table", "t", "--schema-contract", "freeze"])
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("extra") && err.contains("`t`") && err.contains("frozen"),
        "{err}"
    );
    let conn = duck(&tmp.path().join("sluice_pipeline.duckdb"));
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM sluice_pipeline_data.t"),
        1
    );
}

#[test]
fn config_files_and_env_choose_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".sluice")).unwrap();
    std::fs::write(
        tmp.path().join(".sluice/config.toml"),
        "[destination.duckdb]\ncredentials = \"from_config.duckdb\"\n",
    )
    .unwrap();
    let f = write_json(tmp.path(), "a.json", &json!([{"id": 1}]));
    run_ok(
        sluice(tmp.path())
            .arg("load-file")
            .arg(&f)
            .args(["--table", "t"]),
    );
    assert!(tmp.path().join("from_config.duckdb").exists());
    run_ok(
        sluice(tmp.path())
            .arg("load-file")
            .arg(&f)
            .args(["--table", "t"])
            .env("DESTINATION__DUCKDB__CREDENTIALS", "from_env.duckdb"),
    );
    assert!(tmp.path().join("from_env.duckdb").exists());
}

fn orders(n: usize) -> serde_json::Value {
    serde_json::Value::Array(
        (0..n)
            .map(|i| json!({"id": i, "name": format!("o{i}"), "items": [{"sku": i, "q": 1}, {"sku": i + 1, "q": 2}]}))
            .collect(),
    )
}

fn assert_exactly_once(dir: &Path, n: i64) {
    let conn = duck(&dir.join("sluice_pipeline.duckdb"));
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM sluice_pipeline_data.orders"),
        n
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(DISTINCT id) FROM sluice_pipeline_data.orders"
        ),
        n
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM sluice_pipeline_data.orders__items"
        ),
        2 * n
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM sluice_pipeline_data._dlt_loads"
        ),
        1
    );
}

/// A crash at every stage of a run is completed by the next run with exactly one copy of every row.
#[test]
fn crash_at_each_stage_then_rerun_loads_exactly_once() {
    for point in [
        "during_extract",
        "after_package_commit",
        "after_schema_changes",
        "after_write_chain",
        "after_load_commit",
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let f = write_json(tmp.path(), "o.json", &orders(1500));
        let load = |fp: Option<&str>| {
            let mut c = sluice(tmp.path());
            c.arg("load-file").arg(&f).args(["--table", "orders"]);
            if let Some(fp) = fp {
                c.env("SLUICE_FAILPOINT", fp);
            }
            c.output().unwrap()
        };
        let crashed = load(Some(point));
        assert!(
            !crashed.status.success(),
            "{point}: the fail point must abort"
        );
        let rerun = load(None);
        assert!(
            rerun.status.success(),
            "{point}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_exactly_once(tmp.path(), 1500);
    }
}

/// A real SIGKILL at arbitrary moments: however often a run is killed, runs until one
/// succeeds leave exactly one copy of every row.
#[test]
fn killed_runs_are_completed_without_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let f = write_json(tmp.path(), "o.json", &orders(30_000));
    let mut delays = [40u64, 120, 250, 400, 700].into_iter();
    loop {
        let mut child = sluice(tmp.path())
            .arg("load-file")
            .arg(&f)
            .args(["--table", "orders", "--quiet"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        match delays.next() {
            Some(ms) => {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                let _ = child.kill();
                let _ = child.wait();
            }
            None => {
                let status = child.wait().unwrap();
                assert!(status.success());
                break;
            }
        }
    }
    // A last run may have only loaded a pending package; one more run loads nothing new
    // if the data is already there, so count now.
    let conn = duck(&tmp.path().join("sluice_pipeline.duckdb"));
    let loads = count(
        &conn,
        "SELECT COUNT(*) FROM sluice_pipeline_data._dlt_loads",
    );
    let rows = count(&conn, "SELECT COUNT(*) FROM sluice_pipeline_data.orders");
    assert_eq!(
        rows,
        30_000 * loads,
        "each completed load holds exactly one copy"
    );
    assert_eq!(
        count(
            &conn,
            "SELECT COUNT(*) FROM (SELECT _dlt_load_id, id FROM sluice_pipeline_data.orders GROUP BY ALL HAVING COUNT(*) > 1)"
        ),
        0
    );
}

/// A misspelt destination key stops `sluice check`, `sluice run` and `sluice load-file` before
/// anything is extracted or loaded, naming the key, its section and the nearest accepted key.
#[test]
fn an_unknown_destination_key_fails_check_and_run() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path().join(".sluice")).unwrap();
    std::fs::write(
        tmp.path().join(".sluice/config.toml"),
        "[destination.duckdb.credentials]\ndatabse = \"typo.duckdb\"\n",
    )
    .unwrap();
    let file = tmp.path().join("p.toml");
    std::fs::write(
        &file,
        "[pipeline]\nname = \"keys\"\n\n[source]\ntype = \"rest_api\"\nname = \"keys\"\n\n\
         [source.client]\nbase_url = \"http://127.0.0.1:9/\"\n\n[[source.resources]]\n\
         name = \"rows\"\nitems = [{ id = 1 }]\n",
    )
    .unwrap();
    let f = write_json(tmp.path(), "a.json", &json!([{"id": 1}]));
    let check = sluice(tmp.path()).arg("check").arg(&file).output().unwrap();
    let run = sluice(tmp.path()).arg("run").arg(&file).output().unwrap();
    let load = sluice(tmp.path())
        .arg("load-file")
        .arg(&f)
        .args(["--table", "t"])
        .output()
        .unwrap();
    for (what, out) in [("check", check), ("run", run), ("load-file", load)] {
        let err = failed(&out);
        assert!(
            err.contains("unknown key 'databse' in [destination.duckdb.credentials]")
                && err.contains("did you mean 'database'?"),
            "{what}: {err}"
        );
    }
    assert!(!tmp.path().join("typo.duckdb").exists());
    assert!(
        !tmp.path().join("keys.duckdb").exists(),
        "nothing was loaded"
    );
}
