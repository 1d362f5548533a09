//! `sluice pipeline NAME show`: the pipeline's dashboard in the browser.
//!
//! A small HTTP server bound to `127.0.0.1` only serves one page (rendered on each request
//! from the pipeline's files and its dataset, see [`collect`] and [`render`]), its two assets
//! (compiled into the binary: no download at run time) and `POST /api/query` for the SQL box.
//! Requests whose `Host` is not the loopback address it listens on are refused (no DNS
//! rebinding), and so is every other path. `--export DIR` writes the same page as files.

pub mod collect;
pub mod render;

use axum::Router;
use axum::extract::{Json, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sluice_pipeline::paths::PipelinePaths;
use sluice_pipeline::state::PipelineState;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The stylesheet of the page.
pub const CSS: &str = include_str!("assets/dashboard.css");
/// The script of the page (the SQL box and the toggles; no framework).
pub const JS: &str = include_str!("assets/dashboard.js");

/// What `show` was asked for.
#[derive(Debug, Clone)]
pub struct ShowOptions {
    /// First rows per table.
    pub rows: usize,
    /// Port to listen on (0: a free one).
    pub port: u16,
    /// Do not open a browser.
    pub no_browser: bool,
    /// Write the page into this folder instead of serving it.
    pub export: Option<PathBuf>,
}

struct App {
    name: String,
    dir: PathBuf,
    paths: PipelinePaths,
    rows: usize,
    /// `host:port` values accepted in the `Host` header.
    hosts: Vec<String>,
}

/// Serve (or export) the dashboard of pipeline `name`.
pub async fn show(
    name: &str,
    dir: &Path,
    paths: &PipelinePaths,
    state: &PipelineState,
    options: ShowOptions,
) -> anyhow::Result<()> {
    if let Some(out) = &options.export {
        return export(name, dir, paths, state, options.rows, out).await;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on 127.0.0.1:{}: {e} (pick another with --port)",
                options.port
            )
        })?;
    let addr: SocketAddr = listener.local_addr()?;
    let app = Arc::new(App {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        paths: paths.clone(),
        rows: options.rows,
        hosts: vec![
            format!("127.0.0.1:{}", addr.port()),
            format!("localhost:{}", addr.port()),
        ],
    });
    let router = Router::new()
        .route("/", get(index))
        .route("/assets/dashboard.css", get(css))
        .route("/assets/dashboard.js", get(js))
        .route("/api/query", post(query))
        .fallback(not_found)
        .with_state(app);
    let url = format!("http://127.0.0.1:{}/", addr.port());
    println!("The dashboard of pipeline {name} is at {url}");
    println!("Press Ctrl-C to stop it.");
    if !options.no_browser {
        open_browser(&url);
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("Dashboard stopped.");
    Ok(())
}

/// Open `url` in the desktop's browser, when there is one; say so when there is not.
fn open_browser(url: &str) {
    let has_display = cfg!(target_os = "macos")
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if !has_display {
        println!("No desktop found to open a browser on: open the URL yourself.");
        return;
    }
    match std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => println!("Cannot start {opener} ({e}): open the URL yourself."),
    }
}

/// Refuse requests addressed to another host name (a DNS-rebinding page on another site).
fn host_ok(app: &App, headers: &HeaderMap) -> bool {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| app.hosts.iter().any(|ok| ok == h))
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this dashboard answers only on its loopback address\n",
    )
        .into_response()
}

async fn index(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !host_ok(&app, &headers) {
        return refused();
    }
    let state = match PipelineState::load(&app.paths.state_file(), &app.name) {
        Ok(s) => s,
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
        }
    };
    match collect::snapshot(&app.name, &app.dir, &app.paths, &state, app.rows).await {
        Ok(s) => Html(render::page(&s, render::Mode::Live)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}

async fn css(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !host_ok(&app, &headers) {
        return refused();
    }
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

async fn js(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !host_ok(&app, &headers) {
        return refused();
    }
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        JS,
    )
        .into_response()
}

/// The body of `POST /api/query`.
#[derive(Debug, serde::Deserialize)]
struct QueryRequest {
    sql: String,
}

async fn query(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(req): Json<QueryRequest>,
) -> Response {
    if !host_ok(&app, &headers) {
        return refused();
    }
    let started = std::time::Instant::now();
    match collect::run_query(&app.name, &app.dir, &req.sql).await {
        Ok(grid) => Json(serde_json::json!({
            "columns": grid.columns,
            "rows": grid.rows,
            "truncated": grid.truncated,
            "elapsed_ms": started.elapsed().as_millis() as u64,
        }))
        .into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": e })),
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

/// Write the page and its assets into `out`.
async fn export(
    name: &str,
    dir: &Path,
    paths: &PipelinePaths,
    state: &PipelineState,
    rows: usize,
    out: &Path,
) -> anyhow::Result<()> {
    let snapshot = collect::snapshot(name, dir, paths, state, rows).await?;
    let assets = out.join("assets");
    std::fs::create_dir_all(&assets)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", assets.display()))?;
    let page = render::page(&snapshot, render::Mode::Export);
    for (path, content) in [
        (out.join("index.html"), page.as_str()),
        (assets.join("dashboard.css"), CSS),
        (assets.join("dashboard.js"), JS),
    ] {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, content)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    println!(
        "The dashboard of pipeline {name} is in {}",
        out.join("index.html").display()
    );
    Ok(())
}
