//! Help for tests that need a running service (a Postgres server, an S3 or Snowflake stand-in),
//! and for the randomized tests of `make fuzz`.
//!
//! `make test` starts every service and exports its URL. A test run by hand without one prints a
//! `SKIPPED` line and passes; under CI (`CI` set to anything but `false` or `0`) a missing URL
//! fails the test instead, so that CI can never pass a test that did not run.

/// The value of `var` (trimmed), or `None` with a `SKIPPED` notice naming `what` needs it.
///
/// # Panics
/// When `var` is unset or empty and the `CI` environment variable is set.
pub fn service_url(var: &str, what: &str) -> Option<String> {
    if let Ok(v) = std::env::var(var)
        && !v.trim().is_empty()
    {
        return Some(v.trim().to_string());
    }
    let ci = std::env::var("CI").is_ok_and(|c| !c.is_empty() && c != "false" && c != "0");
    assert!(
        !ci,
        "{var} is not set, and CI is: {what} would not run. `make test` starts the service and \
         sets it (scripts/services/)"
    );
    eprintln!("SKIPPED {what}: {var} is not set (`make test` starts the service and sets it)");
    None
}

/// The budget of a randomized test (`make fuzz`): its seed and until when it runs beyond its
/// fixed minimum of cases. `SLUICE_FUZZ_SECONDS` (default 0: only the minimum, as in
/// `make test`) and `SLUICE_FUZZ_SEED` (default: a fixed seed for short runs, the clock for
/// timed ones). The seed is printed, so that a failure can be replayed.
pub fn fuzz_budget() -> (u64, std::time::Instant) {
    let seconds: u64 = std::env::var("SLUICE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let seed: u64 = std::env::var("SLUICE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if seconds > 0 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        } else {
            20_261_202
        });
    println!("seed {seed} (replay with SLUICE_FUZZ_SEED={seed})");
    (
        seed,
        std::time::Instant::now() + std::time::Duration::from_secs(seconds),
    )
}

/// Create `bucket` on an S3-compatible test server (moto) at `endpoint` (`http://host:port`)
/// with a plain HTTP `PUT`, so tests need no S3 client of their own.
///
/// # Panics
/// When the server cannot be reached or does not answer 200.
pub async fn create_s3_bucket(endpoint: &str, bucket: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let hostport = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = tokio::net::TcpStream::connect(&hostport)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the S3 test server at {hostport}: {e}"));
    let req = format!(
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("send PUT bucket");
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)
        .await
        .expect("read PUT bucket answer");
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200"),
        "cannot create bucket {bucket}: {}",
        resp.lines().next().unwrap_or("")
    );
}
