#!/usr/bin/env bash
# `make bench`: sluice against dlt on the same Forter listing (benches/compare/run.py), then the
# cargo benches (normalizer alone, destination bulk writes).
#
#   BENCH_ORDERS=20000          orders the local API serves (1000000 for the big run)
#   BENCH_TOOLS=sluice,dlt-default,dlt-fastest
#   BENCH_DESTINATIONS=duckdb,postgres,filesystem
#   BENCH_REPEAT=5              sluice runs per destination (the median is shown)
#   BENCH_REPEAT_DLT=1          dlt runs per configuration and destination
#   BENCH_CARGO=0               skip the cargo benches
#
# Release builds (cargo's bench profile) go to $CARGO_TARGET_DIR (default ~/.cache/sluice/target);
# dlt is installed from PyPI into ${SLUICE_CACHE_DIR:-~/.cache/sluice}/venvs/dlt-bench; Postgres is a
# throwaway server from scripts/services/postgres.sh unless SLUICE_TEST_POSTGRES_URL is set.
# The table is printed and written to bench-results/compare-<orders>.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVICE=bench
# shellcheck source=lib/services.sh
source scripts/lib/services.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
DLT_VERSION="1.31.0"
VENV="$CACHE_DIR/venvs/dlt-bench"
ORDERS="${BENCH_ORDERS:-20000}"

ensure_dlt() {
    if [[ ! -x "$VENV/bin/python" ]]; then
        log "creating virtualenv $VENV"
        mkdir -p "$(dirname "$VENV")"
        python3 -m venv "$VENV" >&2
    fi
    if ! "$VENV/bin/python" -c "
import sys
from importlib.metadata import version
import duckdb, psycopg2, pyarrow
sys.exit(0 if version('dlt') == '$DLT_VERSION' else 1)" 2>/dev/null; then
        log "installing dlt[duckdb,postgres,parquet]==$DLT_VERSION into $VENV (a minute or two)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            "dlt[duckdb,postgres,parquet]==$DLT_VERSION" >&2
    fi
}

started=""
cleanup() { if [[ -n "$started" ]]; then bash scripts/services/postgres.sh stop >&2 || true; fi; }
trap cleanup EXIT

ensure_dlt
if [[ -z "${SLUICE_TEST_POSTGRES_URL:-}" && ",${BENCH_DESTINATIONS:-postgres}," == *,postgres,* ]]; then
    eval "$(bash scripts/services/postgres.sh start)"
    started=1
fi

# One command builds everything the benchmark runs, with one feature set (no DuckDB rebuilds).
BUILD=(--workspace --bins --bench normalize --bench bulk_write)
log "building release binaries (cargo's bench profile; the first time includes DuckDB, ~30 min)"
cargo build --profile bench "${BUILD[@]}" >&2
BIN="$CARGO_TARGET_DIR/release"

mkdir -p bench-results
"$VENV/bin/python" benches/compare/run.py \
    --sluice "$BIN/sluice" --forter-api "$BIN/forter-api" --orders "$ORDERS" \
    --tools "${BENCH_TOOLS:-sluice,dlt-default,dlt-fastest}" \
    --destinations "${BENCH_DESTINATIONS:-duckdb,postgres,filesystem}" \
    --repeat-sluice "${BENCH_REPEAT:-5}" --repeat-dlt "${BENCH_REPEAT_DLT:-1}" \
    --work "$PWD/.bench" --markdown "bench-results/compare-$ORDERS.md"

if [[ "${BENCH_CARGO:-1}" != 0 ]]; then
    echo
    echo "== cargo bench: normalizer and destination bulk writes"
    cargo bench --workspace --bench normalize --bench bulk_write
fi
