//! A local HTTP API for testing the REST source: every paginator style, every auth type,
//! parent/child endpoints, an incremental endpoint, POST endpoints and faults on demand.
//!
//! Start it with [`RestServer::start`]; it listens on a free 127.0.0.1 port until dropped.
//! Data: [`ITEM_COUNT`] items `{"id": i, "name": "item i", "updated_at": i, "group": i % 3}`
//! (ids from 1). Credentials: see the `BASIC_USER`, `BEARER_TOKEN`, `API_KEY`, `CLIENT_ID`,
//! `CLIENT_SECRET` constants.

use axum::body::{Body, Bytes};
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Number of items every list endpoint serves.
pub const ITEM_COUNT: u64 = 95;
/// HTTP basic user (an API key) — the password must be empty.
pub const BASIC_USER: &str = "key-basic-123";
/// Bearer token.
pub const BEARER_TOKEN: &str = "tok-bearer-456";
/// API key for `X-API-Key` or `?api_key=`.
pub const API_KEY: &str = "key-api-789";
/// OAuth2 client id.
pub const CLIENT_ID: &str = "client-1";
/// OAuth2 client secret.
pub const CLIENT_SECRET: &str = "secret-1";
/// Number of users on `/users`.
pub const USER_COUNT: u64 = 12;

/// Faults and knobs tests can change while the server runs.
#[derive(Debug, Default)]
pub struct ServerState {
    /// All requests received.
    pub requests: AtomicU64,
    /// Every Nth request (over all endpoints except `/oauth/token`) fails; 0 = never.
    pub fail_every: AtomicU64,
    /// Status of those failures (429 or 503).
    pub fail_status: AtomicU64,
    /// Requests that got an injected failure.
    pub failures: AtomicU64,
    /// Requests being handled now.
    pub in_flight: AtomicUsize,
    /// Most requests handled at once.
    pub max_in_flight: AtomicUsize,
    /// Latency added to `/users/{id}/posts` and `/slow_items`, in ms.
    pub latency_ms: AtomicU64,
    /// Lifetime of OAuth2 tokens in seconds (default 3600 when 0).
    pub token_ttl_s: AtomicU64,
    /// Tokens issued.
    pub tokens_issued: AtomicU64,
    tokens: Mutex<HashMap<String, Instant>>,
    /// Events served by `/events`.
    pub events: Mutex<Vec<Value>>,
    /// Paths (with query) of received requests, in order.
    pub log: Mutex<Vec<String>>,
    /// Times `/retry_after` was called.
    pub retry_after_calls: AtomicU64,
    /// Per request, in order: the `Host` header, the path with query, and whether the request
    /// carried credentials (an `Authorization` header, an `X-API-Key` header or an `api_key`
    /// parameter).
    pub credentials_seen: Mutex<Vec<(String, String, bool)>>,
}

/// The running server.
pub struct RestServer {
    /// Bound address.
    pub addr: SocketAddr,
    /// Shared state.
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RestServer {
    /// Start on a free loopback port (inside a Tokio runtime).
    pub async fn start() -> Self {
        let state = Arc::new(ServerState::default());
        state.fail_status.store(503, Ordering::Relaxed);
        let app = router(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Fail every `n`th request with `status` (0 turns faults off).
    pub fn fail_every(&self, n: u64, status: u16) {
        self.state
            .fail_status
            .store(status as u64, Ordering::Relaxed);
        self.state.fail_every.store(n, Ordering::Relaxed);
    }

    /// Replace the events of `/events`.
    pub fn set_events(&self, events: Vec<Value>) {
        *self.state.events.lock().unwrap() = events;
    }

    /// The request log.
    pub fn log(&self) -> Vec<String> {
        self.state.log.lock().unwrap().clone()
    }

    /// Per request: `Host` header, path with query, whether credentials came with it.
    pub fn credentials_seen(&self) -> Vec<(String, String, bool)> {
        self.state.credentials_seen.lock().unwrap().clone()
    }
}

fn item(i: u64) -> Value {
    json!({"id": i, "name": format!("item {i}"), "updated_at": i, "group": i % 3})
}

fn items(from: u64, count: u64) -> Vec<Value> {
    (from..from + count)
        .filter(|i| *i >= 1 && *i <= ITEM_COUNT)
        .map(item)
        .collect()
}

type Q = Query<HashMap<String, String>>;

fn num(q: &HashMap<String, String>, k: &str, default: u64) -> u64 {
    q.get(k).and_then(|v| v.parse().ok()).unwrap_or(default)
}

struct Guard(Arc<ServerState>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn faults(State(s): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let n = s.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    s.log.lock().unwrap().push(path.clone());
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    let carried = req.headers().contains_key("authorization")
        || req.headers().contains_key("x-api-key")
        || path.contains("api_key=");
    s.credentials_seen
        .lock()
        .unwrap()
        .push((host, path.clone(), carried));
    let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    s.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = Guard(s.clone());
    let every = s.fail_every.load(Ordering::Relaxed);
    if every > 0 && n % every == 0 && !path.starts_with("/oauth") {
        s.failures.fetch_add(1, Ordering::Relaxed);
        let status = s.fail_status.load(Ordering::Relaxed) as u16;
        let mut resp = (
            StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            Json(json!({"error": "injected fault"})),
        )
            .into_response();
        if status == 429 {
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from_static("0"));
        }
        return resp;
    }
    next.run(req).await
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "unauthorized"})),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_string)
}

