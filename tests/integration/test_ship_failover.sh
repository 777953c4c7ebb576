#!/usr/bin/env bash
# Failover and failback: clew-ship is given two collectors; the first is
# killed (-9) mid-stream and the shipper moves to the second, resending what
# the first never acknowledged. Then the first is started again on the same
# port: the shipper probes it, moves back, and new lines reach it. Every
# line is stored at least once in one of the two data dirs.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
SHIP="$CLEW_BIN/clew-ship"
[ -x "$SHIP" ] || fail "$SHIP not built"

ID=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
DOCKER=$WORK/containers
F=$DOCKER/$ID/$ID-json.log
STATE=$WORK/state
mkdir -p "$DOCKER/$ID"

gen() {
    awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i < b; i++)
        printf "{\"log\":\"fo-%d\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}\n", i }' >>"$1"
}

# Collector A, then collector B on other ports and another data dir.
DATA=$WORK/data-a
start_clewd
A_PID=$CLEWD_PID
A_DATA=$DATA
A_PORT=$FORWARD_PORT
track_pid "$A_PID"
unset SYSLOG_PORT GELF_PORT FORWARD_PORT HTTP_PORT
DATA=$WORK/data-b
start_clewd
B_DATA=$DATA
B_PORT=$FORWARD_PORT
B_PID=$CLEWD_PID
track_pid "$B_PID"

# Probe the first collector every second instead of the default 30 s.
FAILBACK=(--failback-every 1s)

"$SHIP" --forward "127.0.0.1:$A_PORT,127.0.0.1:$B_PORT" --state "$STATE" \
    --docker-root "$DOCKER" --cri-root off --scan-every 200ms --batch-wait 50ms \
    --multiline off --batch-size 64KiB "${FAILBACK[@]}" >>"$WORK/ship.log" 2>&1 &
SHIP_PID=$!
track_pid "$SHIP_PID"
gen "$F" 0 5000
DATA=$A_DATA
wait_for 20 "the first 5000 lines at collector A" count_is 5000 -F fo-
kill -KILL "$A_PID"
gen "$F" 5000 20000
# distinct: the fo- lines stored in A or B, each counted once.
distinct() {
    cat <("$CLEW" grep --json --data "$A_DATA" -F fo- 2>/dev/null || true) \
        <("$CLEW" grep --json --data "$B_DATA" -F fo- 2>/dev/null || true) |
        jq -r .message | sort -u | wc -l
}
wait_distinct() {
    for _ in $(seq 150); do
        [ "$(distinct)" = "$1" ] && return 0
        sleep 0.2
    done
    fail "$(distinct) of $1 lines in A and B: $(tail -5 "$WORK/ship.log")"
}
wait_distinct 20000
in_b=$("$CLEW" grep -c --data "$B_DATA" -F fo-)
[ "$in_b" -ge 15000 ] || fail "only $in_b lines at collector B"
grep -q "connected to 127.0.0.1:$B_PORT" "$WORK/ship.log" || fail "no failover in the log"
echo "  A killed after 5000 lines; B got $in_b; all 20000 lines stored"

# A again, same port and data dir: the shipper moves back to it.
CLEWD_PID=""
unset SYSLOG_PORT GELF_PORT HTTP_PORT
DATA=$A_DATA
FORWARD_PORT=$A_PORT
start_clewd
[ "$FORWARD_PORT" = "$A_PORT" ] || fail "collector A could not bind its port $A_PORT again"
A_PID=$CLEWD_PID
track_pid "$A_PID"
back_to_a() {
    [ "$(grep -c "connected to 127.0.0.1:$A_PORT" "$WORK/ship.log")" -ge 2 ]
}
wait_for 60 "clew-ship to move back to collector A" back_to_a
grep -q "127.0.0.1:$A_PORT answers again" "$WORK/ship.log" || fail "no failback in the log"
b_before=$("$CLEW" grep -c --data "$B_DATA" -F fo-)
gen "$F" 20000 25000
# fo-20000 .. fo-24999, all at A (none of them can have gone to B).
wait_for 30 "the 5000 new lines at collector A" count_is 5000 '^fo-2[0-4][0-9]{3}$'
wait_distinct 25000
b_after=$("$CLEW" grep -c --data "$B_DATA" -F fo-)
[ "$b_after" = "$b_before" ] || fail "B got $((b_after - b_before)) lines after the failback"
failbacks=$(jq -r .failbacks "$STATE/status.json")
[ "${failbacks:-0}" -ge 1 ] || fail "status.json counts no failback: $(cat "$STATE/status.json")"
echo "  A restarted on port $A_PORT: clew-ship moved back; 5000 new lines at A; all 25000 stored"
stop_tracked "$SHIP_PID" clew-ship
stop_clewd
CLEWD_PID=$B_PID
stop_clewd
echo "ship failover: ok"
