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