/// Page-numbered list: `?page=1&per_page=10` → `{"data": [...], "page": p, "total_pages": n}`.
async fn page_number(q: Q) -> Json<Value> {
    let per = num(&q, "per_page", 10);
    let page = num(&q, "page", 1).max(1);
    let total_pages = ITEM_COUNT.div_ceil(per);
    Json(
        json!({"data": items((page - 1) * per + 1, per), "page": page, "total_pages": total_pages}),
    )
}

/// Offset list with a total: `{"items": [...], "total": N}`.
async fn offset(q: Q) -> Json<Value> {
    let limit = num(&q, "limit", 10);
    let off = num(&q, "offset", 0);
    Json(json!({"items": items(off + 1, limit), "total": ITEM_COUNT}))
}

/// Offset list without a total: pages until empty.
async fn offset_no_total(q: Q) -> Json<Value> {
    let limit = num(&q, "limit", 10);
    let off = num(&q, "offset", 0);
    Json(json!({"items": items(off + 1, limit)}))
}

/// JSON next link (absolute, or relative with `?relative=1`): `{"results": [...], "next": url|null}`.
async fn json_link(State(_s): State<Arc<ServerState>>, headers: HeaderMap, q: Q) -> Json<Value> {
    let page = num(&q, "page", 1).max(1);
    let per = 10;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let next = if page * per < ITEM_COUNT {
        if q.contains_key("relative") {
            json!(format!("/items/json_link?page={}&relative=1", page + 1))
        } else {
            json!(format!("http://{host}/items/json_link?page={}", page + 1))
        }
    } else {
        Value::Null
    };
    Json(json!({"results": items((page - 1) * per + 1, per), "links": {"self": "x"}, "next": next}))
}

/// A bare JSON list with an RFC 5988 `Link` header.
async fn header_link(headers: HeaderMap, q: Q) -> Response {
    let page = num(&q, "page", 1).max(1);
    let per = 10;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let mut resp = Json(Value::Array(items((page - 1) * per + 1, per))).into_response();
    let last = ITEM_COUNT.div_ceil(per);
    let mut link = format!("<http://{host}/items/header_link?page={last}>; rel=\"last\"");
    if page < last {
        link = format!(
            "<http://{host}/items/header_link?page={}>; rel=\"next\", {link}",
            page + 1
        );
    }
    resp.headers_mut()
        .insert("link", HeaderValue::from_str(&link).unwrap());
    resp
}

/// Cursor in the body: `{"data": [...], "cursors": {"next": "c20"|null}}`; the cursor is the last id.
async fn cursor(q: Q) -> Json<Value> {
    let after = q
        .get("cursor")
        .and_then(|c| c.strip_prefix('c'))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0u64);
    let per = 10;
    let next = if after + per < ITEM_COUNT {
        json!(format!("c{}", after + per))
    } else {
        Value::Null
    };
    Json(json!({"data": items(after + 1, per), "cursors": {"next": next}}))
}

/// Cursor with `has_more`: the cursor is always present; `has_more` says when to stop.
async fn has_more(q: Q) -> Json<Value> {
    let after = num(&q, "after", 0);
    let per = 10;
    Json(
        json!({"entries": items(after + 1, per), "next_cursor": after + per, "has_more": if after + per < ITEM_COUNT { "true" } else { "false" }}),
    )
}

