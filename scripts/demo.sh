#!/usr/bin/env bash
# The demo: load the bundled sample orders into the embedded DuckDB and show what landed.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
demo_dir="$PWD/.demo"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
# The same cargo invocation as `make test`, so both share one build of DuckDB.
cargo build --workspace --all-targets >&2
sluice="$CARGO_TARGET_DIR/debug/sluice"
cd "$demo_dir"
export SLUICE_PIPELINES_DIR="$demo_dir/pipelines"
"$sluice" load-file ../examples/data/orders.json --table orders --pipeline-name demo_pipeline --write-disposition merge --primary-key orderId
echo
"$sluice" pipeline demo_pipeline show
