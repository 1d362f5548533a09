#!/usr/bin/env bash
# Azurite's Blob service (from npm): a local Azure Blob Storage for the filesystem destination's
# az:// tests.
#
#   scripts/services/azurite.sh start   # prints the export lines below
#   scripts/services/azurite.sh stop
#
#   export SLUICE_TEST_AZURE_ENDPOINT=http://127.0.0.1:PORT/devstoreaccount1  (the account's blob endpoint)
#   export SLUICE_TEST_AZURE_ACCOUNT=devstoreaccount1
#   export SLUICE_TEST_AZURE_KEY=…        (Azurite's well-known development key, published by Microsoft)
#   export SLUICE_TEST_AZURE_CONTAINER=sluice
#
# `start` installs the pinned azurite with the machine's node/npm into
# ${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}/azurite when it is missing, runs `azurite-blob` on a free
# 127.0.0.1 port in the background with its data, pid, port and log under
# ${SLUICE_SERVICES_DIR:-$PWD/.services}/azurite, waits until it answers, and creates the container
# the tests write under (each test in its own folder). When SLUICE_TEST_AZURE_ENDPOINT is already
# set, `start` only prints the variables and `stop` leaves that server alone. Only the export lines
# go to stdout; logs go to stderr.
set -euo pipefail
SERVICE=azurite
# shellcheck source=../lib/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

AZURITE_VERSION="3.37.0"
CACHE_DIR="${SLUICE_CACHE_DIR:-$HOME/.cache/sluice}"
INSTALL_DIR="$CACHE_DIR/azurite"
SERVICES_DIR="${SLUICE_SERVICES_DIR:-$PWD/.services}"
DIR="$SERVICES_DIR/azurite"
ACCOUNT="devstoreaccount1"
# Azurite's well-known development account key: public (Microsoft documents it), not a secret.
KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER="sluice"

# Whether an Azure Blob service answers at $1 (any HTTP answer below 500; Azurite refuses an
# unsigned request with 403).
answers() {
    node - "$1" <<'JS' 2>/dev/null
const http = require("http");
const req = http.get(process.argv[2] + "/" + "?comp=list", { timeout: 2000 }, (res) => {
    res.resume();
    process.exit(res.statusCode < 500 ? 0 : 1);
});
req.on("error", () => process.exit(1));
req.on("timeout", () => { req.destroy(); process.exit(1); });
JS
}

# Create container $3 of account $2 at the blob endpoint $1 (a Shared Key signed request with the
# key in $AZ_KEY); an existing container is fine.
create_container() {
    AZ_KEY="$KEY" node - "$1" "$2" "$3" <<'JS'
const http = require("http");
const crypto = require("crypto");
const [endpoint, account, container] = process.argv.slice(2);
const url = new URL(endpoint.replace(/\/$/, "") + "/" + container + "?restype=container");
const date = new Date().toUTCString();
const version = "2021-08-06";
const canonicalHeaders = `x-ms-date:${date}\nx-ms-version:${version}\n`;
const canonicalResource = `/${account}${url.pathname}\nrestype:container`;
// VERB, then eleven standard headers (all empty here; Content-Length 0 is written empty), then
// the x-ms- headers and the resource.
const toSign = "PUT\n" + "\n".repeat(11) + canonicalHeaders + canonicalResource;
const signature = crypto
    .createHmac("sha256", Buffer.from(process.env.AZ_KEY, "base64"))
    .update(toSign, "utf8")
    .digest("base64");
const req = http.request(url, {
    method: "PUT",
    headers: {
        "x-ms-date": date,
        "x-ms-version": version,
        "Content-Length": 0,
        Authorization: `SharedKey ${account}:${signature}`,
    },
}, (res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => {
        if (res.statusCode === 201 || res.statusCode === 409) process.exit(0);
        console.error(`creating container ${container}: HTTP ${res.statusCode} ${body}`);
        process.exit(1);
    });
});
req.on("error", (e) => { console.error(`creating container ${container}: ${e.message}`); process.exit(1); });
req.end();
JS
}