/// POST search, cursor in the JSON body at `page.cursor`; filters by `group` when given.
async fn search(Json(body): Json<Value>) -> Response {
    let Some(group) = body
        .get("filter")
        .and_then(|f| f.get("group"))
        .and_then(Value::as_u64)
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "filter.group required"})),
        )
            .into_response();
    };
    let all: Vec<Value> = (1..=ITEM_COUNT)
        .filter(|i| i % 3 == group)
        .map(item)
        .collect();
    let start = body
        .get("page")
        .and_then(|p| p.get("cursor"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as usize;
    let per = body
        .get("page")
        .and_then(|p| p.get("size"))
        .and_then(Value::as_u64)
        .unwrap_or(7) as usize;
    let page: Vec<Value> = all.iter().skip(start).take(per).cloned().collect();
    let next = if start + per < all.len() {
        json!(start + per)
    } else {
        Value::Null
    };
    Json(json!({"result": {"hits": page}, "next_cursor": next})).into_response()
}

/// POST with a page number in the body: `{"page": n}` → `{"data": [...], "total": pages}`.
async fn post_pages(Json(body): Json<Value>) -> Json<Value> {
    let page = body.get("page").and_then(Value::as_u64).unwrap_or(0);
    let per = 20;
    Json(json!({"data": items(page * per + 1, per), "total": ITEM_COUNT.div_ceil(per)}))
}

/// All items in one response.
async fn single() -> Json<Value> {
    Json(Value::Array(items(1, 5)))
}

/// Echo of the request: method, query, headers of interest, JSON body.
async fn echo(headers: HeaderMap, q: Q, body: Bytes) -> Json<Value> {
    let h: serde_json::Map<String, Value> = headers
        .iter()
        .filter(|(k, _)| {
            k.as_str().starts_with("x-")
                || k.as_str() == "authorization"
                || k.as_str() == "user-agent"
        })
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({"query": q.0, "headers": h, "body": body}))
}

async fn auth_basic(headers: HeaderMap) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{BASIC_USER}:"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return unauthorized();
    }
    Json(Value::Array(items(1, 3))).into_response()
}

async fn auth_bearer(headers: HeaderMap) -> Response {
    if bearer(&headers).as_deref() != Some(BEARER_TOKEN) {
        return unauthorized();
    }
    Json(Value::Array(items(1, 3))).into_response()
}

async fn auth_api_key_header(headers: HeaderMap) -> Response {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(API_KEY) {
        return unauthorized();
    }
    Json(Value::Array(items(1, 3))).into_response()
}

async fn auth_api_key_query(q: Q) -> Response {
    if q.get("api_key").map(String::as_str) != Some(API_KEY) {
        return unauthorized();
    }
    Json(Value::Array(items(1, 3))).into_response()
}

/// OAuth2 token endpoint (client credentials grant, form body).
async fn oauth_token(
    State(s): State<Arc<ServerState>>,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    if f.get("grant_type").map(String::as_str) != Some("client_credentials")
        || f.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let n = s.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    let ttl = match s.token_ttl_s.load(Ordering::Relaxed) {
        0 => 3600,
        t => t,
    };
    let token = format!("at-{n}");
    s.tokens
        .lock()
        .unwrap()
        .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
    Json(json!({"access_token": token, "token_type": "bearer", "expires_in": ttl})).into_response()
}

/// Items behind an OAuth2 token; an expired token is a 401. Pages: `?page=1..10`, `Link`-less, `next` in body.
async fn auth_oauth(State(s): State<Arc<ServerState>>, headers: HeaderMap, q: Q) -> Response {
    let Some(token) = bearer(&headers) else {
        return unauthorized();
    };
    let valid = s
        .tokens
        .lock()
        .unwrap()
        .get(&token)
        .is_some_and(|exp| Instant::now() < *exp);
    if !valid {
        return unauthorized();
    }
    let page = num(&q, "page", 1);
    let next = if page < 10 {
        json!(format!("/auth/oauth/items?page={}", page + 1))
    } else {
        Value::Null
    };
    Json(json!({"data": [item(page)], "next": next})).into_response()
}

/// Users, offset-paged with a total.
async fn users(q: Q) -> Json<Value> {
    let limit = num(&q, "limit", 5);
    let off = num(&q, "offset", 0);
    let list: Vec<Value> = (off + 1..=(off + limit).min(USER_COUNT))
        .map(|i| json!({"id": i, "login": format!("user{i}"), "profile": {"slug": format!("u-{i}")}}))
        .collect();
    Json(json!({"users": list, "total": USER_COUNT}))
}

