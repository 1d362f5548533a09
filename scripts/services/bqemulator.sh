#!/usr/bin/env bash
# A local BigQuery stand-in (bqemulator, from PyPI) for the BigQuery destination's tests.
#
#   scripts/services/bqemulator.sh start   # prints: export SLUICE_TEST_BIGQUERY_ENDPOINT=http://127.0.0.1:PORT
#   scripts/services/bqemulator.sh stop
#
# `start` creates (or reuses) a virtualenv at ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/venvs/bqemulator,
# installs the pinned packages there when they are missing, and runs `bqemulator start` on free
# 127.0.0.1 ports (REST and gRPC) in the background, project `test-project`. bqemulator runs
# `INSTALL spatial` at start and aborts when it cannot download it, so the process gets a private
# HOME with the spatial extension from the `duckdb-extension-spatial` wheel copied into
# `$HOME/.duckdb/extensions/v1.5.5/linux_amd64/` (see reference/test-services.md).
# Its pid, ports, HOME and log live under ${SLUICE_SERVICES_DIR:-$PWD/.services}/bqemulator.
# It waits until the REST API answers. When SLUICE_TEST_BIGQUERY_ENDPOINT is already set, `start`
# only prints it and `stop` leaves that server alone. Only the export line goes to stdout; logs go
# to stderr.
set -euo pipefail
SERVICE=bqemulator
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

BQEMULATOR_VERSION="1.4.0"
DUCKDB_VERSION="1.5.5"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
VENV="$CACHE_DIR/venvs/bqemulator"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/bqemulator"
PROJECT="test-project"




# Whether the REST API at $1 answers (lists the datasets of the test project).
answers() {
    python3 - "$1" "$PROJECT" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    url = sys.argv[1] + "/bigquery/v2/projects/" + sys.argv[2] + "/datasets"
    with urllib.request.urlopen(url, timeout=2) as r:
        sys.exit(0 if r.status < 500 else 1)
except Exception:
    sys.exit(1)
PY
}

ensure_venv() {
    create_venv "$VENV"
    if "$VENV/bin/python" - "$BQEMULATOR_VERSION" "$DUCKDB_VERSION" <<'PY' 2>/dev/null && [[ -x "$VENV/bin/bqemulator" ]]; then
import sys
from importlib.metadata import version
import numpy  # noqa: F401
ok = (version("bqemulator") == sys.argv[1]
      and version("duckdb") == sys.argv[2]
      and version("duckdb-extension-spatial") == sys.argv[2])
sys.exit(0 if ok else 1)
PY
        return 0
    fi
    log "installing bqemulator==$BQEMULATOR_VERSION into $VENV (takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "bqemulator==$BQEMULATOR_VERSION" "duckdb==$DUCKDB_VERSION" \
        "duckdb-extension-spatial==$DUCKDB_VERSION" numpy >&2
}

# A private HOME holding the spatial extension where DuckDB looks for it.
prepare_home() {
    local home="$DIR/home" src dest
    src="$("$VENV/bin/python" - "$DUCKDB_VERSION" <<'PY'
import sys, pathlib, duckdb_extension_spatial as m
base = pathlib.Path(m.__file__).parent
hits = sorted(base.rglob("v" + sys.argv[1] + "/**/spatial.duckdb_extension")) or sorted(base.rglob("spatial.duckdb_extension"))
print(hits[0] if hits else "")
PY
)"
    [[ -n "$src" && -f "$src" ]] || { log "spatial.duckdb_extension not found in the duckdb-extension-spatial package"; exit 1; }
    dest="$home/.duckdb/extensions/v$DUCKDB_VERSION/linux_amd64"
    mkdir -p "$dest"
    if [[ ! -f "$dest/spatial.duckdb_extension" ]]; then
        cp "$src" "$dest/spatial.duckdb_extension"
    fi
    echo "$home"
}


start() {
    if [[ -n "${SLUICE_TEST_BIGQUERY_ENDPOINT:-}" ]]; then
        echo "export SLUICE_TEST_BIGQUERY_ENDPOINT=$SLUICE_TEST_BIGQUERY_ENDPOINT"
        return 0
    fi
    local endpoint
    if endpoint="$(running_url "$DIR")"; then
        log "already running at $endpoint"
        echo "export SLUICE_TEST_BIGQUERY_ENDPOINT=$endpoint"
        return 0
    fi
    ensure_venv
    mkdir -p "$DIR"
    local home attempt port grpc pid
    home="$(prepare_home)"
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        grpc="$(free_port)"
        [[ "$grpc" != "$port" ]] || continue
        log "starting bqemulator on 127.0.0.1:$port (gRPC $grpc, attempt $attempt)"
        # setsid: the server leaves the caller's process group, so `stop` can end it and its children.
        (cd "$DIR" && HOME="$home" exec setsid "$VENV/bin/bqemulator" start \
            --rest-host 127.0.0.1 --rest-port "$port" \
            --grpc-host 127.0.0.1 --grpc-port "$grpc" \
            --project "$PROJECT" >"$DIR/server.log" 2>&1 </dev/null) &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        echo "$grpc" > "$DIR/grpc_port"
        if await_server "http://127.0.0.1:$port" "$pid" 240 "$DIR/server.log"; then
            echo "export SLUICE_TEST_BIGQUERY_ENDPOINT=http://127.0.0.1:$port"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port" "$DIR/grpc_port"
    done
    log "could not start bqemulator"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
