//! Help for tests that need a running service (a Postgres server, an S3 or Snowflake stand-in).
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
