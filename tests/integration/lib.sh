# Shared helpers of the integration tests: sourced, not run.
# Each test starts the real clewd on free loopback ports with a fresh data
# directory, drives it with real clients, and queries with the real clew.
set -euo pipefail

: "${CLEW_BIN:?set by ctest: the build directory}"
CLEWD="$CLEW_BIN/clewd"
CLEW="$CLEW_BIN/clew"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/clew-it-XXXXXX")
CLEWD_PID=""

cleanup() {
    if [ -n "$CLEWD_PID" ] && kill -0 "$CLEWD_PID" 2>/dev/null; then
        kill -KILL "$CLEWD_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$WORK/clewd.log" ]; then
        echo "--- clewd log (tail) ---" >&2
        tail -30 "$WORK/clewd.log" >&2
    fi
    exit 1
}

# A free TCP and UDP port on 127.0.0.1 (the kernel picks, we release it).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$(( (RANDOM << 1 | RANDOM & 1) % 28000 + 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# start_clewd [extra clewd options...]: sets SYSLOG_PORT GELF_PORT FORWARD_PORT
# HTTP_PORT DATA, starts clewd in the background and waits until it listens.
start_clewd() {
    SYSLOG_PORT=${SYSLOG_PORT:-$(free_port)}
    GELF_PORT=${GELF_PORT:-$(free_port)}
    FORWARD_PORT=${FORWARD_PORT:-$(free_port)}
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
    DATA=${DATA:-$WORK/data}
    local seen
    seen=$( (cat "$WORK/clewd.log" 2>/dev/null || true) | wc -l)
    "$CLEWD" --data "$DATA" --syslog "127.0.0.1:$SYSLOG_PORT" --gelf "127.0.0.1:$GELF_PORT" \
        --forward "127.0.0.1:$FORWARD_PORT" --http "127.0.0.1:$HTTP_PORT" "$@" \
        >>"$WORK/clewd.log" 2>&1 &
    CLEWD_PID=$!
    for _ in $(seq 100); do
        if tail -n +"$((seen + 1))" "$WORK/clewd.log" 2>/dev/null | grep -q "clewd: started"; then
            return 0
        fi
        kill -0 "$CLEWD_PID" 2>/dev/null || fail "clewd exited during start-up"
        sleep 0.05
    done
    fail "clewd did not start within 5 s"
}

# stop_clewd: SIGTERM, and the exit status must be 0.
stop_clewd() {
    kill -TERM "$CLEWD_PID"
    local rc=0
    wait "$CLEWD_PID" || rc=$?
    CLEWD_PID=""
    [ "$rc" -eq 0 ] || fail "clewd exited with $rc on SIGTERM"
}

# wait_count N ARGS...: polls `clew grep -c ARGS` until it prints N (5 s).
wait_count() {
    local want=$1 got=""
    shift
    for _ in $(seq 100); do
        got=$("$CLEW" grep -c --data "$DATA" "$@" 2>/dev/null || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.05
    done
    fail "expected $want records for 'clew grep $*', got '$got'"
}

# json_field PATTERN KEY: the KEY of the one record matching PATTERN.
json_field() {
    "$CLEW" grep --json --data "$DATA" "$1" | jq -r "$2"
}
