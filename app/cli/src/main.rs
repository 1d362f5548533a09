//! `sluice`: load REST APIs and JSON files into DuckDB, Postgres, BigQuery, Snowflake and
//! Parquet lakes, with dlt's layout and config.

mod args;
mod check;
mod dashboard;
mod destinations;
mod drop;
mod export;
mod inspect;
mod load_file;
mod output;
mod partition;
mod pipeline_file;
mod progress;
mod query;
mod run;
mod sync;

use clap::Parser;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: JSON values and Arrow builders allocate and free
/// many small blocks, where glibc's malloc spent a fifth of a load's time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc options by their number in `mi_option_t` (mimalloc 3's mimalloc.h; libmimalloc-sys
/// does not export these two).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
const MI_OPTION_ALLOW_THP: libmimalloc_sys::mi_option_t = 43;

/// Milliseconds mimalloc keeps freed memory before returning it to the OS while extracting:
/// pages of JSON are parsed and freed continuously, and returning their memory at once made
/// every page fault it in again (a run 15-25 % slower).
const EXTRACT_PURGE_DELAY_MS: std::ffi::c_long = 100;

/// Tune mimalloc for sluice's runs (each measured on 20 000 orders into DuckDB, `make bench`):
/// - no transparent huge pages: mimalloc asks for them on its arenas, and memory then comes and
///   stays in 2 MiB units (peak RSS ~20 MB higher);
/// - freed memory kept [`EXTRACT_PURGE_DELAY_MS`] while extracting, then, between extracting and
///   loading (the pipeline's memory hook, called where the pages were parsed and where they
///   were normalized), returned at once and from then on immediately, so the load does not stack
///   on what the extraction left. Measured: 1.10 s / 157 MB with the hook called on the
///   normalizing thread only, 1.05 s / 148 MB with both, 1.17 s / 147 MB with no delay at all,
///   1.06 s / 170 MB with 100 ms and no hook.
///
/// `MIMALLOC_*` variables in the environment still win, for experiments.
#[allow(unsafe_code)]
fn configure_allocator() {
    // SAFETY (all three calls): `mi_option_set` only stores an integer option that mimalloc reads
    // later, and `mi_collect` frees mimalloc's caches and purges free memory; neither takes
    // pointers, and both may run on any thread at any time.
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    }
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, EXTRACT_PURGE_DELAY_MS) };
        sluice_core::memory::set_release_hook(release_free_memory);
    }
}

/// The pipeline's memory hook (see [`configure_allocator`]).
#[allow(unsafe_code)]
fn release_free_memory() {
    // SAFETY: see `configure_allocator`.
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libmimalloc_sys::mi_collect(true);
    }
}

fn main() -> ExitCode {
    configure_allocator();
    let args = args::Cli::parse();
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
    match runtime.block_on(dispatch(args)) {
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

/// Run the parsed command.
async fn dispatch(cli: args::Cli) -> anyhow::Result<()> {
    match cli.command {
        args::Command::Run(args) => crate::run::run(args, cli.quiet).await,
        args::Command::Check(args) => crate::check::run(args).await,
        args::Command::LoadFile(args) => crate::load_file::run(args, cli.quiet).await,
        args::Command::Destinations(args) => crate::destinations::run(args),
        args::Command::Pipeline(args) => crate::inspect::run(args).await,
        args::Command::Query(args) => crate::query::run(args).await,
        args::Command::Commit(args) => crate::partition::commit(args).await,
    }
}
