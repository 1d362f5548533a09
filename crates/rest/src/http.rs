//! The HTTP layer: one shared client, a token-bucket rate limit, a bound on requests in
//! flight, retries with exponential backoff and `Retry-After`, response actions, and errors
//! that name the resource and the redacted URL.

use crate::auth::{Auth, OAuth2};
use crate::config::{ApiKeyLocation, Method, ResponseAction, ResponseActionKind};
use crate::credentials::{AuthScope, CREDENTIAL_HEADERS, Redactor};
use crate::progress::Progress;
use crate::raw_items::{RawItems, split_items};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use sluice_core::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Characters of a response body quoted in error messages.
const BODY_EXCERPT: usize = 200;

/// One request to send (before auth is applied).
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    pub params: Vec<(String, String)>,
    pub json: Option<Value>,
    pub data: Option<Value>,
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// Set (replace or add) a query parameter.
    pub fn set_param(&mut self, name: &str, value: String) {
        if let Some(p) = self.params.iter_mut().find(|(k, _)| k == name) {
            p.1 = value;
        } else {
            self.params.push((name.to_string(), value));
        }
    }

    /// The URL with the query parameters.
    pub fn full_url(&self) -> Url {
        let mut url = self.url.clone();
        if !self.params.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in &self.params {
                q.append_pair(k, v);
            }
        }
        url
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Response {
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Value,
    /// The items at the requested key path, left unparsed (`body` then has an empty array or
    /// `null` there); `None` when not requested or when the body has no objects on that path.
    pub raw_items: Option<RawItems>,
}

/// What a request produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    Response(Box<Response>),
    /// A response action said to ignore it.
    Ignored,
}

/// HTTP options of a source.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub timeout: Duration,
    pub max_attempts: u32,
    pub backoff_factor: f64,
    pub max_retry_delay: f64,
    pub rate_limit: Option<f64>,
    pub max_concurrency: usize,
    /// The origins that receive credentials.
    pub auth_scope: AuthScope,
    /// Retry POSTs also when the server may have acted on them (see `RestApiConfig::retry_post`).
    pub retry_post: bool,
}

/// A token bucket of capacity one: requests start at most `rate` per second, spaced evenly.
#[derive(Debug)]
struct RateLimiter {
    interval: Duration,
    next: std::sync::Mutex<Instant>,
}

impl RateLimiter {
    fn new(rate: f64) -> Self {
        Self {
            interval: Duration::try_from_secs_f64(1.0 / rate).unwrap_or(Duration::ZERO),
            next: std::sync::Mutex::new(Instant::now()),
        }
    }

    async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().expect("rate limiter lock");
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// The shared HTTP client of a source.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    limiter: Option<RateLimiter>,
    in_flight: Semaphore,
    opts: HttpOptions,
    pub progress: Arc<Progress>,
    /// Hides every configured secret in URLs and messages.
    pub redactor: Redactor,
    /// Origins already warned about (credentials withheld), so the warning shows once.
    warned_origins: std::sync::Mutex<Vec<url::Origin>>,
}

/// A failed send in words: what failed (connecting, sending, reading the body) and the causes
/// down to the operating system's ("Connection refused (os error 111)"). No URL: the caller
/// shows the redacted one.
fn describe_send_error(e: &reqwest::Error) -> String {
    let what = if e.is_connect() {
        "could not connect to the server"
    } else if e.is_body() || e.is_decode() {
        "the response body could not be read"
    } else if e.is_redirect() {
        "redirects could not be followed"
    } else {
        "the request failed"
    };
    let mut causes: Vec<String> = Vec::new();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        let text = c.to_string();
        if !causes.iter().any(|x| x.contains(&text)) {
            causes.push(text);
        }
        cur = c.source();
    }
    if causes.is_empty() {
        what.to_string()
    } else {
        format!("{what}: {}", causes.join(": "))
    }
}

fn excerpt(text: &str) -> String {
    let t: String = text.chars().take(BODY_EXCERPT).collect();
    let t = t.replace(['\n', '\r'], " ");
    if text.chars().count() > BODY_EXCERPT {
        format!("{t}…")
    } else {
        t
    }
}