/// One user (single entity).
async fn user(Path(id): Path<u64>) -> Response {
    if id == 0 || id > USER_COUNT {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such user"})),
        )
            .into_response();
    }
    Json(json!({"id": id, "login": format!("user{id}"), "active": id % 2 == 0})).into_response()
}

/// Posts of a user: 3 per user over pages of 2 (`?page=`), with the configured latency.
async fn user_posts(State(s): State<Arc<ServerState>>, Path(id): Path<u64>, q: Q) -> Response {
    let ms = s.latency_ms.load(Ordering::Relaxed);
    if ms > 0 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if id == 0 || id > USER_COUNT {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such user"})),
        )
            .into_response();
    }
    let page = num(&q, "page", 1).max(1);
    let all: Vec<Value> = (1..=3)
        .map(|k| json!({"post_id": id * 100 + k, "title": format!("post {k} of {id}")}))
        .collect();
    let chunk: Vec<Value> = all
        .iter()
        .skip(((page - 1) * 2) as usize)
        .take(2)
        .cloned()
        .collect();
    Json(json!({"data": chunk, "page": page, "total_pages": 2})).into_response()
}

/// Ids `1..=count` in pages of 1000 with a `next` link (`/bench/ids?count=N&page=P`), the
/// parent resource of the fan-out benchmark.
async fn bench_ids(q: Q) -> Json<Value> {
    let count = num(&q, "count", 10_000);
    let page = num(&q, "page", 0);
    let from = page * 1000 + 1;
    let to = (from + 999).min(count);
    let ids: Vec<Value> = (from..=to).map(|i| json!({"id": i})).collect();
    let next = (to < count).then(|| format!("/bench/ids?count={count}&page={}", page + 1));
    Json(json!({"data": ids, "next": next}))
}

/// One item with latency (for concurrency checks): `/slow_items/{id}`.
async fn slow_item(State(s): State<Arc<ServerState>>, Path(id): Path<u64>) -> Json<Value> {
    let ms = s.latency_ms.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({"id": id, "detail": format!("detail {id}")}))
}

/// Events updated at or after `?since=`, sorted by `updated_at`, paged by `?page=` (10 per page).
async fn events(State(s): State<Arc<ServerState>>, q: Q) -> Json<Value> {
    let since = q.get("since").cloned().unwrap_or_default();
    let mut ev: Vec<Value> = s
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e["updated_at"].as_str().unwrap_or("") >= since.as_str())
        .cloned()
        .collect();
    ev.sort_by(|a, b| a["updated_at"].as_str().cmp(&b["updated_at"].as_str()));
    let page = num(&q, "page", 1).max(1) as usize;
    let chunk: Vec<Value> = ev.iter().skip((page - 1) * 10).take(10).cloned().collect();
    let more = page * 10 < ev.len();
    Json(json!({"events": chunk, "has_more": more}))
}

/// Sleeps `?ms=` before answering.
async fn slow(q: Q) -> Json<Value> {
    tokio::time::sleep(Duration::from_millis(num(&q, "ms", 2000))).await;
    Json(json!([{"id": 1}]))
}

/// 200 with a JSON body cut in the middle.
async fn truncated() -> Response {
    (
        [("content-type", "application/json")],
        "{\"data\": [{\"id\": 1}, {\"id\": 2",
    )
        .into_response()
}

/// 200 whose body stream breaks off (the connection ends before the body is complete).
async fn broken_stream() -> Response {
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(b"{\"data\": [{\"id\": 1},")),
        Err(std::io::Error::other("connection reset")),
    ];
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap()
}

/// 200 with an HTML page.
async fn html() -> Response {
    (
        [("content-type", "text/html")],
        "<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>",
    )
        .into_response()
}

/// Two pages whose `next` link points to `?next_base=` (another origin of this same server,
/// `http://localhost:PORT` where the source's base URL is `http://127.0.0.1:PORT`).
async fn cross_origin(q: Q) -> Json<Value> {
    let page = num(&q, "page", 1).max(1);
    let base = q.get("next_base").cloned().unwrap_or_default();
    let next = if page < 2 {
        json!(format!(
            "{base}/hostile/cross_origin?page={}&next_base={base}",
            page + 1
        ))
    } else {
        Value::Null
    };
    Json(json!({"data": [{"id": page}], "next": next}))
}

