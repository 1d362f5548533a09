//! A local Forter-compatible API, used by the Forter tests, the demo and the benchmarks. It
//! follows what is publicly known of Forter's API (summed up in `docs/forter.md`), not the
//! preset.
//!
//! Like Forter it wants HTTP Basic with the API key as user (the password is ignored), the
//! `x-forter-siteid` header of that key's site (401 otherwise) and an `api-version` header (400
//! otherwise); errors are JSON `{"status": "failed", "message": ...}`. Forter's endpoints:
//!
//! - `POST /v3/orders/{id}`: an order in, the v3 decision out (`forterDecision`, …);
//! - `POST /v2/orders/{id}`: an order in, the v2 decision out (`action` in lower case, `status`);
//! - `POST /v2/status/{id}`: a status update in (`orderId`, `updatedStatus` of Forter's list),
//!   `{"status": "success", "message": "Transaction: <id>"}` out: no new decision;
//! - `POST /v2/claims`: a claim in, an acknowledgement out;
//! - `GET /credentials/test`: `{"status": "success"}` when the credentials are right;
//! - the tokenization API on a host (port) of its own with its own credentials: see
//!   [`tokenization`].
//!
//! A push body must be a JSON object whose `orderId` is the URL's id (400 otherwise); every
//! accepted push body is kept ([`ForterServer::received`]). The orders of decisions are fixed for
//! the [`ForterServerConfig::orders`] served orders, forced by Forter's test emails
//! (`approve@forter.com`, `decline@forter.com`) and derived from the id otherwise.
//!
//! Not Forter's (Forter documents no way to read orders): an order store for the tests, the
//! demo and the benchmarks, serving the deterministic orders of [`order`]:
//!
//! - `GET /v3/orders/{id}`: one order (404 when unknown);
//! - `GET /v3/orders?page=1&page_size=100[&ids_only=true]`: the orders (or just their ids) page by
//!   page, `{"orders": [...], "page": n, "total": N, "next": "<url>" | null}`.
//!
//! Faults: [`Faults`] (changeable while running), or `?fault=429|500|503|slow|bad_json` on any
//! request.

// Handlers return `Result<_, Response>`: the error is the HTTP answer itself.
#![allow(clippy::result_large_err)]

mod data;
mod push;
pub mod tokenization;

pub use data::*;
pub use push::{ORDER_STATUSES, Received};
pub use tokenization::{TEST_CARDS, TOKENIZATION_SECRET, TOKENIZATION_SITE_ID};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The API key the server accepts by default.
pub const API_KEY: &str = "forter-test-api-key";
/// The site id the server accepts by default.
pub const SITE_ID: &str = "forter-test-site";

/// What the server serves and accepts.
#[derive(Debug, Clone)]
pub struct ForterServerConfig {
    /// Number of orders.
    pub orders: u64,
    /// The accepted API key.
    pub api_key: String,
    /// The accepted site id.
    pub site_id: String,
    /// The tokenization API's site id.
    pub tokenization_site_id: String,
    /// The tokenization API's secret.
    pub tokenization_secret: String,
    /// Keep every rendered `/v3/orders` page in memory and answer repeats from there, so that
    /// benchmarks measure the client rather than this server's JSON rendering.
    pub cache_pages: bool,
}

impl Default for ForterServerConfig {
    fn default() -> Self {
        Self {
            orders: 25,
            api_key: API_KEY.into(),
            site_id: SITE_ID.into(),
            tokenization_site_id: TOKENIZATION_SITE_ID.into(),
            tokenization_secret: TOKENIZATION_SECRET.into(),
            cache_pages: false,
        }
    }
}

/// Faults injected on demand (after the auth checks, on every endpoint of the core API).
#[derive(Debug, Default)]
pub struct Faults {
    /// Each distinct request (method, path, query) answers 429 to its first N attempts.
    pub throttle_attempts: AtomicU64,
    /// `Retry-After` seconds sent with those 429s.
    pub retry_after_s: AtomicU64,
    /// Each distinct request answers a 5xx to its first N attempts (after the throttling ones).
    pub error_attempts: AtomicU64,
    /// The status of those errors (0 = 503).
    pub error_status: AtomicU64,
    /// Delay before every answer, in ms.
    pub delay_ms: AtomicU64,
    /// Answer 200 with a truncated JSON body.
    pub bad_json: AtomicBool,
}

