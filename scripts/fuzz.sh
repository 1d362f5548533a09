#!/usr/bin/env bash
# The randomized tests of `make fuzz`, run side by side for SLUICE_FUZZ_SECONDS each (default 600):
#   raw_items_fuzz  the REST page splitter against whole-page parsing (crates/rest)
#   normalize_fuzz  the normalizer's invariants on random and damaged items (crates/normalize)
#   config_fuzz     the config parsers on damaged pipeline files, secrets and env (integration-tests)
# Each prints its seed; replay a failure with SLUICE_FUZZ_SEED=N (and the same target).
# Their inputs start from the corpus in fuzz/corpus/. A short run of each is part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"
export SLUICE_FUZZ_SECONDS="${SLUICE_FUZZ_SECONDS:-600}"
logs="${SLUICE_FUZZ_LOGS:-$CARGO_TARGET_DIR/fuzz-logs}"
mkdir -p "$logs"

echo "== building the test binaries" >&2
# The executables of the three targets, from cargo's build messages.
binaries=$(cargo test --workspace --lib --test config_fuzz --no-run --message-format=json \
  | python3 -c '
import json, sys
want = {"sluice-rest": "raw_items_fuzz", "sluice-normalize": "normalize_fuzz",
        "sluice-integration-tests": "config_fuzz"}
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    name = next((n for p, n in want.items() if p in m["package_id"]), None)
    if name and (name != "config_fuzz" or m["target"]["name"] == "config_fuzz"):
        print(name, m["executable"])
')

pids=()
names=()
while read -r name exe; do
  echo "== $name: ${SLUICE_FUZZ_SECONDS}s, log $logs/$name.log" >&2
  # The filter: the test's module path (the integration test is its own binary: no filter).
  filter=$name; [ "$name" = config_fuzz ] && filter=""
  "$exe" $filter --nocapture >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
done <<<"$binaries"
[ "${#pids[@]}" -eq 3 ] || { echo "expected 3 fuzz targets, found: $binaries" >&2; exit 1; }

failed=0
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then
    echo "== ${names[$i]}: ok: $(grep -E 'agreed|kept|read without' "$logs/${names[$i]}.log" | tail -1)" >&2
  else
    echo "== ${names[$i]}: FAILED (seed and input in $logs/${names[$i]}.log):" >&2
    tail -30 "$logs/${names[$i]}.log" >&2
    failed=1
  fi
done
exit "$failed"
