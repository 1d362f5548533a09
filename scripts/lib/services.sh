# Shared helpers of the scripts in scripts/services/ (sourced, not run).
# The sourcing script sets SERVICE (its name, for log lines) before sourcing.

# A log line on stderr (stdout carries only the `export …` lines).
log() { echo "${SERVICE:-service}.sh: $*" >&2; }

# Whether something listens on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free loopback port.
free_port() {
    local p i
    for i in $(seq 1 200); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! port_in_use "$p"; then echo "$p"; return 0; fi
    done
    log "no free port found"; return 1
}

# Stop the process group whose leader's pid is in $1/pid (started with setsid), then remove $1.
stop_process_dir() {
    local dir="$1" pid i
    if [[ ! -f "$dir/pid" ]]; then
        log "nothing to stop in $dir"
        rm -rf "$dir"
        return 0
    fi
    pid="$(cat "$dir/pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -rf "$dir"
    log "stopped"
}

# The URL of the server recorded in $1 (its pid and port files) if it still runs and answers
# (`answers URL` is defined by the sourcing script).
running_url() {
    local dir="$1" pid port
    [[ -f "$dir/pid" && -f "$dir/port" ]] || return 1
    pid="$(cat "$dir/pid")"
    port="$(cat "$dir/port")"
    kill -0 "$pid" 2>/dev/null || return 1
    answers "http://127.0.0.1:$port" || return 1
    echo "http://127.0.0.1:$port"
}

# Wait until the server just started as process (group) $2 answers at $1, checking every half
# second at most $3 times. If it does not come up, show the end of its log $4, stop it and fail.
await_server() {
    local url="$1" pid="$2" tries="$3" logfile="$4" i
    for i in $(seq 1 "$tries"); do
        if answers "$url"; then
            log "ready: $url (pid $pid, log $logfile)"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    log "the server did not come up:"
    tail -n 10 "$logfile" >&2 || true
    kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
    return 1
}

# Create the virtualenv $1 with the machine's python3 when it does not exist yet (the caller
# installs its pinned packages into it).
create_venv() {
    local venv="$1" py
    py="$(command -v python3 || true)"
    [[ -n "$py" ]] || { log "python3 is needed to create $venv"; exit 1; }
    if [[ ! -x "$venv/bin/python" ]]; then
        log "creating virtualenv $venv"
        mkdir -p "$(dirname "$venv")"
        "$py" -m venv "$venv" >&2
    fi
}
