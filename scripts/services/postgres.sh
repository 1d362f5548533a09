#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests.
#
#   scripts/services/postgres.sh start   # prints: export SLUICE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:PORT/postgres
#   scripts/services/postgres.sh stop
#   scripts/services/postgres.sh restart  # same data dir and port (crash tests)
#
# `start` runs initdb + pg_ctl (Debian's PostgreSQL 15 binaries, installed with apt-get when missing) on a
# free 127.0.0.1 port, under ${SLUICE_SERVICES_DIR:-$PWD/.services}/postgres. The server offers TLS with a
# self-signed certificate (when openssl exists). `postgres` connects without a password over TCP; every
# other role must use its password (scram-sha-256), so tests can check authentication failures.
# When SLUICE_TEST_POSTGRES_URL is already set, `start` only prints it and `stop` leaves that server alone.
# Only the export line goes to stdout; logs go to stderr.
set -euo pipefail
SERVICE=postgres
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/postgres"
PG_BIN="${SLUICE_PG_BIN:-}"


find_bin() {
    if [[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]]; then return 0; fi
    local d
    for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then PG_BIN="$d"; return 0; fi
    done
    return 1
}

ensure_binaries() {
    if find_bin; then return 0; fi
    log "PostgreSQL binaries not found; installing with apt-get"
    if [[ $(id -u) -ne 0 ]]; then log "need root to install postgresql"; exit 1; fi
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    find_bin || { log "PostgreSQL binaries still missing after apt-get install"; exit 1; }
}

# Run a command as the server's owner (initdb and postgres refuse to run as root).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}



start() {
    if [[ -n "${SLUICE_TEST_POSTGRES_URL:-}" ]]; then
        echo "export SLUICE_TEST_POSTGRES_URL=$SLUICE_TEST_POSTGRES_URL"
        return 0
    fi
    if [[ -f "$DIR/url" ]] && [[ -f "$DIR/datadir" ]] && as_owner "$PG_BIN_CTL" -D "$(cat "$DIR/datadir")" status >/dev/null 2>&1; then
        log "already running"
        echo "export SLUICE_TEST_POSTGRES_URL=$(cat "$DIR/url")"
        return 0
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    local data="$DIR/data"
    if [[ $(id -u) -eq 0 ]] && ! runuser -u postgres -- test -x "$DIR"; then
        # The postgres user cannot reach $DIR (a private parent folder): keep the cluster in /tmp.
        data="$(mktemp -d /tmp/sluice-postgres.XXXXXX)/data"
    fi
    mkdir -p "$data"
    echo "$data" > "$DIR/datadir"
    if [[ $(id -u) -eq 0 ]]; then chown -R postgres: "$(dirname "$data")"; fi
    chmod 700 "$data"

    log "initdb in $data"
    as_owner "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$DIR/initdb.log" 2>&1 \
        || as_owner "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }

    cat > /tmp/sluice-pg-hba.$$ <<'HBA'
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       all                      trust
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
HBA
    as_owner cp /tmp/sluice-pg-hba.$$ "$data/pg_hba.conf" 2>/dev/null || cp /tmp/sluice-pg-hba.$$ "$data/pg_hba.conf"
    rm -f /tmp/sluice-pg-hba.$$

    local ssl=off
    if command -v openssl >/dev/null; then
        if openssl req -new -x509 -days 30 -nodes -subj "/CN=127.0.0.1" \
            -keyout "$data/server.key" -out "$data/server.crt" >/dev/null 2>&1; then
            chmod 600 "$data/server.key"
            if [[ $(id -u) -eq 0 ]]; then chown postgres: "$data/server.key" "$data/server.crt"; fi
            ssl=on
        fi
    fi

    local attempt port
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        {
            echo "# sluice test server"
            echo "listen_addresses = '127.0.0.1'"
            echo "port = $port"
            echo "unix_socket_directories = ''"
            echo "ssl = $ssl"
            echo "fsync = off"
            echo "synchronous_commit = off"
            echo "full_page_writes = off"
            echo "max_connections = 100"
        } > "$DIR/sluice.conf"
        as_owner cp "$DIR/sluice.conf" "$data/sluice.conf" 2>/dev/null || cp "$DIR/sluice.conf" "$data/sluice.conf"
        if ! grep -q "include_if_exists = 'sluice.conf'" "$data/postgresql.conf"; then
            echo "include_if_exists = 'sluice.conf'" | as_owner tee -a "$data/postgresql.conf" >/dev/null
        fi
        log "starting on 127.0.0.1:$port (ssl=$ssl)"
        if as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >&2; then
            break
        fi
        log "start failed (attempt $attempt):"
        tail -n 5 "$data/server.log" >&2 || true
        port=""
    done
    [[ -n "$port" ]] || { log "could not start postgres"; exit 1; }

    local i
    for i in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null; then break; fi
        sleep 0.5
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres || { log "server does not accept connections"; exit 1; }

    local url="postgresql://postgres@127.0.0.1:$port/postgres"
    echo "$url" > "$DIR/url"
    log "ready: $url"
    echo "export SLUICE_TEST_POSTGRES_URL=$url"
}

stop() {
    if [[ ! -f "$DIR/datadir" ]]; then
        log "nothing to stop in $DIR"
        rm -rf "$DIR"
        return 0
    fi
    local data
    data="$(cat "$DIR/datadir")"
    if [[ -f "$data/postmaster.pid" ]]; then
        as_owner "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >&2 || log "pg_ctl stop failed"
    fi
    case "$data" in
        /tmp/sluice-postgres.*/data) rm -rf "$(dirname "$data")" ;;
    esac
    rm -rf "$DIR"
    log "stopped"
}

# Restart the server that `start` started (same data dir and port), as a crash-test step.
restart() {
    [[ -f "$DIR/datadir" ]] || { log "nothing to restart in $DIR"; exit 1; }
    local data
    data="$(cat "$DIR/datadir")"
    as_owner "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -m fast -w -t 60 restart >&2
    log "restarted"
}

cmd="${1:-}"
case "$cmd" in
    start) ensure_binaries; PG_BIN_CTL="$PG_BIN/pg_ctl"; start ;;
    stop) ensure_binaries; stop ;;
    restart) ensure_binaries; restart ;;
    *) echo "usage: $0 start|stop|restart" >&2; exit 2 ;;
esac