/// Echoes the `api_key` parameter into its `next` link as `sig=` (a name no redaction list
/// knows); page 2 answers 404, so the error shows the next link's URL.
async fn echo_key(q: Q) -> Response {
    let page = num(&q, "page", 1).max(1);
    if page >= 2 {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "no such page"})),
        )
            .into_response();
    }
    let key = q.get("api_key").cloned().unwrap_or_default();
    Json(json!({"data": [{"id": 1}], "next": format!("/hostile/echo_key?page=2&sig={key}")}))
        .into_response()
}

/// 200 with an empty body and a JSON content type.
async fn empty_200() -> Response {
    ([("content-type", "application/json")], "").into_response()
}

/// `{"data": [{"id": 1, "name": "caf<0xE9>"}]}`: Latin-1 where UTF-8 belongs.
async fn invalid_utf8() -> Response {
    let mut body = b"{\"data\": [{\"id\": 1, \"name\": \"caf".to_vec();
    body.push(0xE9);
    body.extend_from_slice(b"\"}]}");
    ([("content-type", "application/json")], body).into_response()
}

/// One item with a value nested `?depth=` lists deep.
async fn deep(q: Q) -> Response {
    let depth = num(&q, "depth", 1000) as usize;
    let body = format!(
        "{{\"data\": [{{\"id\": 1, \"v\": {}{}}}]}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    ([("content-type", "application/json")], body).into_response()
}

/// A `next` link loop: page 1 → page 2 → page 1 → …
async fn next_loop(q: Q) -> Json<Value> {
    let page = num(&q, "page", 1).max(1);
    let next = if page == 1 { 2 } else { 1 };
    Json(json!({"data": [{"id": page}], "next": format!("/hostile/loop?page={next}")}))
}

/// Answers with the status in the path and a JSON error body.
async fn status(Path(code): Path<u16>) -> Response {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(json!({"error": format!("status {code} as asked"), "detail": "x".repeat(300)})),
    )
        .into_response()
}

/// 429 with `Retry-After: ?secs=` on the first call, then data.
async fn retry_after(State(s): State<Arc<ServerState>>, q: Q) -> Response {
    let n = s.retry_after_calls.fetch_add(1, Ordering::SeqCst);
    if n == 0 {
        let secs = q.get("secs").cloned().unwrap_or_else(|| "1".into());
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": "slow down"})),
        )
            .into_response();
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_str(&secs).unwrap());
        return r;
    }
    Json(json!([{"id": 1}])).into_response()
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/items/page_number", get(page_number))
        .route("/items/offset", get(offset))
        .route("/items/offset_no_total", get(offset_no_total))
        .route("/items/json_link", get(json_link))
        .route("/items/header_link", get(header_link))
        .route("/items/cursor", get(cursor))
        .route("/items/has_more", get(has_more))
        .route("/items/search", post(search))
        .route("/items/post_pages", post(post_pages))
        .route("/items/single", get(single))
        .route("/echo", get(echo).post(echo))
        .route("/auth/basic/items", get(auth_basic))
        .route("/auth/bearer/items", get(auth_bearer))
        .route("/auth/api_key_header/items", get(auth_api_key_header))
        .route("/auth/api_key_query/items", get(auth_api_key_query))
        .route("/auth/oauth/items", get(auth_oauth))
        .route("/oauth/token", post(oauth_token))
        .route("/users", get(users))
        .route("/users/{id}", get(user))
        .route("/users/{id}/posts", get(user_posts))
        .route("/slow_items/{id}", get(slow_item))
        .route("/bench/ids", get(bench_ids))
        .route("/events", get(events))
        .route("/slow", get(slow))
        .route("/truncated", get(truncated))
        .route("/broken_stream", get(broken_stream))
        .route("/html", get(html))
        .route("/status/{code}", get(status))
        .route("/retry_after", get(retry_after))
        .route("/hostile/cross_origin", get(cross_origin))
        .route("/hostile/echo_key", get(echo_key))
        .route("/hostile/empty_200", get(empty_200))
        .route("/hostile/loop", get(next_loop))
        .route("/hostile/invalid_utf8", get(invalid_utf8))
        .route("/hostile/deep", get(deep))
        .layer(middleware::from_fn_with_state(state.clone(), faults))
        .with_state(state)
}
