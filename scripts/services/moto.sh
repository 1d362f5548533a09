#!/usr/bin/env bash
# A local S3-compatible server (moto's server, from PyPI) for the filesystem destination's tests.
#
#   scripts/services/moto.sh start   # prints: export SLUICE_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   scripts/services/moto.sh stop
#
# `start` creates (or reuses) a virtualenv at ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/venvs/moto,
# installs moto[server] there when it is missing, and runs `moto_server` on a free 127.0.0.1 port in
# the background; its pid, port and log live under ${SLUICE_SERVICES_DIR:-$PWD/.services}/moto.
# It waits until the server answers. When SLUICE_TEST_S3_ENDPOINT is already set, `start` only
# prints it and `stop` leaves that server alone. Only the export line goes to stdout; logs go to stderr.
set -euo pipefail
SERVICE=moto
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

MOTO_VERSION="5.2.5"
# pyarrow reads back the Parquet files the filesystem destination writes to S3 (a second reader
# beside DuckDB); boto3 comes with moto.
PYARROW_VERSION="26.0.1"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
VENV="$CACHE_DIR/venvs/moto"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/moto"




# Whether the server at $1 answers an S3 request (ListBuckets).
answers() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/", timeout=2) as r:
        sys.exit(0 if r.status < 500 else 1)
except Exception:
    sys.exit(1)
PY
}

ensure_venv() {
    create_venv "$VENV"
    if "$VENV/bin/python" - "$MOTO_VERSION" "$PYARROW_VERSION" <<'PY' 2>/dev/null && [[ -x "$VENV/bin/moto_server" ]]; then
import sys
from importlib.metadata import version
import flask, werkzeug  # the [server] extra
if version("pyarrow") != sys.argv[2]:
    sys.exit(1)
sys.exit(0 if version("moto") == sys.argv[1] else 1)
PY
        return 0
    fi
    log "installing moto[server]==$MOTO_VERSION and pyarrow==$PYARROW_VERSION into $VENV (takes a minute or two)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" "pyarrow==$PYARROW_VERSION" >&2
}


start() {
    if [[ -n "${SLUICE_TEST_S3_ENDPOINT:-}" ]]; then
        echo "export SLUICE_TEST_S3_ENDPOINT=$SLUICE_TEST_S3_ENDPOINT"
        return 0
    fi
    local endpoint
    if endpoint="$(running_url "$DIR")"; then
        log "already running at $endpoint"
        echo "export SLUICE_TEST_S3_ENDPOINT=$endpoint"
        echo "export SLUICE_TEST_S3_PYTHON=$VENV/bin/python"
        return 0
    fi
    ensure_venv
    mkdir -p "$DIR"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting moto_server on 127.0.0.1:$port (attempt $attempt)"
        # setsid: the server leaves the caller's process group, so `stop` can end it and its children.
        setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$DIR/server.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        if await_server "http://127.0.0.1:$port" "$pid" 120 "$DIR/server.log"; then
            echo "export SLUICE_TEST_S3_ENDPOINT=http://127.0.0.1:$port"
            echo "export SLUICE_TEST_S3_PYTHON=$VENV/bin/python"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port"
    done
    log "could not start moto_server"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
