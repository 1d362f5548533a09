#!/usr/bin/env bash
# The benchmarks that exist so far: destination bulk writes (DuckDB, Postgres binary COPY against a
# throwaway server started here) and the REST source's fan-out. The comparison with dlt is not
# written yet (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
started=""
if [[ -z "${SLUICE_TEST_POSTGRES_URL:-}" ]]; then
  eval "$(bash scripts/services/postgres.sh start)"
  started=1
fi
trap '[[ -n "$started" ]] && bash scripts/services/postgres.sh stop >&2 || true' EXIT
cargo build --workspace --all-targets >&2
echo "== destination bulk writes (1 000 000 rows)"
"$CARGO_TARGET_DIR/debug/dest-bench" "${BENCH_ROWS:-1000000}"
echo "== REST fan-out (10 000 child requests, 20 ms latency, 500 req/s)"
"$CARGO_TARGET_DIR/debug/rest-bench" 10000 20 500
