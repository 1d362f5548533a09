//! A local Forter-compatible API (see `reference/forter-api.md`), used by the Forter tests, the
//! demo and the benchmarks.
//!
//! Like Forter it wants HTTP Basic with the API key as user (the password is ignored), the
//! `x-forter-siteid` header of that key's site (401 otherwise) and an `api-version` header (400
//! otherwise); errors are JSON `{"status": "failed", "message": ...}`. It serves
//! [`ForterServerConfig::orders`] deterministic orders ([`order`], shape of §A.4 plus a decision
//! of §A.5: amounts as strings, nested cart items and payments, `forterDecision` (v3) and
//! `action` (v2) on some orders):
//!
//! - `GET /v3/orders/{id}`: one order (404 when unknown);
//! - `GET /v3/orders?page=1&page_size=100[&ids_only=true]`: the orders (or just their ids) page by
//!   page, `{"orders": [...], "page": n, "total": N, "next": "<url>" | null}`;
//! - `POST /v3/orders/{id}`: the v3 decision for an order (Forter's validation call);
//! - `POST /v3/order-status` and `POST /v3/decisions`: `{"orderIds": [...]}` (all orders when
//!   absent) → `{"status": "success", "orderStatuses" | "decisions": [...]}`;
//! - `GET /credentials/test`: `{"status": "success"}` when the credentials are right.
//!
//! Faults: [`Faults`] (changeable while running), or `?fault=429|500|503|slow|bad_json` on any
//! request.

// Handlers return `Result<_, Response>`: the error is the HTTP answer itself.
#![allow(clippy::result_large_err)]

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
use std::time::Duration;

/// The API key the server accepts by default.
pub const API_KEY: &str = "forter-test-api-key";
/// The site id the server accepts by default.
pub const SITE_ID: &str = "forter-test-site";
/// First order id: order `i` (from 1) has id `FIRST_ORDER_ID + i`.
pub const FIRST_ORDER_ID: u64 = 100_000_000;

/// What the server serves and accepts.
#[derive(Debug, Clone)]
pub struct ForterServerConfig {
    /// Number of orders.
    pub orders: u64,
    /// The accepted API key.
    pub api_key: String,
    /// The accepted site id.
    pub site_id: String,
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
            cache_pages: false,
        }
    }
}

/// Faults injected on demand (after the auth checks, on every endpoint).
#[derive(Debug, Default)]
pub struct Faults {
    /// Each distinct request (method, path, query) answers 429 to its first N attempts.
    pub throttle_attempts: AtomicU64,
    /// `Retry-After` seconds sent with those 429s.
    pub retry_after_s: AtomicU64,
    /// Each distinct request answers 503 to its first N attempts (after the throttling ones).
    pub error_attempts: AtomicU64,
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
    /// Requests received.
    pub requests: AtomicU64,
    /// 429s sent.
    pub throttled: AtomicU64,
    /// 503s sent.
    pub errors: AtomicU64,
    attempts: Mutex<HashMap<String, u64>>,
    pages: Mutex<HashMap<String, Bytes>>,
}

