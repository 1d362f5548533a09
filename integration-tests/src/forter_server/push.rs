//! Forter's push endpoints as the reference describes them: the merchant POSTs an order or a
//! status update and gets the decision or an acknowledgement back in the same call. Bodies are
//! checked (JSON object, `orderId` matching the path, required fields) and kept for tests.

use super::data::{FIRST_ORDER_ID, decision, index_of, recommendations};
use super::{ServerState, failed};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// The `updatedStatus` values of Forter's order status API.
pub const ORDER_STATUSES: [&str; 8] = [
    "PROCESSING",
    "SENT",
    "COMPLETED",
    "CANCELED_BY_MERCHANT",
    "CANCELED_BY_CUSTOMER",
    "RETURNED",
    "NO_SHOW",
    "REPLACED",
];

/// A request body the server received on a push endpoint.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path (`/v2/status/100000001`).
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// The request's header names, lower case.
    pub headers: Vec<String>,
}

/// The body as a JSON object, recorded; a 400 in Forter's error shape otherwise.
fn take_body(
    st: &ServerState,
    uri: &Uri,
    headers: Vec<String>,
    body: &str,
) -> Result<Value, Response> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        failed(
            StatusCode::BAD_REQUEST,
            &format!("Bad Request: the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: the body must be a JSON object",
        ));
    }
    st.received.lock().expect("received lock").push(Received {
        path: uri.path().to_string(),
        body: value.clone(),
        headers,
    });
    Ok(value)
}

/// The body's `orderId`, which must be the id of the path.
fn check_order_id(body: &Value, id: &str) -> Result<(), Response> {
    match body.get("orderId") {
        Some(Value::String(s)) if s == id => Ok(()),
        Some(Value::Number(n)) if n.to_string() == id => Ok(()),
        None | Some(Value::Null) => Err(failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: missing required parameter orderId",
        )),
        Some(other) => Err(failed(
            StatusCode::BAD_REQUEST,
            &format!(
                "Bad Request: orderId {other} in the body does not match the order id {id} of the URL"
            ),
        )),
    }
}

/// The decision of an order: fixed for the served orders, forced by Forter's test emails
/// (`approve@forter.com`, `decline@forter.com`), otherwise derived from the id.
fn decide(
    st: &ServerState,
    id: &str,
    body: &Value,
) -> (&'static str, &'static str, Vec<&'static str>) {
    let email = body
        .pointer("/accountOwner/email")
        .and_then(Value::as_str)
        .unwrap_or("");
    if email.starts_with("approve@forter.com") {
        return ("APPROVE", "approve", vec![]);
    }
    if email.starts_with("decline@forter.com") {
        return ("DECLINE", "decline", vec![]);
    }
    let i = index_of(st.config.orders, id)
        .unwrap_or_else(|| id.bytes().map(u64::from).sum::<u64>() % 1000 + FIRST_ORDER_ID);
    let (v3, v2) = decision(i);
    (v3, v2, recommendations(i))
}

fn header_names(headers: &axum::http::HeaderMap) -> Vec<String> {
    headers.keys().map(|k| k.as_str().to_string()).collect()
}

/// `POST /v3/orders/{id}`: the v3 decision.
pub(super) async fn order_v3(
    State(st): State<Arc<ServerState>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let body = match take_body(&st, &uri, header_names(&headers), &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = check_order_id(&body, &id) {
        return r;
    }
    let (v3, _, recs) = decide(&st, &id, &body);
    Json(json!({
        "orderId": id,
        "forterDecision": v3,
        "recommendation": recs.first().copied().unwrap_or(""),
        "decisionReason": if v3 == "DECLINE" { "HIGH_RISK_SIGNALS" } else { "" },
        "linkToEventInDashboard": format!("https://portal.forter.com/dashboard/{id}"),
        "merchantPolicyId": "policy-default",
        "verificationMethod": {
            "correlationId": format!("corr-{id}"), "status": "FRICTIONLESS", "statusCode": "Y",
            "type": "THREE_DS", "verificationId": format!("ver-{id}"),
        },
    }))
    .into_response()
}

/// `POST /v2/orders/{id}`: the v2 decision (`action` in lower case).
pub(super) async fn order_v2(
    State(st): State<Arc<ServerState>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let body = match take_body(&st, &uri, header_names(&headers), &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = check_order_id(&body, &id) {
        return r;
    }
    let (_, v2, recs) = decide(&st, &id, &body);
    Json(json!({
        "action": v2, "message": "", "reasonCode": "", "status": "success",
        "transaction": id, "recommendations": recs,
    }))
    .into_response()
}

/// `POST /v2/status/{id}`: an acknowledgement, no new decision.
pub(super) async fn order_status(
    State(st): State<Arc<ServerState>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let body = match take_body(&st, &uri, header_names(&headers), &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Err(r) = check_order_id(&body, &id) {
        return r;
    }
    match body.get("updatedStatus").and_then(Value::as_str) {
        Some(s) if ORDER_STATUSES.contains(&s) => {}
        Some(s) => {
            return failed(
                StatusCode::BAD_REQUEST,
                &format!(
                    "Bad Request: updatedStatus '{s}' is not one of {}",
                    ORDER_STATUSES.join(", ")
                ),
            );
        }
        None => {
            return failed(
                StatusCode::BAD_REQUEST,
                "Bad Request: missing required parameter updatedStatus",
            );
        }
    }
    Json(json!({"status": "success", "message": format!("Transaction: {id}")})).into_response()
}

/// `POST /v2/claims`: a chargeback or fraud alert, acknowledged.
pub(super) async fn claims(
    State(st): State<Arc<ServerState>>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: String,
) -> Response {
    let body = match take_body(&st, &uri, header_names(&headers), &body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match body.get("orderId").and_then(Value::as_str) {
        Some(id) => Json(json!({"status": "success", "message": format!("Transaction: {id}")}))
            .into_response(),
        None => failed(
            StatusCode::BAD_REQUEST,
            "Bad Request: missing required parameter orderId",
        ),
    }
}
