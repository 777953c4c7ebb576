#!/usr/bin/env bash
# bench/ship.sh: clew-ship from files to a real clewd on this machine.
# Writes LINES Docker json-file lines (about 200 bytes each, realistic
# access/app log text, FILES containers) under a temp dir, starts clewd
# (--fsync interval) and clew-ship, and measures until clewd acknowledged
# every record (clew-ship's status.json): lines/s, MB/s of log file bytes,
# CPU seconds of clew-ship per 100k lines, its peak RSS (VmHWM), and clewd's
# CPU for comparison. Not a test: it prints figures.
#
# usage: bench/ship.sh [LINES] [BUILD_DIR] [FILES]   (default 2000000, ./build, 4)
# env: FSYNC=always|interval|never (clewd), NULL=1 (a Python null collector
# instead of clewd: clew-ship alone), SHIP_OPTS (extra clew-ship options),
# VERBOSE=1 (progress).
set -euo pipefail
LINES=${1:-2000000}
BUILD=${2:-./build}
FILES=${3:-4}
cd "$(dirname "$0")/.."
WORK=$(mktemp -d /tmp/clew-shipbench-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"; } # utime+stime, USER_HZ 100

echo "writing $LINES lines in $FILES files..."
per=$((LINES / FILES))
for f in $(seq "$FILES"); do
    id=$(printf '%064x' "$f")
    mkdir -p "$WORK/containers/$id"
    printf '{"Name":"/svc-%d","Config":{"Image":"shop/svc:1.%d","Labels":{"com.docker.compose.service":"svc%d"}}}\n' \
        "$f" "$f" "$f" >"$WORK/containers/$id/config.v2.json"
    awk -v n="$per" -v f="$f" 'BEGIN { srand(f);
        split("GET POST PUT DELETE", m, " "); split("200 200 200 201 204 304 400 404 500", c, " ");
        for (i = 0; i < n; i++) {
            if (i % 5 == 4)
                msg = sprintf("level=info ts=2024-01-15T10:30:%02d.%06dZ caller=cart.go:%d msg=\\\"item added\\\" user_id=%d sku=SKU-%05d qty=%d trace_id=%08x%08x", i % 60, i % 1000000, 100 + i % 400, int(rand() * 100000), int(rand() * 99999), 1 + i % 5, int(rand() * 4294967295), i)
            else
                msg = sprintf("10.0.%d.%d - - [15/Jan/2024:10:30:%02d +0000] \\\"%s /api/v1/cart/%d/items?page=%d HTTP/1.1\\\" %s %d \\\"-\\\" \\\"Mozilla/5.0 (X11; Linux x86_64)\\\" %d", i % 256, (i * 7) % 256, i % 60, m[1 + i % 4], int(rand() * 100000), i % 10, c[1 + i % 9], 200 + int(rand() * 5000), int(rand() * 900))
            printf "{\"log\":\"%s\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:%02d.%09dZ\"}\n", msg, i % 60, i
        } }' >"$WORK/containers/$id/$id-json.log"
done
BYTES=$(cat "$WORK"/containers/*/*-json.log | wc -c)
echo "  $(awk -v b="$BYTES" 'BEGIN { printf "%.1f", b / 1048576 }') MiB of json-file logs, $((BYTES / LINES)) bytes a line"

FWD=$(port)
if [ -n "${NULL:-}" ]; then
    # A null collector: acks every PackedForward request as soon as it is
    # read, stores nothing. Measures clew-ship alone.
    python3 - "$FWD" >"$WORK/clewd.log" 2>&1 <<'PY' &
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); buf = bytearray()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(1 << 20)
        if not d: break
        buf += d; out = b""; p = 0
        while True:  # [tag, bin32, {chunk, size[, compressed]}]
            if len(buf) - p < 2: break
            q = p + 1; t = buf[q]
            if t & 0xe0 == 0xa0: q += 1 + (t & 0x1f)
            else: q += 2 + buf[q + 1]
            if len(buf) < q + 5: break
            n = struct.unpack(">I", buf[q + 1:q + 5])[0]; q += 5 + n
            if len(buf) < q + 1: break
            m = buf[q] & 0x0f; q += 1; chunk = None; ok = True
            for _ in range(m):
                if len(buf) < q + 1: ok = False; break
                kl = buf[q] & 0x1f; key = bytes(buf[q + 1:q + 1 + kl]); q += 1 + kl
                if len(buf) < q + 2: ok = False; break
                v = buf[q]
                if v & 0xe0 == 0xa0: vl = 1 + (v & 0x1f)
                elif v == 0xd9: vl = 2 + buf[q + 1]
                elif v == 0xce: vl = 5
                else: vl = 1
                if len(buf) < q + vl: ok = False; break
                if key == b"chunk": chunk = bytes(buf[q:q + vl])
                q += vl
            if not ok: break
            out += b"\x81\xa3ack" + chunk; p = q
        del buf[:p]
        if out: c.sendall(out)
PY
    CLEWD=$!
else
    "$BUILD/clewd" --data "$WORK/data" --syslog off --gelf off --forward "127.0.0.1:$FWD" \
        --http off --fsync ${FSYNC:-interval} --correlate off --inject-ids off ${CLEWD_OPTS:-} \
        >"$WORK/clewd.log" 2>&1 &
    CLEWD=$!
fi
PIDS+=($CLEWD)
sleep 0.5

t0=$(now)
"$BUILD/clew-ship" --forward "127.0.0.1:$FWD" --state "$WORK/state" \
    --docker-root "$WORK/containers" --cri-root off --multiline off \
    --scan-every 100ms --checkpoint-every 1s ${SHIP_OPTS:-} >"$WORK/ship.log" 2>&1 &
SHIP=$!
PIDS+=($SHIP)
acked=0
while [ "$acked" -lt "$LINES" ]; do
    sleep 0.05
    if [ -n "${VERBOSE:-}" ]; then
        jq -c '[.records_queued, .records_acked, .batches_sent, .batches_acked, .ack_wait_ms_mean, .inflight_bytes,
            .queue_bytes]' "$WORK/state/status.json" 2>/dev/null || true
    fi
    acked=$(jq -r .records_acked "$WORK/state/status.json" 2>/dev/null || echo 0)
    kill -0 "$SHIP" || { cat "$WORK/ship.log"; exit 1; }
done
t1=$(now)
ship_cpu=$(cpu_s "$SHIP")
clewd_cpu=$(cpu_s "$CLEWD")
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$SHIP/status")
kill -TERM "$SHIP"
wait "$SHIP" || true
awk -v nul="${NULL:+1}" -v fs="${FSYNC:-interval}" -v l="$LINES" -v b="$BYTES" -v t0="$t0" -v t1="$t1" -v c="$ship_cpu" -v d="$clewd_cpu" -v r="$rss" 'BEGIN {
    s = t1 - t0
    if (nul) printf "clew-ship -> null collector (loopback, acks at once, nothing stored):\n"
    else printf "clew-ship -> clewd (loopback, Forward with acks, clewd --fsync %s):\n", fs
    printf "  %d lines in %.2f s: %.0f lines/s, %.1f MB/s (%.1f MiB/s) of log file bytes\n", l, s, l / s, b / s / 1e6, b / s / 1048576
    printf "  clew-ship CPU %.2f s (%.3f s per 100k lines), peak RSS %.1f MiB\n", c, c / l * 100000, r / 1024
    printf "  %s CPU %.2f s (%.3f s per 100k lines)\n", nul ? "null collector" : "clewd", d, d / l * 100000
}'