/// The delay asked for by a `Retry-After` header: seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<f64> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<f64>() {
        return Some(secs.max(0.0));
    }
    let date = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let ms = date.timestamp_millis() - chrono::Utc::now().timestamp_millis();
    Some((ms as f64 / 1000.0).max(0.0))
}

fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

impl Http {
    pub fn new(opts: HttpOptions, progress: Arc<Progress>, redactor: Redactor) -> Result<Self> {
        // reqwest is built without a bundled crypto provider: use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(opts.max_concurrency.max(1) * 2)
            .connect_timeout(opts.timeout)
            .build()
            .map_err(|e| Error::config("cannot build the HTTP client").with_source(e))?;
        let limiter = match opts.rate_limit {
            Some(r) if r > 0.0 => Some(RateLimiter::new(r)),
            _ => None,
        };
        Ok(Self {
            client,
            limiter,
            in_flight: Semaphore::new(opts.max_concurrency.max(1)),
            opts,
            progress,
            redactor,
            warned_origins: Default::default(),
        })
    }

    /// Divide the rate limit between `n` partitions running at the same time: this client
    /// then starts at most `rate_limit / n` requests per second.
    pub fn divide_rate_limit(&mut self, n: u32) {
        if let Some(rate) = self.opts.rate_limit.filter(|r| *r > 0.0) {
            let share = rate / f64::from(n.max(1));
            tracing::info!(
                "partitioned run: rate limit {share} request(s) per second ({rate} / {n})"
            );
            self.opts.rate_limit = Some(share);
            self.limiter = Some(RateLimiter::new(share));
        }
    }

