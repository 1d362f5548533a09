//! `sluice`: load REST APIs and JSON files into DuckDB, Postgres, BigQuery, Snowflake and
//! Parquet lakes, with dlt's layout and config.

mod check;
mod cli;
mod inspect;
mod load_file;
mod output;
mod progress;
mod query;
mod run;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: JSON values and Arrow builders allocate and free
/// many small blocks, where glibc's malloc spent a fifth of a load's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (`mi_option_purge_delay` in mimalloc.h; not exported by
/// libmimalloc-sys).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Return freed memory to the OS at once instead of after mimalloc's default delay (1 s in
/// mimalloc 3): pages of JSON are parsed on one thread and freed on another, and with the delay
/// their memory piled up (peak RSS of a 20 000-order load 300 MB → 190 MB, same speed).
/// `MIMALLOC_PURGE_DELAY` in the environment still wins, for experiments.
#[allow(unsafe_code)]
fn configure_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_set` only stores an integer option; mimalloc reads it on later
        // purges. It takes no pointers and is thread-safe.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

fn main() -> ExitCode {
    configure_allocator();
    let args = cli::Cli::parse();
    init_logging(args.verbose, args.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::dispatch(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn error_chain(e: &anyhow::Error) -> String {
    // sluice errors already include their cause in Display; print each distinct message once.
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .compact()
        .init();
}
