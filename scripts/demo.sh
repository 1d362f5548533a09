#!/usr/bin/env bash
# The demo: the Forter pipeline of dlt's "Forter Python API" guide, run by sluice against the
# local Forter-compatible API (no credentials needed), loaded into the embedded DuckDB; then the
# tables with row counts and a few rows.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
# The same cargo invocation as `make test`, so both share one build of DuckDB.
echo "== building (the first build compiles DuckDB's C++ and takes a while)" >&2
cargo build --workspace --all-targets >&2
bin="$CARGO_TARGET_DIR/debug"

demo_dir="$root/.demo"
rm -rf "$demo_dir"
mkdir -p "$demo_dir"
cd "$demo_dir"
export SLUICE_PIPELINES_DIR="$demo_dir/pipelines"

# The local Forter-compatible API: Basic auth with the key, x-forter-siteid, api-version.
"$bin/forter-api" --port 0 --orders 50 --api-key demo-api-key --site-id demo-site > api.url 2> api.log &
api_pid=$!
trap 'kill $api_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s api.url ] && break; sleep 0.1; done
url=$(head -1 api.url)
echo "== local Forter-compatible API at $url" >&2

# Credentials as a dlt user would set them (here through the environment).
export SOURCES__FORTER_ORDER_V3_SOURCE__API_KEY=demo-api-key
export SOURCES__FORTER_ORDER_V3_SOURCE__SITE_ID=demo-site
export SOURCES__FORTER_ORDER_V3_SOURCE__BASE_URL="$url"

"$bin/sluice" run "$root/examples/forter_order_v3_pipeline.toml"
echo
"$bin/sluice" pipeline forter_order_v3_pipeline show --text --rows 0
echo
echo "== a few orders with their decision (amounts stay exact strings)"
"$bin/sluice" query forter_order_v3_pipeline \
  "SELECT o.order_id, o.total_amount__amount_usd AS amount_usd, o.total_amount__currency AS currency, d.forter_decision, d.recommendation FROM {dataset}.orders o JOIN {dataset}.decisions d USING (order_id) ORDER BY o.order_id LIMIT 5"
echo
echo "== cart items per order"
"$bin/sluice" query forter_order_v3_pipeline \
  "SELECT o.order_id, COUNT(*) AS items, SUM(CAST(i.basic_item_data__price__amount_local_currency AS DECIMAL(12,2)) * i.basic_item_data__quantity) AS item_total FROM {dataset}.orders o JOIN {dataset}.orders__cart_items i ON i._dlt_parent_id = o._dlt_id GROUP BY o.order_id ORDER BY o.order_id"
echo
echo "== the dashboard of this pipeline (schema, data with a SQL box, state, loads, trace):"
echo "   SLUICE_PIPELINES_DIR=$SLUICE_PIPELINES_DIR $bin/sluice pipeline forter_order_v3_pipeline show"