ensure_installed() {
    command -v node >/dev/null && command -v npm >/dev/null \
        || { log "node and npm are needed to run Azurite"; exit 1; }
    local installed=""
    if [[ -f "$INSTALL_DIR/node_modules/azurite/package.json" ]]; then
        installed="$(node -p "require('$INSTALL_DIR/node_modules/azurite/package.json').version" 2>/dev/null || true)"
    fi
    if [[ "$installed" == "$AZURITE_VERSION" && -x "$INSTALL_DIR/node_modules/.bin/azurite-blob" ]]; then
        return 0
    fi
    log "installing azurite@$AZURITE_VERSION into $INSTALL_DIR (takes about a minute)"
    mkdir -p "$INSTALL_DIR"
    # Azurite asks for Node >= 22 in its package.json; its Blob service runs on Node 20 as well.
    npm install --prefix "$INSTALL_DIR" --no-audit --no-fund --loglevel=error \
        "azurite@$AZURITE_VERSION" >&2
}

print_exports() {
    echo "export SLUICE_TEST_AZURE_ENDPOINT=$1"
    echo "export SLUICE_TEST_AZURE_ACCOUNT=$ACCOUNT"
    echo "export SLUICE_TEST_AZURE_KEY=$KEY"
    echo "export SLUICE_TEST_AZURE_CONTAINER=$CONTAINER"
}

start() {
    if [[ -n "${SLUICE_TEST_AZURE_ENDPOINT:-}" ]]; then
        echo "export SLUICE_TEST_AZURE_ENDPOINT=$SLUICE_TEST_AZURE_ENDPOINT"
        echo "export SLUICE_TEST_AZURE_ACCOUNT=${SLUICE_TEST_AZURE_ACCOUNT:-$ACCOUNT}"
        echo "export SLUICE_TEST_AZURE_KEY=${SLUICE_TEST_AZURE_KEY:-$KEY}"
        echo "export SLUICE_TEST_AZURE_CONTAINER=${SLUICE_TEST_AZURE_CONTAINER:-$CONTAINER}"
        return 0
    fi
    local url
    if url="$(running_url "$DIR")"; then
        log "already running at $url"
        create_container "$url/$ACCOUNT" "$ACCOUNT" "$CONTAINER"
        print_exports "$url/$ACCOUNT"
        return 0
    fi
    ensure_installed
    rm -rf "$DIR"
    mkdir -p "$DIR/data"
    local attempt port pid
    for attempt in 1 2 3 4 5; do
        port="$(free_port)"
        log "starting azurite-blob $AZURITE_VERSION on 127.0.0.1:$port (attempt $attempt)"
        # --disableTelemetry: without it Azurite reaches out to a non-loopback address and ignores
        # SIGTERM. setsid: the server leaves the caller's process group, so `stop` can end it.
        setsid "$INSTALL_DIR/node_modules/.bin/azurite-blob" \
            --blobHost 127.0.0.1 --blobPort "$port" --location "$DIR/data" \
            --skipApiVersionCheck --loose --disableTelemetry \
            >"$DIR/server.log" 2>&1 </dev/null &
        pid=$!
        echo "$pid" > "$DIR/pid"
        echo "$port" > "$DIR/port"
        if await_server "http://127.0.0.1:$port" "$pid" 120 "$DIR/server.log"; then
            create_container "http://127.0.0.1:$port/$ACCOUNT" "$ACCOUNT" "$CONTAINER"
            print_exports "http://127.0.0.1:$port/$ACCOUNT"
            return 0
        fi
        rm -f "$DIR/pid" "$DIR/port"
    done
    log "could not start azurite-blob"
    exit 1
}

stop() { stop_process_dir "$DIR"; }

cmd="${1:-}"
case "$cmd" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
