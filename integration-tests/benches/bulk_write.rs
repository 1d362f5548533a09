//! Bulk write of each destination: a package file of 200 000 typed rows loaded through the real
//! `Destination` API (DuckDB `read_parquet`, Postgres binary COPY when `SLUICE_TEST_POSTGRES_URL`
//! is set, Parquet files on local disk), one package per iteration.
//!
//! `cargo bench --workspace --bench bulk_write` (part of `make bench`).

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use sluice_integration_tests::bench_data::{
    bench_targets, connect_bench, load_bench_file, write_bench_file,
};
use std::sync::atomic::{AtomicU64, Ordering};

const ROWS: usize = 200_000;

fn main() {
    divan::main();
}

fn bulk_write(bencher: Bencher, name: &str) {
    let work = tempfile::tempdir().expect("temp dir");
    let Some((_, config)) = bench_targets(work.path())
        .into_iter()
        .find(|(n, _)| *n == name)
    else {
        eprintln!("{name}: skipped (set SLUICE_TEST_POSTGRES_URL)");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let file = work.path().join("bench_rows.0.parquet");
    write_bench_file(&file, ROWS, "1767225600.000000").expect("package file");
    let size = std::fs::metadata(&file).expect("file").len();
    let mut dest = rt
        .block_on(connect_bench(name, &config, work.path()))
        .expect("connect");
    let loads = AtomicU64::new(0);
    bencher
        .counter(ItemsCount::new(ROWS))
        .counter(BytesCount::new(size))
        .bench_local(|| {
            let n = loads.fetch_add(1, Ordering::Relaxed);
            let load_id = format!("1767225600.{n:06}");
            let written = rt
                .block_on(load_bench_file(
                    dest.as_mut(),
                    &file,
                    ROWS as u64,
                    &load_id,
                    n == 0,
                ))
                .expect("load");
            assert_eq!(written, ROWS as u64);
        });
    rt.block_on(dest.drop_tables(&["bench_rows".to_string()]))
        .expect("drop");
}

/// DuckDB: `INSERT … SELECT FROM read_parquet`.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn duckdb(bencher: Bencher) {
    bulk_write(bencher, "duckdb");
}

/// Postgres: binary COPY.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn postgres(bencher: Bencher) {
    bulk_write(bencher, "postgres");
}

/// Parquet files on local disk.
#[divan::bench(sample_count = 5, sample_size = 1)]
fn filesystem(bencher: Bencher) {
    bulk_write(bencher, "filesystem");
}
