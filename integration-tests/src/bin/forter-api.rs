//! The local Forter-compatible API server, for the demo and benchmarks.
//!
//! `forter-api [--port N] [--orders N] [--api-key KEY] [--site-id ID] [--delay-ms MS]
//! [--throttle-attempts N] [--retry-after S] [--error-attempts N] [--cache-pages]` prints its URL
//! (`http://127.0.0.1:PORT`) on stdout and the tokenization API's URL (its own port) on stderr,
//! then serves until killed. `--cache-pages` keeps rendered
//! `/v3/orders` pages in memory (for benchmarks: repeats cost no rendering).

use sluice_integration_tests::forter_server::{ForterServer, ForterServerConfig};
use std::io::Write;
use std::sync::atomic::Ordering;

fn usage() -> ! {
    eprintln!(
        "usage: forter-api [--port N] [--orders N] [--api-key KEY] [--site-id ID] [--delay-ms MS] \
         [--throttle-attempts N] [--retry-after S] [--error-attempts N] [--cache-pages]"
    );
    std::process::exit(2)
}

fn number<T: std::str::FromStr>(flag: &str, v: Option<String>) -> T {
    match v.map(|v| v.parse::<T>()) {
        Some(Ok(n)) => n,
        _ => {
            eprintln!("forter-api: {flag} needs a number");
            usage()
        }
    }
}

#[tokio::main]
async fn main() {
    let mut config = ForterServerConfig::default();
    let mut port: u16 = 0;
    let (mut delay, mut throttle, mut retry_after, mut errors) = (0u64, 0u64, 0u64, 0u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = number(&a, args.next()),
            "--orders" => config.orders = number(&a, args.next()),
            "--api-key" => config.api_key = args.next().unwrap_or_else(|| usage()),
            "--site-id" => config.site_id = args.next().unwrap_or_else(|| usage()),
            "--delay-ms" => delay = number(&a, args.next()),
            "--throttle-attempts" => throttle = number(&a, args.next()),
            "--retry-after" => retry_after = number(&a, args.next()),
            "--error-attempts" => errors = number(&a, args.next()),
            "--cache-pages" => config.cache_pages = true,
            "-h" | "--help" => usage(),
            other => {
                eprintln!("forter-api: unknown argument {other}");
                usage()
            }
        }
    }
    let server = match ForterServer::start_on(config, port).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("forter-api: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1)
        }
    };
    let f = server.faults();
    f.delay_ms.store(delay, Ordering::Relaxed);
    f.throttle_attempts.store(throttle, Ordering::Relaxed);
    f.retry_after_s.store(retry_after, Ordering::Relaxed);
    f.error_attempts.store(errors, Ordering::Relaxed);
    println!("{}", server.url());
    eprintln!(
        "forter-api: tokenization API at {}",
        server.tokenization_url()
    );
    let _ = std::io::stdout().flush();
    server.wait().await;
}
