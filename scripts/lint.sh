#!/usr/bin/env bash
# `make lint`: formatting, clippy, the workspace's dependency rules, each destination feature of
# the facade alone, and the API docs, all with warnings denied. Part of `make test`, so CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sluice/target}"

step() { echo "== lint: $*" >&2; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy, warnings denied"
cargo clippy --workspace --all-targets -- -D warnings

# Destinations depend on the engine's contract only: of the workspace's crates, a destination
# may use sluice-core and nothing else (no pipeline, no normalizer). The one exception is a
# destination built on another's wire protocol, listed here: Redshift uses the Postgres
# destination's connection and error code (as dlt's Redshift builds on its Postgres client).
# The engine (crates/) never depends on a destination or on the assembly (app/).
declare -A builds_on=([sluice-redshift]=sluice-postgres)
step "dependency rules"
members=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print("\n".join(p["name"]+" "+p["manifest_path"] for p in m["packages"]))')
root="$PWD"
failed=0
while read -r name manifest; do
    dir=$(dirname "${manifest#"$root"/}")
    deps=$(cargo tree -p "$name" --edges normal --prefix none --format '{p}' 2>/dev/null |
        awk '{print $1}' | grep -E '^sluice' | grep -vx "$name" | sort -u || true)
    case "$dir" in
    destinations/*)
        bad=$(grep -vx -e 'sluice-core' -e "${builds_on[$name]:-sluice-core}" <<<"$deps" || true)
        if [[ -n "$bad" ]]; then
            echo "lint: destination $name ($dir) depends on $(tr '\n' ' ' <<<"$bad")- only sluice-core is allowed" >&2
            failed=1
        fi
        ;;
    crates/*)
        bad=$(grep -E '^sluice-(duckdb|postgres|filesystem|snowflake|bigquery|redshift|databricks)$|^sluice$|^sluice-cli$' <<<"$deps" || true)
        if [[ -n "$bad" ]]; then
            echo "lint: engine crate $name ($dir) depends on $(tr '\n' ' ' <<<"$bad")- the engine never points at destinations/ or app/" >&2
            failed=1
        fi
        ;;
    esac
done <<<"$members"
[[ $failed == 0 ]]

# Each destination is a Cargo feature of the facade: a build with just one of them must work.
step "the facade with each destination feature alone"
features=$(python3 - <<'PY'
import tomllib
with open("app/sluice/Cargo.toml", "rb") as f:
    t = tomllib.load(f)
print(" ".join(k for k in t["features"] if k != "default"))
PY
)
cargo check -p sluice --no-default-features
for feature in $features; do
    cargo check -p sluice --no-default-features --features "$feature"
done

step "cargo doc, warnings denied"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

echo "== lint: all checks passed" >&2
