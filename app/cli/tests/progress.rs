//! The progress display: on a terminal (a pseudo-terminal from `script`), status lines for the
//! extract-and-normalize step and for the load step; without one, log lines instead; with
//! `--quiet`, neither. Fail points pause both steps long enough for the display to draw.

use std::process::Command;

const ITEMS: usize = 3_000; // three pages of the file source

fn data_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("items.jsonl");
    let lines: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{\"id\": {i}, \"tags\": [\"a\", \"b\"]}}"))
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

fn sluice_args(dir: &std::path::Path, pipeline: &str, quiet: bool) -> Vec<String> {
    let mut args = vec![
        env!("CARGO_BIN_EXE_sluice").to_string(),
        "load-file".into(),
        data_file(dir).display().to_string(),
        "--table".into(),
        "items".into(),
        "--pipeline-name".into(),
        pipeline.into(),
    ];
    if quiet {
        args.insert(1, "--quiet".into());
    }
    args
}

const PAUSES: &str = "during_extract:sleep=400,after_write_chain:sleep=700";

/// Run `args` under a pseudo-terminal; everything it wrote.
fn on_a_terminal(dir: &std::path::Path, args: &[String]) -> String {
    let line = args
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(dir)
        .env("SLUICE_PIPELINES_DIR", dir.join("pipelines"))
        .env("SLUICE_FAILPOINT", PAUSES)
        .env("TERM", "xterm")
        .output()
        .expect("script(1) from util-linux runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn a_terminal_shows_status_lines_for_extract_and_load() {
    let tmp = tempfile::tempdir().unwrap();
    let text = on_a_terminal(tmp.path(), &sluice_args(tmp.path(), "progress_tty", false));
    assert!(
        text.contains("items normalized (") && text.contains("rows written"),
        "an extract status line: {text}"
    );
    assert!(
        text.contains("loading items (")
            && text.contains("tables), ")
            && text.contains("/9000 rows"),
        "a load status line with tables and rows of the total: {text}"
    );
    assert!(text.contains("\r\x1b[2K"), "the line is redrawn in place");

    // --quiet: no status line.
    let text = on_a_terminal(tmp.path(), &sluice_args(tmp.path(), "progress_quiet", true));
    assert!(
        !text.contains("items normalized") && !text.contains("loading items"),
        "{text}"
    );
}

#[test]
fn without_a_terminal_the_steps_are_logged_as_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let args = sluice_args(tmp.path(), "progress_log", false);
    let out = Command::new(&args[0])
        .args(&args[1..])
        .current_dir(tmp.path())
        .env("SLUICE_PIPELINES_DIR", tmp.path().join("pipelines"))
        .env_remove("SLUICE_FAILPOINT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("\x1b[2K"),
        "no status line off a terminal: {stderr}"
    );
    assert!(
        stderr.contains("loaded table items and its nested tables, 9000 row(s) (1 of 1 tables"),
        "a log line per table chain: {stderr}"
    );
}
