#!/usr/bin/env bash
# Forward with acks survives kill -9: a client streams records with a
# `chunk` each and logs every ack as it arrives; clewd is killed mid-stream,
# then every acknowledged record must be readable straight from the data
# dir, again after a restart (WAL replay) and after a clean stop (sealed
# segments) -- exactly once, and nothing that was never sent. Two rounds:
# --fsync interval (the default) with Forward-mode requests of 10 records,
# and --fsync always with Message-mode requests of one record.
source "$(dirname "$0")/lib.sh"
FWD="$CLEW_BIN/tools/fwd_client"
[ -x "$FWD" ] || fail "$FWD not built"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"

N=500000       # far more than clewd takes in before the kill
MIN_ACKS=200   # kill once this many records are acknowledged ...
MIN_WAIT=0.3   # ... and at least this many seconds have passed

# check_acked WHEN: every acked index is stored once; no unknown records.
check_acked() {
    local when=$1 acks=$WORK/acked.sorted stored=$WORK/stored.sorted
    "$CLEW" grep --json --data "$DATA" -F 'msg-' | jq -r .message | sed 's/^msg-//' |
        sort >"$stored" || fail "$when: clew grep failed"
    sort "$ACKFILE" >"$acks"
    local dups missing extra
    dups=$(uniq -d "$stored" | head -5 | tr '\n' ' ')
    [ -z "$dups" ] || fail "$when: records stored twice: msg-{$dups}"
    missing=$(comm -23 "$acks" "$stored" | wc -l)
    [ "$missing" = 0 ] || fail "$when: $missing of $(wc -l <"$acks") acked records lost," \
        "e.g. msg-$(comm -23 "$acks" "$stored" | head -3 | tr '\n' ' ')"
    extra=$(awk -v s="$SENT" '$1 !~ /^[0-9]+$/ || $1 + 0 >= s' "$stored" | wc -l)
    [ "$extra" = 0 ] || fail "$when: $extra stored records were never sent"
    echo "  $when: $(wc -l <"$acks") acked, $(wc -l <"$stored") stored (of $SENT sent)"
}

round() {
    local fsync=$1 batch=$2
    DATA=$WORK/data-$fsync
    ACKFILE=$WORK/acks-$fsync
    start_clewd --fsync "$fsync"
    "$FWD" 127.0.0.1 "$FORWARD_PORT" "$N" "$ACKFILE" --batch "$batch" --window 256 \
        >"$WORK/client-$fsync.out" 2>"$WORK/client-$fsync.err" &
    CLIENT_PID=$!
    track_pid "$CLIENT_PID"
    sleep "$MIN_WAIT"
    local acked=0
    for _ in $(seq 400); do
        acked=$( (wc -l <"$ACKFILE") 2>/dev/null || echo 0)
        [ "$acked" -ge "$MIN_ACKS" ] && break
        kill -0 "$CLIENT_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -0 "$CLIENT_PID" 2>/dev/null ||
        fail "fsync $fsync: the client ended before the kill ($(cat "$WORK/client-$fsync.out" \
            "$WORK/client-$fsync.err")): raise N"
    [ "$acked" -ge "$MIN_ACKS" ] || fail "fsync $fsync: only $acked acks within 20 s"
    kill -KILL "$CLEWD_PID"
    wait "$CLEWD_PID" 2>/dev/null || true
    CLEWD_PID=""
    # The client sees the connection break and exits 0 by itself.
    local rc=0
    for _ in $(seq 200); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$CLIENT_PID" 2>/dev/null && fail "fsync $fsync: client still running 10 s after the kill"
    wait "$CLIENT_PID" || rc=$?
    TRACKED_PIDS=()
    [ "$rc" = 0 ] || fail "fsync $fsync: fwd_client exited $rc: $(cat "$WORK/client-$fsync.err")"
    local summary
    summary=$(cat "$WORK/client-$fsync.out")
    grep -q 'closed=1' <<<"$summary" || fail "fsync $fsync: client did not see the break: $summary"
    SENT=$(sed -n 's/.*sent=\([0-9]*\).*/\1/p' <<<"$summary")
    [ "$(wc -l <"$ACKFILE")" -gt 0 ] || fail "fsync $fsync: no record was acknowledged"
    echo "fsync $fsync: killed clewd; client: $summary"

    check_acked "after kill -9 (data dir read directly)"
    start_clewd --fsync "$fsync"
    check_acked "after restart"
    stop_clewd
    check_acked "after a clean stop"
}

round interval 10
round always 1
echo "forward ack crash: ok"
