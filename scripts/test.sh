#!/usr/bin/env bash
# Starts the services the tests need, runs every test, and stops what it started.
# Each service script prints `export VAR=URL` lines; a URL already set in the
# environment is used as is (nothing is started for it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
export SLUICE_SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
mkdir -p "$SLUICE_SERVICES_DIR" "$SLUICE_CACHE_DIR"

started=()
stop_all() {
  for svc in "${started[@]}"; do
    bash "scripts/services/$svc.sh" stop >&2 || true
  done
}
trap stop_all EXIT

for svc in scripts/services/*.sh; do
  [ -e "$svc" ] || continue
  name=$(basename "$svc" .sh)
  echo "== starting $name" >&2
  exports=$(bash "$svc" start)
  eval "$exports"
  started+=("$name")
done

echo "== checking the orchestrator examples (examples/kubernetes, examples/airflow)" >&2
bash scripts/check-examples.sh
echo "== building" >&2
cargo build --workspace --all-targets
echo "== testing" >&2
cargo test --workspace --no-fail-fast