/// The running server; stops when dropped.
pub struct ForterServer {
    /// Bound address.
    pub addr: SocketAddr,
    /// Shared state.
    pub state: Arc<ServerState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ForterServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ForterServer {
    /// Start on a free loopback port (inside a Tokio runtime).
    pub async fn start(config: ForterServerConfig) -> std::io::Result<Self> {
        Self::start_on(config, 0).await
    }

    /// Start on `127.0.0.1:port` (0 = a free port).
    pub async fn start_on(config: ForterServerConfig, port: u16) -> std::io::Result<Self> {
        let state = Arc::new(ServerState {
            config,
            faults: Faults::default(),
            requests: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            attempts: Mutex::new(HashMap::new()),
            pages: Mutex::new(HashMap::new()),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let app = router(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("forter server stopped: {e}");
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// The faults, to change while running.
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// Wait until the server task ends (it runs until aborted).
    pub async fn wait(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v3/orders", get(list_orders))
        .route("/v3/orders/{id}", get(get_order).post(validate_order))
        .route("/v3/order-status", post(order_status))
        .route("/v3/decisions", post(decisions))
        .route("/credentials/test", get(credentials_test))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), gate))
        .with_state(state)
}

fn failed(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": "failed", "message": message})),
    )
        .into_response()
}

/// Delay, auth, headers and faults, in that order.
async fn gate(State(st): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    st.requests.fetch_add(1, Ordering::Relaxed);
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
        let status = if fault == "500" {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
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

/// The id of order `i` (from 1).
pub fn order_id(i: u64) -> String {
    (FIRST_ORDER_ID + i).to_string()
}

fn index_of(config: &ForterServerConfig, id: &str) -> Option<u64> {
    let n: u64 = id.parse().ok()?;
    let i = n.checked_sub(FIRST_ORDER_ID)?;
    (1..=config.orders).contains(&i).then_some(i)
}

fn money(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Cart items of order `i`.
pub fn cart_item_count(i: u64) -> u64 {
    1 + i % 3
}

/// Payments of order `i`.
pub fn payment_count(i: u64) -> u64 {
    if i.is_multiple_of(4) { 2 } else { 1 }
}

/// Recommendations of order `i`.
pub fn recommendation_count(i: u64) -> u64 {
    [0, 1, 0, 2][(i % 4) as usize]
}

/// Whether order `i` has the v3 `forterDecision`.
pub fn has_forter_decision(i: u64) -> bool {
    !i.is_multiple_of(3)
}

/// Whether order `i` has the v2 `action`.
pub fn has_action(i: u64) -> bool {
    i.is_multiple_of(2)
}

fn currency(i: u64) -> &'static str {
    if i.is_multiple_of(3) { "EUR" } else { "USD" }
}

fn item_cents(i: u64, k: u64) -> u64 {
    1990 + 137 * ((i * 7 + k) % 40)
}

fn usd(cents: u64, cur: &str) -> u64 {
    if cur == "EUR" {
        cents * 108 / 100
    } else {
        cents
    }
}

/// Total of order `i` in local currency cents.
pub fn total_cents(i: u64) -> u64 {
    let items: u64 = (0..cart_item_count(i))
        .map(|k| item_cents(i, k) * (1 + k))
        .sum();
    items + delivery_cents(i)
}

fn delivery_cents(i: u64) -> u64 {
    if i.is_multiple_of(2) { 0 } else { 599 }
}

/// The total amount strings of order `i`: (`amountUSD`, `amountLocalCurrency`, `currency`).
pub fn total_amount(i: u64) -> (String, String, &'static str) {
    let cur = currency(i);
    let c = total_cents(i);
    (money(usd(c, cur)), money(c), cur)
}

const DECISIONS: [(&str, &str); 3] = [
    ("APPROVE", "approve"),
    ("DECLINE", "decline"),
    ("NOT_REVIEWED", "not reviewed"),
];

fn decision(i: u64) -> (&'static str, &'static str) {
    DECISIONS[(i % 7 % 3) as usize]
}

fn recommendations(i: u64) -> Vec<&'static str> {
    match recommendation_count(i) {
        0 => vec![],
        1 => vec!["ROUTING_RECOMMENDED"],
        _ => vec!["MONITOR_POTENTIAL_COUPON_ABUSE", "BORDERLINE"],
    }
}

/// Order `i` (from 1), with its decision fields.
pub fn order(i: u64) -> Value {
    const FIRST: [&str; 6] = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"];
    const LAST: [&str; 6] = [
        "Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson",
    ];
    const CITIES: [(&str, &str, &str, &str); 4] = [
        ("New York", "NY", "US", "10001"),
        ("Berlin", "BE", "DE", "10115"),
        ("Paris", "IDF", "FR", "75001"),
        ("Austin", "TX", "US", "73301"),
    ];
    let cur = currency(i);
    let first = FIRST[(i % 6) as usize];
    let last = LAST[(i * 5 % 6) as usize];
    let email = format!(
        "{}.{}{}@example.com",
        first.to_lowercase(),
        last.to_lowercase(),
        i
    );
    let (city, region, country, zip) = CITIES[(i % 4) as usize];
    let address = json!({
        "address1": format!("{} Main Street", 10 + i), "city": city, "region": region,
        "country": country, "zip": zip, "company": if i.is_multiple_of(5) { json!("Acme Corp") } else { Value::Null },
        "savedData": {"usedSavedData": i % 2 == 1, "choseToSaveData": false},
    });
    let cart: Vec<Value> = (0..cart_item_count(i))
        .map(|k| {
            let c = item_cents(i, k);
            let category = ["Apparel", "Books", "Electronics"][(k % 3) as usize];
            json!({
                "basicItemData": {
                    "price": {"amountLocalCurrency": money(c), "currency": cur},
                    "value": {"amountUSD": money(usd(c, cur))},
                    "productId": format!("sku-{:04}", (i * 13 + k) % 1000),
                    "name": format!("Product {}", (i * 13 + k) % 1000),
                    "type": if k == 2 { "NON_TANGIBLE" } else { "TANGIBLE" },
                    "quantity": (1 + k) as f64,
                    "category": category,
                },
                "itemSpecificData": {"physicalGoods": {"wrapAsGift": k == 1}},
            })
        })
        .collect();
    let total = total_cents(i);
    let mut payments = vec![json!({
        "billingDetails": {
            "personalDetails": {"firstName": first, "lastName": last, "email": email},
            "address": address,
        },
        "amount": {"amountLocalCurrency": money(total), "currency": cur},
        "paymentMethodNickname": "visa",
        "creditCard": {
            "nameOnCard": format!("{first} {last}"), "cardBrand": "VISA", "bin": "411111",
            "lastFourDigits": format!("{:04}", (i * 37) % 10000), "expirationMonth": format!("{:02}", 1 + i % 12),
            "expirationYear": "2030", "countryOfIssuance": country, "cardBank": "Test Bank",
            "verificationResults": {
                "avsFullResult": "Y", "cvvResult": "M", "authorizationCode": format!("A{i:05}"),
                "processorResponseCode": "1000", "processorResponseText": "Approved",
                "eciValue": "05", "cavvResult": "2",
            },
            "paymentGatewayData": {"gatewayName": "braintree", "gatewayTransactionId": format!("bt-{i:08}")},
        },
    })];
    if payment_count(i) == 2 {
        payments.push(json!({
            "amount": {"amountLocalCurrency": "0.00", "currency": cur},
            "paymentMethodNickname": "gift card",
            "paypal": {"payerId": format!("PAYER{i}"), "payerEmail": email, "paymentStatus": "COMPLETED"},
        }));
    }
    let (usd_s, local_s, _) = total_amount(i);
    let (dec_v3, dec_v2) = decision(i);
    let mut o = json!({
        "orderId": order_id(i),
        "orderType": if i.is_multiple_of(5) { "PHONE" } else { "WEB" },
        "timeSentToForter": 1_700_000_000_000u64 + i * 60_000,
        "checkoutTime": 1_700_000_000u64 + i * 60,
        "authorizationStep": if i % 2 == 1 { "PRE_AUTHORIZATION" } else { "POST_AUTHORIZATION" },
        "connectionInformation": {
            "customerIP": format!("203.0.113.{}", i % 250),
            "userAgent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
            "forterTokenCookie": format!("ftc-{i:08x}"),
            "merchantDeviceIdentifier": Value::Null,
        },
        "totalAmount": {"amountUSD": usd_s, "amountLocalCurrency": local_s, "currency": cur},
        "cartItems": cart,
        "primaryDeliveryDetails": {
            "deliveryType": "PHYSICAL", "deliveryMethod": "USPS Ground",
            "deliveryPrice": {"amountLocalCurrency": money(delivery_cents(i)), "currency": cur},
        },
        "primaryRecipient": {
            "personalDetails": {"firstName": first, "lastName": last, "email": email},
            "address": address,
            "phone": [{"phone": format!("+1555{:07}", i)}],
        },
        "accountOwner": {
            "firstName": first, "lastName": last, "email": email, "accountId": format!("acct-{}", i % 17),
            "created": 1_415_273_168u64 + i * 86_400, "pastOrdersCount": i % 9, "pastOrdersSum": "120.50",
        },
        "payment": payments,
        "recommendations": recommendations(i),
    });
    if has_forter_decision(i) {
        o["forterDecision"] = json!(dec_v3);
        o["decisionReason"] = json!(if dec_v3 == "DECLINE" {
            "HIGH_RISK_SIGNALS"
        } else {
            ""
        });
        o["linkToEventInDashboard"] = json!(format!(
            "https://portal.forter.com/dashboard/{}",
            order_id(i)
        ));
    }
    if has_action(i) {
        o["action"] = json!(dec_v2);
        o["reasonCode"] = json!("");
        o["status"] = json!("success");
    }
    o
}

fn v3_decision(i: u64) -> Value {
    let (dec_v3, dec_v2) = decision(i);
    let mut d = json!({
        "orderId": order_id(i),
        "forterDecision": dec_v3,
        "recommendation": recommendations(i).first().copied().unwrap_or(""),
        "decisionReason": if dec_v3 == "DECLINE" { "HIGH_RISK_SIGNALS" } else { "" },
        "linkToEventInDashboard": format!("https://portal.forter.com/dashboard/{}", order_id(i)),
        "merchantPolicyId": "policy-default",
        "verificationMethod": {
            "correlationId": format!("corr-{i:06}"), "status": "FRICTIONLESS", "statusCode": "Y",
            "type": "THREE_DS", "verificationId": format!("ver-{i:06}"),
        },
    });
    if has_action(i) {
        d["action"] = json!(dec_v2);
    }
    d
}

fn order_status_of(i: u64) -> Value {
    const STATUSES: [&str; 5] = [
        "PROCESSING",
        "SENT",
        "COMPLETED",
        "CANCELED_BY_MERCHANT",
        "RETURNED",
    ];
    let (usd_s, local_s, cur) = total_amount(i);
    json!({
        "orderId": order_id(i),
        "eventTime": 1_700_000_000_000u64 + i * 60_000 + 3_600_000,
        "updatedStatus": STATUSES[(i % 5) as usize],
        "updatedMerchantStatus": format!("merchant-{}", STATUSES[(i % 5) as usize].to_lowercase()),
        "updatedTotalAmount": {"amountUSD": usd_s, "amountLocalCurrency": local_s, "currency": cur},
    })
}

async fn get_order(State(st): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match index_of(&st.config, &id) {
        Some(i) => Json(order(i)).into_response(),
        None => failed(StatusCode::NOT_FOUND, &format!("Order {id} not found")),
    }
}

async fn validate_order(State(st): State<Arc<ServerState>>, Path(id): Path<String>) -> Response {
    match index_of(&st.config, &id) {
        Some(i) => Json(v3_decision(i)).into_response(),
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

fn requested(st: &ServerState, body: &Value) -> Result<Vec<u64>, Response> {
    match body.get("orderIds") {
        None | Some(Value::Null) => Ok((1..=st.config.orders).collect()),
        Some(Value::Array(ids)) => Ok(ids
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| index_of(&st.config, s)))
            .collect()),
        Some(_) => Err(failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: orderIds must be a list of strings",
        )),
    }
}

fn parse_body(body: &str) -> Result<Value, Response> {
    if body.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(body).map_err(|e| {
        failed(
            StatusCode::BAD_REQUEST,
            &format!("Bad Request: invalid JSON: {e}"),
        )
    })
}

async fn order_status(State(st): State<Arc<ServerState>>, body: String) -> Response {
    let ids = match parse_body(&body).and_then(|b| requested(&st, &b)) {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let rows: Vec<Value> = ids.into_iter().map(order_status_of).collect();
    Json(json!({"status": "success", "orderStatuses": rows})).into_response()
}

async fn decisions(State(st): State<Arc<ServerState>>, body: String) -> Response {
    let ids = match parse_body(&body).and_then(|b| requested(&st, &b)) {
        Ok(ids) => ids,
        Err(r) => return r,
    };
    let rows: Vec<Value> = ids.into_iter().map(v3_decision).collect();
    Json(json!({"status": "success", "decisions": rows})).into_response()
}

async fn credentials_test() -> Response {
    Json(json!({"status": "success", "message": "Credentials are valid"})).into_response()
}

async fn not_found() -> Response {
    failed(StatusCode::NOT_FOUND, "Not Found")
}
