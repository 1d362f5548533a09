#!/usr/bin/env bash
# Headless Chromium driven through ChromeDriver (WebDriver over HTTP), for the dashboard's browser tests.
#
#   scripts/services/chromedriver.sh start   # prints: export SLUICE_TEST_WEBDRIVER_URL=http://127.0.0.1:PORT
#   scripts/services/chromedriver.sh stop
#
# `start` installs Debian's `chromium` and `chromium-driver` packages with apt-get when
# /usr/bin/chromium or /usr/bin/chromedriver is missing (needs root), then runs chromedriver on a
# free 127.0.0.1 port under ${SLUICE_SERVICES_DIR:-$PWD/.services}/chromedriver. The tests start
# Chromium headless through it. When SLUICE_TEST_WEBDRIVER_URL is already set, `start` only prints it.
# Only the export lines go to stdout; logs go to stderr.
set -euo pipefail
SERVICE=chromedriver
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/chromedriver"
CHROMIUM="${SLUICE_CHROMIUM:-/usr/bin/chromium}"
DRIVER="${SLUICE_CHROMEDRIVER:-/usr/bin/chromedriver}"

answers() { curl -fsS "$1/status" >/dev/null 2>&1; }

ensure_binaries() {
    if [[ -x "$CHROMIUM" && -x "$DRIVER" ]]; then return 0; fi
    log "Chromium or ChromeDriver not found; installing Debian's chromium and chromium-driver with apt-get"
    if [[ $(id -u) -ne 0 ]]; then log "need root to install chromium (or set SLUICE_CHROMIUM / SLUICE_CHROMEDRIVER)"; exit 1; fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >&2
    [[ -x "$CHROMIUM" && -x "$DRIVER" ]] || { log "chromium still missing after apt-get install"; exit 1; }
}

start() {
    if [[ -n "${SLUICE_TEST_WEBDRIVER_URL:-}" ]]; then
        echo "export SLUICE_TEST_WEBDRIVER_URL=$SLUICE_TEST_WEBDRIVER_URL"
        echo "export SLUICE_TEST_CHROMIUM=${SLUICE_TEST_CHROMIUM:-$CHROMIUM}"
        return 0
    fi
    ensure_binaries
    mkdir -p "$DIR"
    local attempt port pid
    for attempt in 1 2 3; do
        port="$(free_port)"
        log "starting chromedriver on 127.0.0.1:$port (attempt $attempt)"
        setsid "$DRIVER" --port="$port" --allowed-ips=127.0.0.1 >"$DIR/driver.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        if await_server "http://127.0.0.1:$port" "$pid" 40 "$DIR/driver.log"; then
            echo "export SLUICE_TEST_WEBDRIVER_URL=http://127.0.0.1:$port"
            echo "export SLUICE_TEST_CHROMIUM=$CHROMIUM"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port"
    done
    log "could not start chromedriver"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
