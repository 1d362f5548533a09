//! Bulk-write benchmark of the destinations: one Parquet package file of N rows (default
//! 1 000 000; bigint, double, text, timestamp, bool, decimal columns) written through each
//! destination's bulk path (DuckDB `read_parquet`, Postgres binary COPY, Parquet files) with the
//! real `Destination` API: begin, create table, write, commit. Prints rows/s per destination.
//!
//! `cargo run -p sluice-integration-tests --bin dest-bench -- [ROWS]` (`make bench-destinations`).
//! DuckDB and local files always run (into a temporary directory); Postgres runs when
//! `SLUICE_TEST_POSTGRES_URL` is set. `cargo bench --bench bulk_write` measures the same with
//! repeats.

use sluice_integration_tests::bench_data::{
    bench_targets, connect_bench, load_bench_file, write_bench_file,
};
use std::time::Instant;

#[tokio::main]
async fn main() -> sluice_core::Result<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("ROWS must be a number"))
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let load_id = "1767225600.000001";
    let file = dir.path().join("bench_rows.0.parquet");
    let t0 = Instant::now();
    write_bench_file(&file, rows, load_id)?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "package file: {rows} rows, {:.1} MB Parquet, written in {:.2} s",
        size as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    if std::env::var("SLUICE_TEST_POSTGRES_URL").is_err() {
        println!("postgres: skipped (set SLUICE_TEST_POSTGRES_URL)");
    }
    for (name, config) in bench_targets(dir.path()) {
        let mut dest = connect_bench(name, &config, dir.path()).await?;
        let started = Instant::now();
        let written = load_bench_file(dest.as_mut(), &file, rows as u64, load_id, true).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name:<10} {written} rows in {secs:.2} s = {:.0} rows/s ({:.1} MB/s of Parquet)",
            written as f64 / secs,
            size as f64 / 1e6 / secs
        );
        dest.drop_tables(&["bench_rows".to_string()]).await?;
    }
    Ok(())
}
