//! The tokenization API on a host of its own, with credentials of its own (HTTP Basic with the
//! tokenization site id and secret, not the API key), as the reference describes Forter's PCI
//! tokenization service. Like its sandbox it accepts only test card numbers. The path,
//! `POST /v1/tokens` (`{"cardNumber": "..."}` → `{"token", "bin", "lastFourDigits"}`), is this
//! server's own: the reference gives the host, not the path.

use super::push::Received;
use super::{ServerState, failed};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use std::sync::Arc;

/// The tokenization site id the server accepts by default.
pub const TOKENIZATION_SITE_ID: &str = "forter-test-pci-site";
/// The tokenization secret the server accepts by default.
pub const TOKENIZATION_SECRET: &str = "forter-test-pci-secret";
/// The test card numbers the sandbox accepts.
pub const TEST_CARDS: [&str; 3] = ["4111111111111111", "4444333322221111", "5555555555554444"];

pub(super) fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/v1/tokens", post(tokenize))
        .fallback(|| async { failed(StatusCode::NOT_FOUND, "Not Found") })
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .with_state(state)
}

async fn auth(State(st): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    st.tokenization_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    let want = format!(
        "{}:{}",
        st.config.tokenization_site_id, st.config.tokenization_secret
    );
    if given != want {
        return failed(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: the tokenization API wants HTTP Basic with its site id and site secret",
        );
    }
    next.run(req).await
}

async fn tokenize(State(st): State<Arc<ServerState>>, req: Request) -> Response {
    let headers: Vec<String> = req
        .headers()
        .keys()
        .map(|k| k.as_str().to_string())
        .collect();
    let path = req.uri().path().to_string();
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 1 << 20).await else {
        return failed(StatusCode::BAD_REQUEST, "Bad Request: unreadable body");
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return failed(
                StatusCode::BAD_REQUEST,
                "Bad Request: the body must be a JSON object",
            );
        }
    };
    st.received.lock().expect("received lock").push(Received {
        path,
        body: body.clone(),
        headers,
    });
    let Some(card) = body.get("cardNumber").and_then(Value::as_str) else {
        return failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: missing required parameter cardNumber",
        );
    };
    if !TEST_CARDS.contains(&card) {
        return failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: the sandbox accepts only test card numbers",
        );
    }
    let token: u64 = card.bytes().fold(1469598103934665603u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    });
    Json(json!({
        "token": format!("tok_{token:016x}"),
        "bin": &card[..6],
        "lastFourDigits": &card[card.len() - 4..],
    }))
    .into_response()
}
