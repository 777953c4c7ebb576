#!/usr/bin/env bash
# bench/ingest.sh: records/s that clewd stores from each protocol, sent by
# bench/ingest_send over loopback, beside the same syslog TCP load sent to
# rsyslog (imtcp -> file) in the same run. rsyslog is fetched with
# `apt-get download` and unpacked under bench/out (never installed, never
# the system logger). Not a test: it prints figures.
#
# usage: bench/ingest.sh [COUNT] [BUILD_DIR]     (default 1000000, ./build)
set -euo pipefail
COUNT=${1:-1000000}
BUILD=${2:-./build}
cd "$(dirname "$0")/.."
OUT=bench/out
WORK=$(mktemp -d /tmp/clew-ingest-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
mkdir -p "$OUT"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

SYSLOG=$(port) GELF=$(port) FWD=$(port) HTTP=$(port)
"$BUILD/clewd" --data "$WORK/data" --syslog 127.0.0.1:$SYSLOG --gelf 127.0.0.1:$GELF \
    --forward 127.0.0.1:$FWD --http 127.0.0.1:$HTTP --fsync interval >"$WORK/clewd.log" 2>&1 &
PIDS+=($!)
sleep 0.5

stored() {
    curl -s "127.0.0.1:$HTTP/metrics" | awk '$1=="clew_store_records_total"{print $2}'
}

# wait_stored TARGET: until the store holds TARGET records or stops growing.
wait_stored() {
    local target=$1 last=-1 same=0 n
    while :; do
        n=$(stored)
        [ "$n" -ge "$target" ] && { echo "$n"; return; }
        if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ $same -ge 30 ] && { echo "$n"; return; }
        last=$n
        sleep 0.1
    done
}

run() { # run PROTO PORT COUNT [RATE]
    local proto=$1 p=$2 n=$3 rate=${4:-0} before t0 t1 got
    before=$(stored)
    t0=$(now)
    "$BUILD/bench/ingest_send" "$proto" "$p" "$n" "$rate" >/dev/null
    got=$(( $(wait_stored $((before + n))) - before ))
    t1=$(now)
    # The last 3 s of a stalled wait are not work: take them off.
    local secs
    secs=$(echo "$t1 - $t0" | bc -l)
    if [ "$got" -lt "$n" ]; then secs=$(echo "$secs - 3" | bc -l); fi
    printf "%-12s %9d sent %9d stored (%6.2f%% lost) in %6.2f s = %9.0f records/s%s\n" \
        "$proto" "$n" "$got" "$(echo "100 * ($n - $got) / $n" | bc -l)" "$secs" \
        "$(echo "$got / $secs" | bc -l)" "${rate:+$( [ "$rate" != 0 ] && echo " (paced at $rate/s)")}"
    LAST_RATE=$(echo "$got / $secs" | bc -l)
}

echo "clewd: $COUNT records per protocol, one connection, loopback, --fsync interval"
run syslog-tcp $SYSLOG "$COUNT"
CLEW_SYSLOG_RATE=$LAST_RATE
run forward $FWD "$COUNT"
run gelf-tcp $GELF "$COUNT"
run syslog-udp $SYSLOG $((COUNT / 5)) 200000
run gelf-udp $GELF $((COUNT / 5)) 200000
run syslog-udp $SYSLOG $((COUNT / 5)) 0

# rsyslog on the same syslog TCP load: imtcp -> one file, default settings.
RS=$PWD/$OUT/rsyslog
if [ ! -x "$RS/root/usr/sbin/rsyslogd" ]; then
    mkdir -p "$RS/debs"
    (cd "$RS/debs" && apt-get download rsyslog libestr0 libfastjson4 >/dev/null 2>&1) || {
        echo "rsyslog: apt-get download failed; no comparison"; exit 0; }
    for d in "$RS"/debs/*.deb; do dpkg-deb -x "$d" "$RS/root"; done
fi
RPORT=$(port)
mkdir -p "$WORK/rs"
cat >"$WORK/rs/rsyslog.conf" <<CONF
global(workDirectory="$WORK/rs")
module(load="imtcp")
input(type="imtcp" port="$RPORT" address="127.0.0.1")
action(type="omfile" file="$WORK/rs/out.log")
CONF
LD_LIBRARY_PATH=$RS/root/usr/lib/x86_64-linux-gnu "$RS/root/usr/sbin/rsyslogd" -n \
    -f "$WORK/rs/rsyslog.conf" -i "$WORK/rs/pid" -M "$RS/root/usr/lib/x86_64-linux-gnu/rsyslog" \
    >"$WORK/rs/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$RPORT) 2>/dev/null && break; sleep 0.1; done
t0=$(now)
"$BUILD/bench/ingest_send" syslog-tcp "$RPORT" "$COUNT" >/dev/null || { echo "rsyslog did not listen:"; cat "$WORK/rs/log"; exit 1; }
last=-1
while :; do
    n=$( (wc -l <"$WORK/rs/out.log") 2>/dev/null || echo 0)
    [ "$n" -ge "$COUNT" ] && break
    [ "$n" = "$last" ] && break
    last=$n
    sleep 0.2
done
t1=$(now)
RS_RATE=$(echo "$n / ($t1 - $t0)" | bc -l)
printf "%-12s %9d sent %9d stored in %6.2f s = %9.0f records/s (rsyslog imtcp -> file)\n" \
    rsyslog-tcp "$COUNT" "$n" "$(echo "$t1 - $t0" | bc -l)" "$RS_RATE"
printf "clewd / rsyslog on syslog TCP: %.2fx\n" "$(echo "$CLEW_SYSLOG_RATE / $RS_RATE" | bc -l)"