    fn backoff(&self, attempt: u32, headers: Option<&HeaderMap>) -> Duration {
        let max = self.opts.max_retry_delay.max(0.0);
        let secs = headers
            .and_then(retry_after)
            .unwrap_or_else(|| self.opts.backoff_factor * 2f64.powi(attempt as i32 - 1));
        // (A Retry-After or a backoff beyond f64's range waits the longest delay.)
        let secs = if secs.is_nan() {
            max
        } else {
            secs.clamp(0.0, max)
        };
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::from_secs_f64(max))
    }

    async fn start_request(&self) -> tokio::sync::SemaphorePermit<'_> {
        if let Some(l) = &self.limiter {
            l.acquire().await;
        }
        self.in_flight
            .acquire()
            .await
            .expect("semaphore never closed")
    }

    /// A valid OAuth2 token: cached, fetched again shortly before it expires.
    async fn oauth_token(&self, resource: &str, o: &OAuth2, force: bool) -> Result<String> {
        let mut guard = o.token.lock().await;
        if let Some((token, refresh_at)) = guard.as_ref()
            && !force
            && Instant::now() < *refresh_at
        {
            return Ok(token.expose().to_string());
        }
        let mut form: Vec<(String, String)> = vec![
            ("grant_type".into(), "client_credentials".into()),
            ("client_id".into(), o.client_id.expose().to_string()),
            ("client_secret".into(), o.client_secret.expose().to_string()),
        ];
        form.extend(o.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        let shown = self.redactor.text(&sluice_core::config::redact_url(&o.url));
        let mut last_err = String::new();
        for attempt in 1..=self.opts.max_attempts.max(1) {
            // The caller holds an in-flight slot already: only the rate limit applies here.
            if let Some(l) = &self.limiter {
                l.acquire().await;
            }
            let res = self
                .client
                .post(&o.url)
                .form(&form)
                .timeout(self.opts.timeout)
                .send()
                .await;
            let res = match res {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    r.text().await.map(|t| (status, headers, t))
                }
                Err(e) => Err(e),
            };
            match res {
                Ok((status, _, text)) if (200..300).contains(&status) => {
                    let v: Value = serde_json::from_str(&text).map_err(|_| {
                        Error::new(
                            sluice_core::ErrorKind::Source,
                            format!("resource '{resource}': the OAuth2 token endpoint {shown} did not return JSON"),
                        )
                    })?;
                    let token = v
                        .get("access_token")
                        .and_then(Value::as_str)
                        .ok_or_else(|| {
                            Error::new(
                                sluice_core::ErrorKind::Source,
                                format!("resource '{resource}': the OAuth2 token response from {shown} has no access_token"),
                            )
                        })?
                        .to_string();
                    let expires_in = v
                        .get("expires_in")
                        .and_then(|e| {
                            e.as_f64()
                                .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
                        })
                        .unwrap_or(o.default_expiration as f64)
                        .max(0.0);
                    // Refresh a little before the token expires: 10% of its life, at most a minute.
                    let margin = (expires_in * 0.1).min(60.0);
                    // (A server's absurd `expires_in` — inf, 1e300 — keeps the token a day.)
                    let life = Duration::try_from_secs_f64(expires_in - margin)
                        .ok()
                        .filter(|d| *d <= Duration::from_secs(86_400))
                        .unwrap_or(Duration::from_secs(86_400));
                    let refresh_at = Instant::now() + life;
                    *guard = Some((sluice_core::Secret::new(token.clone()), refresh_at));
                    tracing::debug!(resource, url = %shown, expires_in, "fetched an OAuth2 token");
                    return Ok(token);
                }
                Ok((status, headers, text)) => {
                    if is_retryable_status(status) && attempt < self.opts.max_attempts {
                        tokio::time::sleep(self.backoff(attempt, Some(&headers))).await;
                        continue;
                    }
                    return Err(Error::new(
                        if is_retryable_status(status) {
                            sluice_core::ErrorKind::Transient
                        } else {
                            sluice_core::ErrorKind::Config
                        },
                        format!(
                            "resource '{resource}': the OAuth2 token request to {shown} failed with status {status}: {}",
                            excerpt(&text)
                        ),
                    ));
                }
                Err(e) => {
                    last_err = e.without_url().to_string();
                    if attempt < self.opts.max_attempts {
                        tokio::time::sleep(self.backoff(attempt, None)).await;
                    }
                }
            }
        }
        Err(Error::transient(format!(
            "resource '{resource}': the OAuth2 token request to {shown} failed: {last_err}"
        )))
    }

    async fn build(
        &self,
        resource: &str,
        req: &Request,
        auth: &Auth,
        force_token: bool,
    ) -> Result<reqwest::RequestBuilder> {
        let method = match req.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let url = req.full_url();
        let with_credentials = self.opts.auth_scope.allows(&url);
        if !with_credentials {
            self.warn_withheld(resource, &url);
        }
        let mut rb = self.client.request(method, url).timeout(self.opts.timeout);
        let mut headers = HeaderMap::new();
        for (k, v) in &req.headers {
            if !with_credentials && CREDENTIAL_HEADERS.iter().any(|h| k.eq_ignore_ascii_case(h)) {
                continue;
            }
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                Error::config(format!("resource '{resource}': invalid header name '{k}'"))
            })?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                Error::config(format!(
                    "resource '{resource}': invalid value of header '{k}'"
                ))
            })?;
            headers.insert(name, value);
        }
        rb = rb.headers(headers);
        if let Some(json) = &req.json {
            rb = rb.json(json);
        }
        match &req.data {
            Some(Value::String(s)) => rb = rb.body(s.clone()),
            Some(Value::Object(o)) => {
                let form: Vec<(String, String)> = o
                    .iter()
                    .map(|(k, v)| (k.clone(), crate::template::value_to_param(v)))
                    .collect();
                rb = rb.form(&form);
            }
            Some(other) => rb = rb.body(other.to_string()),
            None => {}
        }
        let auth = if with_credentials { auth } else { &Auth::None };
        rb = match auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t.expose()),
            Auth::Basic { user, password } => rb.basic_auth(user.expose(), Some(password.expose())),
            Auth::ApiKey {
                name,
                key,
                location,
            } => match location {
                ApiKeyLocation::Header => {
                    let value = HeaderValue::from_str(key.expose()).map_err(|_| {
                        Error::config(format!(
                            "resource '{resource}': the API key is not a valid header value"
                        ))
                    })?;
                    rb.header(name.as_str(), value)
                }
                ApiKeyLocation::Query | ApiKeyLocation::Param => {
                    rb.query(&[(name.as_str(), key.expose())])
                }
            },
            Auth::OAuth2(o) => {
                let token = self.oauth_token(resource, o, force_token).await?;
                self.redactor.add(&token);
                rb.bearer_auth(token)
            }
        };
        Ok(rb)
    }

    /// Whether a failed POST must not be sent again: the server may have acted on it and the
    /// user did not say repeating it is safe.
    fn holds_back_post(&self, req: &Request, may_have_acted: bool) -> bool {
        matches!(req.method, Method::Post) && may_have_acted && !self.opts.retry_post
    }

    /// The end of an error message when a POST was not retried for that reason.
    fn not_retried_note(
        &self,
        req: &Request,
        may_have_acted: bool,
        attempt: u32,
        max_attempts: u32,
    ) -> &'static str {
        if attempt < max_attempts && self.holds_back_post(req, may_have_acted) {
            " (not retried: the server may have accepted the POST; set retry_post = true in \
             [source] if this endpoint is safe to repeat)"
        } else {
            ""
        }
    }

    /// Say once per origin that a request leaves the auth scope and goes without credentials.
    fn warn_withheld(&self, resource: &str, url: &Url) {
        let origin = url.origin();
        let mut warned = self.warned_origins.lock().expect("warned origins lock");
        if warned.contains(&origin) {
            return;
        }
        warned.push(origin.clone());
        tracing::warn!(
            resource,
            origin = %origin.ascii_serialization(),
            "a link points outside the API's origin: it is requested without credentials \
             (list the origin in client.auth_origins to send them)"
        );
    }

    /// Send a request with retries. Errors name the resource and the URL as [`Redactor::url`]
    /// shows it; the caller ([`crate::pages`]) passes every error through the redactor once more,
    /// for a secret that reached a message another way (an API echoing it into its body).
    ///
    /// With `items_at`, the items at that key path are split off the body unparsed (see
    /// [`crate::raw_items`]).
    pub async fn send(
        &self,
        resource: &str,
        req: &Request,
        auth: &Auth,
        actions: &[ResponseAction],
        items_at: Option<&[String]>,
    ) -> Result<Outcome> {
        let counters = self.progress.resource(resource);
        let shown = self.redactor.url(&req.full_url());
        let method = match req.method {
            Method::Get => "GET",
            Method::Post => "POST",
        };
        let max_attempts = self.opts.max_attempts.max(1);
        let mut force_token = false;
        let mut refreshed_on_401 = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Wait for the rate limit and a slot first, so that the auth token is checked
            // right before the request leaves.
            let permit = self.start_request().await;
            let rb = self.build(resource, req, auth, force_token).await?;
            force_token = false;
            counters.requests.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(resource, method, url = %shown, attempt, "request");
            let result = match rb.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let reason = r.status().canonical_reason().unwrap_or("").to_string();
                    let url = r.url().clone();
                    let headers = r.headers().clone();
                    r.bytes().await.map(|b| (status, reason, url, headers, b))
                }
                Err(e) => Err(e),
            };
            drop(permit);
            let (status, reason, url, headers, bytes) = match result {
                Ok(x) => {
                    counters
                        .bytes
                        .fetch_add(x.4.len() as u64, Ordering::Relaxed);
                    x
                }
                Err(e) => {
                    let what = if e.is_timeout() {
                        format!("timed out after {:.1} s", self.opts.timeout.as_secs_f64())
                    } else {
                        describe_send_error(&e)
                    };
                    let may_have_acted = !e.is_connect();
                    if attempt < max_attempts && !self.holds_back_post(req, may_have_acted) {
                        counters.retries.fetch_add(1, Ordering::Relaxed);
                        let wait = self.backoff(attempt, None);
                        tracing::warn!(resource, method, url = %shown, attempt, error = %what, wait_s = wait.as_secs_f64(), "request failed, retrying");
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                    return Err(Error::transient(format!(
                        "resource '{resource}': {method} {shown} failed after {attempt} attempts: {what}{}",
                        self.not_retried_note(req, may_have_acted, attempt, max_attempts)
                    )));
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            for a in actions {
                let status_ok = a.status_code.is_none_or(|s| s.0 == status);
                let content_ok = a.content.as_ref().is_none_or(|c| text.contains(c.as_str()));
                if status_ok && content_ok && (a.status_code.is_some() || a.content.is_some()) {
                    match a.action {
                        ResponseActionKind::Ignore => {
                            tracing::info!(resource, method, url = %shown, status, "response ignored by a response action");
                            return Ok(Outcome::Ignored);
                        }
                    }
                }
            }
            if status == 401 && matches!(auth, Auth::OAuth2(_)) && !refreshed_on_401 {
                // The token may have been revoked or expired early: fetch a new one once.
                refreshed_on_401 = true;
                force_token = true;
                attempt -= 1;
                continue;
            }
            if is_retryable_status(status) {
                let may_have_acted = !matches!(status, 429 | 503);
                if attempt < max_attempts && !self.holds_back_post(req, may_have_acted) {
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    let wait = self.backoff(attempt, Some(&headers));
                    tracing::warn!(resource, method, url = %shown, attempt, status, wait_s = wait.as_secs_f64(), "retryable status, retrying");
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Err(Error::transient(format!(
                    "resource '{resource}': {method} {shown} failed with status {status} {reason} after {attempt} attempts{}: {}",
                    self.not_retried_note(req, may_have_acted, attempt, max_attempts),
                    excerpt(&text)
                )));
            }
            if !(200..300).contains(&status) {
                return Err(Error::new(
                    sluice_core::ErrorKind::Source,
                    format!(
                        "resource '{resource}': {method} {shown} failed with status {status} {reason}: {}",
                        excerpt(&text)
                    ),
                ));
            }
            if text.trim().is_empty() {
                if status != 204 {
                    return Err(Error::new(
                        sluice_core::ErrorKind::Source,
                        format!(
                            "resource '{resource}': {method} {shown} returned status {status} {reason} \
                             with an empty body where JSON was expected (an API with nothing to \
                             return answers 204 No Content)"
                        ),
                    ));
                }
                return Ok(Outcome::Response(Box::new(Response {
                    url,
                    headers,
                    body: Value::Null,
                    raw_items: None,
                })));
            }
            let body_len = bytes.len();
            if let std::borrow::Cow::Owned(_) = text {
                // from_utf8_lossy copies only when it had to replace invalid bytes.
                let valid = std::str::from_utf8(&bytes)
                    .err()
                    .map_or(0, |e| e.valid_up_to());
                return Err(Error::new(
                    sluice_core::ErrorKind::Source,
                    format!(
                        "resource '{resource}': {method} {shown} returned status {status} but the \
                         body is not valid UTF-8 (the first invalid byte is at offset {valid} of \
                         {body_len}); JSON must be UTF-8, and sluice does not replace bytes it \
                         cannot read"
                    ),
                ));
            }
            let parsed = match items_at {
                Some(keys) => {
                    // The items keep the text: take the response's buffer rather than a copy.
                    let owned = match text {
                        std::borrow::Cow::Owned(t) => t,
                        std::borrow::Cow::Borrowed(_) => String::from_utf8(Vec::from(bytes))
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
                    };
                    split_items(owned, keys)
                }
                None => serde_json::from_str(&text)
                    .map(|body| (body, None))
                    .map_err(|e| (e, text.into_owned())),
            };
            let (body, raw_items) = match parsed {
                Ok(v) => v,
                Err((e, text)) => {
                    let ctype = headers
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("none")
                        .to_string();
                    let why = if e.is_eof() {
                        "the JSON body is truncated".to_string()
                    } else if e.to_string().contains("recursion limit") {
                        format!("the body is nested deeper than JSON parsing allows ({e})")
                    } else {
                        format!("the body is not JSON ({e})")
                    };
                    return Err(Error::new(
                        sluice_core::ErrorKind::Source,
                        format!(
                            "resource '{resource}': {method} {shown} returned status {status} but {why} \
                             (content-type {ctype}, {} bytes): {}",
                            body_len,
                            excerpt(&text)
                        ),
                    ));
                }
            };
            return Ok(Outcome::Response(Box::new(Response {
                url,
                headers,
                body,
                raw_items,
            })));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(3.0));
        let future = chrono::Utc::now() + chrono::Duration::seconds(10);
        let date = future.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        h.insert("retry-after", HeaderValue::from_str(&date).unwrap());
        let s = retry_after(&h).unwrap();
        assert!((8.0..=10.5).contains(&s), "{s}");
        h.insert("retry-after", HeaderValue::from_static("garbage"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), BODY_EXCERPT + 1);
    }
}
