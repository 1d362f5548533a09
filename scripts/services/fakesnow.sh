#!/usr/bin/env bash
# fakesnow in server mode (from PyPI): a local peer that speaks Snowflake's HTTP protocol, for the
# snowflake destination's tests.
#
#   scripts/services/fakesnow.sh start   # prints: export SLUICE_TEST_SNOWFLAKE_URL=http://127.0.0.1:PORT
#   scripts/services/fakesnow.sh stop
#
# `start` creates (or reuses) a virtualenv at ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/venvs/fakesnow,
# installs the pinned fakesnow[server] and snowflake-connector-python there when they are missing,
# and runs `fakesnow -s` on a free 127.0.0.1 port in the background; its pid, port and log live under
# ${SLUICE_SERVICES_DIR:-$PWD/.services}/fakesnow. It waits until the server answers a login. When
# SLUICE_TEST_SNOWFLAKE_URL is already set, `start` only prints it and `stop` leaves that server
# alone. Only the export line goes to stdout; logs go to stderr.
set -euo pipefail
SERVICE=fakesnow
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

FAKESNOW_VERSION="0.12.1"
# Without this pin every fakesnow command fails at import (see reference/test-services.md).
CONNECTOR_SPEC="snowflake-connector-python<5"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
VENV="$CACHE_DIR/venvs/fakesnow"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/fakesnow"




# Whether the server at $1 answers a login request with a session token.
answers() {
    python3 - "$1" <<'PY' 2>/dev/null
import json, sys, urllib.request
body = json.dumps({"data": {"SESSION_PARAMETERS": {}, "LOGIN_NAME": "probe", "PASSWORD": "x"}}).encode()
req = urllib.request.Request(
    sys.argv[1] + "/session/v1/login-request?databaseName=probe",
    data=body, headers={"Content-Type": "application/json"}, method="POST")
try:
    with urllib.request.urlopen(req, timeout=2) as r:
        sys.exit(0 if json.load(r).get("success") else 1)
except Exception:
    sys.exit(1)
PY
}

ensure_venv() {
    create_venv "$VENV"
    if "$VENV/bin/python" - "$FAKESNOW_VERSION" <<'PY' 2>/dev/null && [[ -x "$VENV/bin/fakesnow" ]]; then
import sys
from importlib.metadata import version
import uvicorn, starlette  # the [server] extra
import snowflake.connector
sys.exit(0 if version("fakesnow") == sys.argv[1] else 1)
PY
        return 0
    fi
    log "installing fakesnow[server]==$FAKESNOW_VERSION into $VENV (takes a minute or two)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "fakesnow[server]==$FAKESNOW_VERSION" "$CONNECTOR_SPEC" >&2
}


start() {
    if [[ -n "${SLUICE_TEST_SNOWFLAKE_URL:-}" ]]; then
        echo "export SLUICE_TEST_SNOWFLAKE_URL=$SLUICE_TEST_SNOWFLAKE_URL"
        return 0
    fi
    local url
    if url="$(running_url "$DIR")"; then
        log "already running at $url"
        echo "export SLUICE_TEST_SNOWFLAKE_URL=$url"
        return 0
    fi
    ensure_venv
    mkdir -p "$DIR"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting fakesnow on 127.0.0.1:$port (attempt $attempt)"
        # setsid: the server leaves the caller's process group, so `stop` can end it and its children.
        # Its working dir is private: fakesnow may write files next to itself.
        (cd "$DIR" && exec setsid "$VENV/bin/fakesnow" -s --host 127.0.0.1 -p "$port") \
            >"$DIR/server.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        if await_server "http://127.0.0.1:$port" "$pid" 120 "$DIR/server.log"; then
            echo "export SLUICE_TEST_SNOWFLAKE_URL=http://127.0.0.1:$port"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port"
    done
    log "could not start fakesnow"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
