#!/usr/bin/env bash
# At-least-once across crashes of either side: a writer appends Docker
# json-file lines (rotating the file by rename every few thousand lines)
# while clew-ship and clewd are each killed with SIGKILL and restarted,
# several times, mid-stream. At the end every line is stored (checked with
# `clew grep` on the collector's data dir), some may be stored twice, none
# is missing; the shipper reports how many records it resent.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
SHIP="$CLEW_BIN/clew-ship"
[ -x "$SHIP" ] || fail "$SHIP not built"

ID=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
DOCKER=$WORK/containers
F=$DOCKER/$ID/$ID-json.log
STATE=$WORK/state
N=60000       # lines written in all
CHUNK=500     # lines per write
ROTATE=8      # chunks per file
ROUNDS=4      # kill -9 of each side
mkdir -p "$DOCKER/$ID"
echo "{\"Name\":\"/crashy\",\"Config\":{\"Image\":\"busybox\"}}" >"$DOCKER/$ID/config.v2.json"

start_ship() {
    local seen
    seen=$( (cat "$WORK/ship.log" 2>/dev/null || true) | wc -l)
    "$SHIP" --forward "127.0.0.1:$FORWARD_PORT" --state "$STATE" --docker-root "$DOCKER" \
        --cri-root off --scan-every 200ms --rotate-wait 1s --batch-wait 50ms \
        --checkpoint-every 200ms --multiline off --batch-size 64KiB \
        >>"$WORK/ship.log" 2>&1 &
    SHIP_PID=$!
    track_pid "$SHIP_PID"
    for _ in $(seq 100); do
        tail -n +"$((seen + 1))" "$WORK/ship.log" | grep -q "ship: started" && return 0
        sleep 0.05
    done
    fail "clew-ship did not start: $(tail -5 "$WORK/ship.log")"
}

writer() {
    local c k=0
    for ((c = 0; c < N / CHUNK; c++)); do
        awk -v a=$((c * CHUNK)) -v b=$(((c + 1) * CHUNK)) 'BEGIN { for (i = a; i < b; i++)
            printf "{\"log\":\"crash-%d\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}\n", i }' >>"$F"
        if (((c + 1) % ROTATE == 0)); then
            k=$((k + 1))
            mv "$F" "$F.r$k"
        fi
        sleep 0.03
    done
}

start_clewd
start_ship
writer &
WRITER=$!
track_pid "$WRITER"
for round in $(seq "$ROUNDS"); do
    sleep 0.6
    kill -KILL "$SHIP_PID"
    wait "$SHIP_PID" 2>/dev/null || true
    sleep 0.2
    start_ship
    sleep 0.6
    kill -KILL "$CLEWD_PID"
    wait "$CLEWD_PID" 2>/dev/null || true
    CLEWD_PID=""
    sleep 0.3
    start_clewd
    echo "  round $round: killed clew-ship and clewd mid-stream, restarted both"
done
wait "$WRITER"

distinct() {
    "$CLEW" grep --json --data "$DATA" -F crash- | jq -r .message | sort -u | wc -l
}
for _ in $(seq 120); do
    [ "$(distinct)" = "$N" ] && break
    sleep 0.5
done
got=$(distinct)
if [ "$got" != "$N" ]; then
    "$CLEW" grep --json --data "$DATA" -F crash- | jq -r .message | sed 's/crash-//' | sort -n |
        awk 'NR == 1 { p = $1; next } $1 > p + 1 { print "gap after " p; } { p = $1 }' | sed -n 1,5p
    tail -30 "$WORK/ship.log"
    fail "$got distinct lines of $N arrived"
fi
total=$("$CLEW" grep -c --data "$DATA" -F crash-)
stop_tracked "$SHIP_PID" clew-ship
resent=$(jq -r .records_resent_total "$STATE/status.json")
summary=$(grep "stopped:" "$WORK/ship.log" | tail -1)
[ -n "$summary" ] || fail "no stop summary"
echo "  all $N lines arrived; $((total - N)) extra copies stored"
echo "  clew-ship (last run): ${summary#*stopped: }"
echo "  clew-ship counted $resent records sent again over all runs (resent after breaks +"
echo "  read again after restarts; sends after a run's last checkpoint are not counted)"
stop_clewd
echo "ship crash: ok"