/// Shared state.
#[derive(Debug)]
pub struct ServerState {
    /// The configuration.
    pub config: ForterServerConfig,
    /// Faults.
    pub faults: Faults,
    /// Requests received by the core API.
    pub requests: AtomicU64,
    /// Requests received by the tokenization API.
    pub tokenization_requests: AtomicU64,
    /// 429s sent.
    pub throttled: AtomicU64,
    /// 5xx sent.
    pub errors: AtomicU64,
    /// When each core API request arrived.
    pub arrivals: Mutex<Vec<Instant>>,
    /// Push bodies accepted, in arrival order.
    pub received: Mutex<Vec<Received>>,
    attempts: Mutex<HashMap<String, u64>>,
    pages: Mutex<HashMap<String, Bytes>>,
}

/// The running server (the core API and the tokenization API); stops when dropped.
pub struct ForterServer {
    /// Bound address of the core API.
    pub addr: SocketAddr,
    /// Bound address of the tokenization API.
    pub tokenization_addr: SocketAddr,
    /// Shared state.
    pub state: Arc<ServerState>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ForterServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn serve(listener: tokio::net::TcpListener, app: Router) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("forter server stopped: {e}");
        }
    })
}

impl ForterServer {
    /// Start on a free loopback port (inside a Tokio runtime).
    pub async fn start(config: ForterServerConfig) -> std::io::Result<Self> {
        Self::start_on(config, 0).await
    }

    /// Start the core API on `127.0.0.1:port` (0 = a free port), the tokenization API on a
    /// free port.
    pub async fn start_on(config: ForterServerConfig, port: u16) -> std::io::Result<Self> {
        let state = Arc::new(ServerState {
            config,
            faults: Faults::default(),
            requests: AtomicU64::new(0),
            tokenization_requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            arrivals: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
            attempts: Mutex::new(HashMap::new()),
            pages: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let tok = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let tokenization_addr = tok.local_addr()?;
        let tasks = vec![
            serve(listener, router(state.clone())).await,
            serve(tok, tokenization::router(state.clone())).await,
        ];
        Ok(Self {
            addr,
            tokenization_addr,
            state,
            tasks,
        })
    }

    /// `http://127.0.0.1:PORT` of the core API.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1` of the tokenization API.
    pub fn tokenization_url(&self) -> String {
        format!("http://{}/v1", self.tokenization_addr)
    }

    /// Requests received by the core API so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The push bodies accepted whose path starts with `prefix`, in arrival order.
    pub fn received(&self, prefix: &str) -> Vec<Received> {
        self.state
            .received
            .lock()
            .expect("received lock")
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The faults, to change while running.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Wait until the server tasks end (they run until aborted).
    pub async fn wait(mut self) {
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v3/orders", get(list_orders))
        .route("/v3/orders/{id}", get(get_order).post(push::order_v3))
        .route("/v2/orders/{id}", post(push::order_v2))
        .route("/v2/status/{id}", post(push::order_status))
        .route("/v2/claims", post(push::claims))
        .route("/credentials/test", get(credentials_test))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

/// An error in Forter's shape: `{"status": "failed", "message": ...}`.
pub(crate) fn failed(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "failed", "message": message})),
    )
        .into_response()
}

/// Delay, auth, headers and faults, in that order.
async fn gate(State(st): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    st.requests.fetch_add(1, Ordering::Relaxed);
    st.arrivals
        .lock()
        .expect("arrivals lock")
        .push(Instant::now());
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default();
    let fault = query.get("fault").cloned().unwrap_or_default();
    let delay = st.faults.delay_ms.load(Ordering::Relaxed);
    let delay = if fault == "slow" {
        delay.max(3000)
    } else {
        delay
    };
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if let Err(resp) = check_auth(&st.config, req.headers()) {
        return resp;
    }
    let key = format!("{} {}", req.method(), req.uri());
    let attempt = {
        let mut a = st.attempts.lock().expect("attempts lock");
        let n = a.entry(key).or_insert(0);
        *n += 1;
        *n
    };
    let throttle = st.faults.throttle_attempts.load(Ordering::Relaxed);
    if attempt <= throttle || fault == "429" {
        st.throttled.fetch_add(1, Ordering::Relaxed);
        let mut resp = failed(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Requests: request rate exceeds the site's provisioned throughput",
        );
        let ra = st.faults.retry_after_s.load(Ordering::Relaxed);
        resp.headers_mut()
            .insert(header::RETRY_AFTER, ra.to_string().parse().expect("number"));
        return resp;
    }
    let errors = st.faults.error_attempts.load(Ordering::Relaxed);
    if attempt <= throttle + errors || fault == "500" || fault == "503" {
        st.errors.fetch_add(1, Ordering::Relaxed);
        let configured = st.faults.error_status.load(Ordering::Relaxed);
        let status = if fault == "500" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else if fault == "503" || configured == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            u16::try_from(configured)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        };
        return failed(status, "Service temporarily unavailable");
    }
    let resp = next.run(req).await;
    if (st.faults.bad_json.load(Ordering::Relaxed) || fault == "bad_json")
        && resp.status().is_success()
    {
        return Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"status\": \"success\", \"orderId\": \"1"))
            .expect("response");
    }
    resp
}

