#!/usr/bin/env bash
# --wal-compress: the same 5000 syslog lines go to a clewd with stored WAL
# frames (the default) and to one with LZ4 frames, both with --fsync always
# and no seal; both are killed with SIGKILL. The LZ4 WAL must be much
# smaller, and both must give back every line after a restart (recovery
# reads either kind of frame).
. "$(dirname "$0")/lib.sh"
REPLAY="$CLEW_BIN/tools/replay"
N=5000

awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
    printf "<134>1 2024-01-15T10:30:00.%06dZ web01 checkout 42 - - order %d placed for user %d total %d.%02d\n",
        i, i, i * 7 % 1000, i % 500, i % 100 }' >"$WORK/lines"

wal_bytes() { find "$1/wal" -type f -name '*.wal' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

declare -A BYTES
for mode in off lz4; do
    unset SYSLOG_PORT GELF_PORT FORWARD_PORT HTTP_PORT
    DATA=$WORK/data-$mode
    start_clewd --wal-compress "$mode" --fsync always --seal-age 1h --seal-size 1GiB
    "$REPLAY" tcp 127.0.0.1 "$SYSLOG_PORT" "$WORK/lines" >/dev/null
    wait_count "$N" -F "placed for user"
    kill -KILL "$CLEWD_PID"
    wait "$CLEWD_PID" 2>/dev/null || true
    CLEWD_PID=""
    BYTES[$mode]=$(wal_bytes "$DATA")
    [ "${BYTES[$mode]}" -gt 0 ] || fail "no WAL bytes under $DATA/wal"
    # Recovery after the kill: every line back, none twice.
    start_clewd --wal-compress "$mode"
    wait_count "$N" -F "placed for user"
    [ "$("$CLEW" grep --data "$DATA" -F "order 4999 placed" | wc -l)" = 1 ] ||
        fail "line 4999 not found exactly once after recovery ($mode)"
    stop_clewd
done

echo "  WAL bytes for $N lines: stored ${BYTES[off]}, lz4 ${BYTES[lz4]}"
[ $((BYTES[lz4] * 2)) -lt "${BYTES[off]}" ] ||
    fail "the LZ4 WAL (${BYTES[lz4]} B) is not under half the stored one (${BYTES[off]} B)"
echo "wal compress: ok"
