#!/usr/bin/env bash
# Failover: clew-ship is given two collectors; the first is killed (-9)
# mid-stream and the shipper moves to the second, resending what the first
# never acknowledged. Every line is stored in one of the two data dirs.
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

"$SHIP" --forward "127.0.0.1:$A_PORT,127.0.0.1:$B_PORT" --state "$STATE" \
    --docker-root "$DOCKER" --cri-root off --scan-every 200ms --batch-wait 50ms \
    --multiline off --batch-size 64KiB >>"$WORK/ship.log" 2>&1 &
SHIP_PID=$!
track_pid "$SHIP_PID"
gen "$F" 0 5000
DATA=$A_DATA
wait_for 20 "the first 5000 lines at collector A" count_is 5000 -F fo-
kill -KILL "$A_PID"
gen "$F" 5000 20000
distinct() {
    cat <("$CLEW" grep --json --data "$A_DATA" -F fo- 2>/dev/null || true) \
        <("$CLEW" grep --json --data "$B_DATA" -F fo- 2>/dev/null || true) |
        jq -r .message | sort -u | wc -l
}
for _ in $(seq 100); do
    [ "$(distinct)" = 20000 ] && break
    sleep 0.2
done
[ "$(distinct)" = 20000 ] || fail "$(distinct) of 20000 lines in A and B: $(tail -5 "$WORK/ship.log")"
in_b=$("$CLEW" grep -c --data "$B_DATA" -F fo-)
[ "$in_b" -ge 15000 ] || fail "only $in_b lines at collector B"
grep -q "connected to 127.0.0.1:$B_PORT" "$WORK/ship.log" || fail "no failover in the log"
echo "  A killed after 5000 lines; B got $in_b; all 20000 lines stored"
stop_tracked "$SHIP_PID" clew-ship
DATA=$B_DATA
stop_clewd
echo "ship failover: ok"