/// Forter's checks: Basic auth with the key as user, the key's site id, an api-version.
fn check_auth(config: &ForterServerConfig, headers: &HeaderMap) -> Result<(), Response> {
    let unauthorized = |m: &str| failed(StatusCode::UNAUTHORIZED, m);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(b64) = auth.strip_prefix("Basic ") else {
        return Err(unauthorized(
            "Unauthorized: HTTP Basic authentication required (API key as username, empty password)",
        ));
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let user = decoded.split(':').next().unwrap_or("");
    if user != config.api_key {
        return Err(unauthorized(
            "Unauthorized: likely incorrect siteId or secret key value",
        ));
    }
    let site = headers
        .get("x-forter-siteid")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if site.is_empty() {
        return Err(unauthorized("Unauthorized: missing x-forter-siteid header"));
    }
    if site != config.site_id {
        return Err(unauthorized(
            "Unauthorized: likely incorrect siteId or secret key value (x-forter-siteid does not match the API key)",
        ));
    }
    let version = headers
        .get("api-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if version.trim().is_empty() {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: missing required header api-version",
        ));
    }
    Ok(())
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

async fn get_order(State(st): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match index_of(st.config.orders, &id) {
        Some(i) => Json(order(i)).into_response(),
        None => failed(StatusCode::NOT_FOUND, &format!("Order {id} not found")),
    }
}

async fn list_orders(
    State(st): State<Arc<ServerState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let page: u64 = match q.get("page").map(|p| p.parse()) {
        None => 1,
        Some(Ok(p)) if p >= 1 => p,
        _ => return failed(StatusCode::BAD_REQUEST, "Bad Request: page must be >= 1"),
    };
    let size: u64 = match q.get("page_size").map(|p| p.parse()) {
        None => 100,
        Some(Ok(p)) if (1..=1000).contains(&p) => p,
        _ => {
            return failed(
                StatusCode::BAD_REQUEST,
                "Bad Request: page_size must be 1..=1000",
            );
        }
    };
    let ids_only = q.get("ids_only").is_some_and(|v| v == "true");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let key = format!("{host} {page} {size} {ids_only}");
    let cached = st
        .config
        .cache_pages
        .then(|| st.pages.lock().expect("pages lock").get(&key).cloned());
    let body = match cached.flatten() {
        Some(body) => body,
        None => {
            let body = Bytes::from(render_page(st.config.orders, page, size, ids_only, &host));
            if st.config.cache_pages {
                st.pages
                    .lock()
                    .expect("pages lock")
                    .insert(key, body.clone());
            }
            body
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// One page of `/v3/orders` as JSON text.
fn render_page(total: u64, page: u64, size: u64, ids_only: bool, host: &str) -> Vec<u8> {
    let start = (page - 1) * size + 1;
    let end = (start + size - 1).min(total);
    let orders: Vec<Value> = (start..=end)
        .map(|i| {
            if ids_only {
                json!({"orderId": order_id(i)})
            } else {
                order(i)
            }
        })
        .collect();
    let next = if end < total {
        let mut url = format!("http://{host}/v3/orders?page={}&page_size={size}", page + 1);
        if ids_only {
            url.push_str("&ids_only=true");
        }
        json!(url)
    } else {
        Value::Null
    };
    serde_json::to_vec(&json!({"orders": orders, "page": page, "total": total, "next": next}))
        .expect("JSON")
}

async fn credentials_test() -> Response {
    Json(json!({"status": "success", "message": "Credentials are valid"})).into_response()
}

async fn not_found() -> Response {
    failed(StatusCode::NOT_FOUND, "Not Found")
}
