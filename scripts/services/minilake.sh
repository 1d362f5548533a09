#!/usr/bin/env bash
# MiniLake (from PyPI): a local stand-in for a Databricks workspace (the SQL Statement Execution
# API, Unity Catalog schemas and volumes, the Files API; DuckDB runs the SQL), for the databricks
# destination's tests. sqlglot (its databricks dialect) and pyarrow in the same virtualenv check
# the SQL text and the staged Parquet files the tests capture.
#
#   scripts/services/minilake.sh start   # prints: export SLUICE_TEST_DATABRICKS_STANDIN_URL=http://127.0.0.1:PORT
#                                        #         export SLUICE_TEST_DATABRICKS_PYTHON=<venv>/bin/python
#   scripts/services/minilake.sh stop
#
# `start` creates (or reuses) a virtualenv at ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/venvs/minilake,
# installs the pinned minilake and sqlglot there when they are missing, and runs `minilake` on a
# free 127.0.0.1 port in the background; its pid, port, log and data live under
# ${SLUICE_SERVICES_DIR:-$PWD/.services}/minilake. It waits until the server answers its health
# check. When SLUICE_TEST_DATABRICKS_STANDIN_URL is already set, `start` only prints it and `stop`
# leaves that server alone. Only the export lines go to stdout; logs go to stderr.
set -euo pipefail
SERVICE=minilake
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

MINILAKE_VERSION="1.9.0"
SQLGLOT_VERSION="30.31.0"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
VENV="$CACHE_DIR/venvs/minilake"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/minilake"

# Whether the server at $1 answers its health check.
answers() {
    python3 - "$1" <<'PY' 2>/dev/null
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/_minilake/health", timeout=2) as r:
        sys.exit(0 if json.load(r).get("status") == "ok" else 1)
except Exception:
    sys.exit(1)
PY
}

ensure_venv() {
    create_venv "$VENV"
    if "$VENV/bin/python" - "$MINILAKE_VERSION" "$SQLGLOT_VERSION" <<'PY' 2>/dev/null && [[ -x "$VENV/bin/minilake" ]]; then
import sys
from importlib.metadata import version
import pyarrow  # comes with minilake; the tests read staged Parquet with it
sys.exit(0 if version("minilake") == sys.argv[1] and version("sqlglot") == sys.argv[2] else 1)
PY
        return 0
    fi
    log "installing minilake==$MINILAKE_VERSION and sqlglot==$SQLGLOT_VERSION into $VENV (takes a minute)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "minilake==$MINILAKE_VERSION" "sqlglot==$SQLGLOT_VERSION" >&2
}

exports() {
    echo "export SLUICE_TEST_DATABRICKS_STANDIN_URL=$1"
    echo "export SLUICE_TEST_DATABRICKS_PYTHON=$VENV/bin/python"
}

start() {
    if [[ -n "${SLUICE_TEST_DATABRICKS_STANDIN_URL:-}" ]]; then
        echo "export SLUICE_TEST_DATABRICKS_STANDIN_URL=$SLUICE_TEST_DATABRICKS_STANDIN_URL"
        if [[ -n "${SLUICE_TEST_DATABRICKS_PYTHON:-}" ]]; then
            echo "export SLUICE_TEST_DATABRICKS_PYTHON=$SLUICE_TEST_DATABRICKS_PYTHON"
        fi
        return 0
    fi
    local url
    if url="$(running_url "$DIR")"; then
        log "already running at $url"
        exports "$url"
        return 0
    fi
    ensure_venv
    mkdir -p "$DIR/data" "$DIR/extensions"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting minilake on 127.0.0.1:$port (attempt $attempt)"
        # setsid: the server leaves the caller's process group, so `stop` can end it and its children.
        # The empty extension dir stops DuckDB from trying to download extensions; no notebook server.
        (cd "$DIR" && MINILAKE_DATA_DIR="$DIR/data" MINILAKE_NOTEBOOK=0 \
            MINILAKE_DUCKDB_EXTENSION_DIR="$DIR/extensions" \
            exec setsid "$VENV/bin/minilake" --host 127.0.0.1 --port "$port") \
            >"$DIR/server.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        if await_server "http://127.0.0.1:$port" "$pid" 120 "$DIR/server.log"; then
            exports "http://127.0.0.1:$port"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port"
    done
    log "could not start minilake"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
