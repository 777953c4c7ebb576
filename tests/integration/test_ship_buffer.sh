#!/usr/bin/env bash
# The disk buffer: with the collector down, clew-ship moves its batches to
# STATE/buffer (LZ4 frames), checkpoints the files past them, survives a
# kill -9 in that state without reading the files again, and drains the
# buffer in order when the collector returns, with the lines of a rotation
# while down and of writes during the drain queued behind it: every line
# exactly once, in file order.
# Then the bound: a 2 MiB buffer overflows, the oldest frames are dropped
# and counted, and exactly the newest lines arrive.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
SHIP="$CLEW_BIN/clew-ship"
[ -x "$SHIP" ] || fail "$SHIP not built"

ID=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
SHIP_PID=""

start_ship() { # STATE DOCKER_ROOT [options]
    local state=$1 root=$2 seen
    shift 2
    seen=$( (cat "$WORK/ship.log" 2>/dev/null || true) | wc -l)
    "$SHIP" --forward "127.0.0.1:$FORWARD_PORT" --state "$state" --docker-root "$root" \
        --cri-root off --scan-every 200ms --batch-wait 50ms --checkpoint-every 200ms \
        --multiline off --spill-after 300ms --batch-size 64KiB "$@" >>"$WORK/ship.log" 2>&1 &
    SHIP_PID=$!
    track_pid "$SHIP_PID"
    for _ in $(seq 100); do
        tail -n +"$((seen + 1))" "$WORK/ship.log" | grep -q "ship: started" && return 0
        sleep 0.05
    done
    fail "clew-ship did not start: $(tail -5 "$WORK/ship.log")"
}

status() { jq -r ".$2" "$1/status.json" 2>/dev/null || echo 0; }
status_ge() { [ "$(status "$1" "$2")" -ge "$3" ]; }

# gen FILE PREFIX FROM TO: lines PREFIX-i plus 64 bytes of noise, one time.
gen() {
    awk -v p="$2" -v a="$3" -v b="$4" 'BEGIN { srand(7); for (i = a; i < b; i++) {
        s = ""; for (k = 0; k < 8; k++) s = s sprintf("%08x", int(rand() * 4294967295));
        printf "{\"log\":\"%s-%d %s\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:00Z\"}\n", p, i, s } }' >>"$1"
}

# indices PREFIX: the numbers of the stored PREFIX-<n> lines, in storage order.
indices() {
    "$CLEW" grep --json --data "$DATA" -F "$1-" | jq -r .message | sed "s/^$1-\([0-9]*\) .*/\1/"
}

# --- phase 1: fill, kill -9 while buffered, drain in order -----------------
S1=$WORK/state1
R1=$WORK/containers1
mkdir -p "$R1/$ID"
start_clewd
start_ship "$S1" "$R1"
wait_for 5 "the first connection" grep -q "connected to" "$WORK/ship.log"
stop_clewd
N=20000
gen "$R1/$ID/$ID-json.log" buf 0 "$N"
wait_for 30 "all $N records spilled" status_ge "$S1" records_spilled "$N"
ls "$S1"/buffer/*.buf >/dev/null 2>&1 || fail "no buffer segment in $S1/buffer"
echo "  collector down: $N records in the disk buffer ($(status "$S1" buffer_bytes) bytes," \
    "$(status "$S1" buffer_frames) frames)"
sleep 0.6 # a checkpoint after the spill
kill -KILL "$SHIP_PID"
wait "$SHIP_PID" 2>/dev/null || true
start_ship "$S1" "$R1"
sleep 1
[ "$(status "$S1" records_queued)" = 0 ] ||
    fail "after kill -9 the files were read again: $(status "$S1" records_queued) records"
# Still down: the file is rotated and a new one written; they queue behind.
F1=$R1/$ID/$ID-json.log
mv "$F1" "$F1.1"
gen "$F1" buf "$N" $((N + 2000))
wait_for 30 "2000 more records spilled" status_ge "$S1" records_spilled 2000
start_clewd
# Lines written while the buffer drains come after it.
gen "$F1" buf $((N + 2000)) $((N + 4000))
NT=$((N + 4000))
wait_for 30 "the buffer to drain" count_is "$NT" -F buf-
sleep 0.5
[ "$("$CLEW" grep -c --data "$DATA" -F buf-)" = "$NT" ] || fail "not exactly $NT records"
[ "$(indices buf | sort -n | uniq -d | wc -l)" = 0 ] || fail "duplicates after the drain"
[ "$(status "$S1" records_from_disk)" -ge $((N + 2000)) ] ||
    fail "records_from_disk $(status "$S1" records_from_disk), want at least $((N + 2000))"
# Equal timestamps: the store keeps arrival order, so this is the send order.
indices buf >"$WORK/order"
seq 0 $((NT - 1)) | cmp -s - "$WORK/order" ||
    fail "drained out of order: $(seq 0 $((NT - 1)) | cmp - "$WORK/order" || true)"
wait_for 5 "an empty buffer" bash -c "[ \"\$(jq .buffer_frames '$S1/status.json')\" = 0 ]"
echo "  kill -9 while buffered, a rotation, writes while draining: $NT records exactly once," \
    "in file order"
stop_tracked "$SHIP_PID" clew-ship

# --- phase 2: the bound drops the oldest frames, counted -------------------
S2=$WORK/state2
R2=$WORK/containers2
mkdir -p "$R2/$ID"
stop_clewd
start_ship "$S2" "$R2" --buffer-size 2MiB
N2=60000
gen "$R2/$ID/$ID-json.log" big 0 "$N2"
wait_for 60 "all $N2 records spilled" status_ge "$S2" records_spilled "$N2"
D=$(status "$S2" buffer_dropped_records)
[ "$D" -gt 0 ] || fail "a 2 MiB buffer held $N2 noisy lines without dropping"
[ "$(status "$S2" buffer_bytes)" -le $((2 * 1024 * 1024)) ] || fail "buffer over its bound"
echo "  2 MiB bound: $D of $N2 records dropped (oldest first), $(status "$S2" buffer_bytes) bytes kept"
start_clewd
wait_for 60 "the surviving $((N2 - D)) records" count_is "$((N2 - D))" -F big-
min=$(indices big | sort -n | sed -n 1p)
[ "$min" = "$D" ] || fail "the oldest surviving record is big-$min, want big-$D"
[ "$(indices big | sort -n | uniq | wc -l)" = "$((N2 - D))" ] || fail "duplicates or gaps"
echo "  exactly big-$D .. big-$((N2 - 1)) arrived"
stop_tracked "$SHIP_PID" clew-ship
stop_clewd
echo "ship buffer: ok"
