#!/usr/bin/env bash
# Garbage and malformed input on every port, between good messages on the
# same connection (or socket) wherever the framing lets a receiver recover:
# the good messages are all stored, the bad ones are not (or, for syslog
# without <PRI>, kept as plain text), clewd keeps running and stops cleanly,
# and its log names each kind of bad input with the sender's address.
# shellcheck disable=SC2059 # the byte builders compute printf formats
source "$(dirname "$0")/lib.sh"
REPLAY="$CLEW_BIN/tools/replay"
[ -x "$REPLAY" ] || fail "$REPLAY not built"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
command -v gzip >/dev/null || fail "gzip not installed"

start_clewd --max-message 64KiB
T="good$$x$RANDOM" # in every good message: clew grep -F "$T" counts them
U="bad$$y$RANDOM"  # in the bad ones
B=$WORK/bytes
mkdir -p "$B"

# --- byte builders (printf formats built from numbers on purpose) ------------
be32() { # 4-byte big-endian
    printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))"
    printf "\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"
}
dgram() { # dgram FILE: one datagram record of replay's udp format
    be32 "$(wc -c <"$1")"
    cat "$1"
}
mp_str() { # msgpack str
    local n
    n=$(printf %s "$1" | wc -c)
    if [ "$n" -lt 32 ]; then
        printf "\\x$(printf %02x $((0xa0 | n)))"
    elif [ "$n" -lt 256 ]; then
        printf "\\xd9\\x$(printf %02x "$n")"
    else
        printf "\\xda\\x$(printf %02x $((n >> 8)))\\x$(printf %02x $((n & 255)))"
    fi
    printf %s "$1"
}
fwd_msg() { # fwd_msg MESSAGE: a Message-mode request [tag, time, {message, service}]
    printf '\x93'
    mp_str bad.input
    printf '\xce'
    be32 "$(date +%s)"
    printf '\x82'
    mp_str message
    mp_str "$1"
    mp_str service
    mp_str fsvc
}
s5424() { # an RFC 5424 syslog line without its framing
    printf '<11>1 - badhost sapp - - - %s' "$1"
}
gelf_json() { # gelf_json MESSAGE
    printf '{"version":"1.1","host":"badhost","short_message":"%s","level":3,"_service":"gsvc"}' \
        "$1"
}
# replay_peer PROTO PORT FILE: replays and prints the local address used.
replay_peer() {
    local out
    out=$("$REPLAY" "$1" 127.0.0.1 "$2" "$3") || fail "replay $1 $3 failed"
    sed -n 's/^local //p' <<<"$out"
}
# logged KIND PEER TEXT: clewd's log has a warning of KIND from PEER with TEXT.
logged() {
    grep -F "$1 from $2: " "$WORK/clewd.log" | grep -qF "$3" ||
        fail "clewd's log does not report '$1 from $2: ...$3...'"
}
alive() { kill -0 "$CLEWD_PID" 2>/dev/null || fail "clewd died after $1"; }

good=()
# --- syslog over TCP: one connection -----------------------------------------
# random bytes (no digits: no accidental octet count; no delimiters: one
# message) -> kept as plain text; an LF line beyond --max-message -> cut and
# kept; an octet-counted frame beyond it -> skipped whole; good messages
# around each, LF-framed and octet-counted.
head -c 3000 /dev/urandom | LC_ALL=C tr -d '0-9<\n\r\000' >"$B/noise"
big=$(head -c 70000 /dev/zero | tr '\0' 'z')
octbody=$(s5424 "OCTBIG-$U $big")
for i in 1 2 3 4 5; do good+=("syslog-tcp-$i $T"); done
{
    s5424 "syslog-tcp-1 $T"; printf '\n'
    cat "$B/noise"; printf '\n'
    s5424 "syslog-tcp-2 $T"; printf '\n'
    s5424 "LFBIG-$U $big"; printf '\n'
    s5424 "syslog-tcp-3 $T"; printf '\n'
    printf '%d %s' "$(printf %s "$octbody" | wc -c)" "$octbody"
    s5424 "syslog-tcp-4 $T"; printf '\n'
    m=$(s5424 "syslog-tcp-5 $T")
    printf '%d %s' "$(printf %s "$m" | wc -c)" "$m"
} >"$B/syslog.tcp"
peer_syslog=$(replay_peer tcp "$SYSLOG_PORT" "$B/syslog.tcp")
alive "syslog TCP garbage"

# --- GELF over UDP: one socket ------------------------------------------------
gelf_json "gelf-udp-1 $T" >"$B/g1"
printf '{"version":"1.1","short_message":"BADJSON-%s", oops' "$U" >"$B/badjson"
printf '\x1e\x0f12345678\x05\x02{"x":1}' >"$B/chunk-seq"   # seq 5 of 2
gelf_json "TRUNCGZ-$U" | gzip -c >"$B/gz-full"
head -c $(($(wc -c <"$B/gz-full") / 2)) "$B/gz-full" >"$B/gz-cut"
gelf_json "gelf-udp-2 $T" | gzip -c >"$B/g2"
gelf_json "gelf-udp-3 $T" >"$B/g3"
good+=("gelf-udp-1 $T" "gelf-udp-2 $T" "gelf-udp-3 $T")
for f in g1 badjson chunk-seq gz-cut g2 g3; do dgram "$B/$f"; done >"$B/gelf.udp"
peer_gelf_udp=$(replay_peer udp "$GELF_PORT" "$B/gelf.udp")

# --- GELF over TCP: one connection, NUL-framed ----------------------------------
# invalid JSON -> dropped; a frame beyond 4 x --max-message + 1 KiB -> dropped
# up to its NUL.
good+=("gelf-tcp-1 $T" "gelf-tcp-2 $T" "gelf-tcp-3 $T")
{
    gelf_json "gelf-tcp-1 $T"; printf '\0'
    printf '{"short_message":"BADJSON2-%s",,}\0' "$U"
    gelf_json "gelf-tcp-2 $T"; printf '\0'
    gelf_json "GELFBIG-$U $(head -c 300000 /dev/zero | tr '\0' 'g')"; printf '\0'
    gelf_json "gelf-tcp-3 $T"; printf '\0'
} >"$B/gelf.tcp"
peer_gelf_tcp=$(replay_peer tcp "$GELF_PORT" "$B/gelf.tcp")
alive "bad GELF"

# --- Forward: a wrong-shaped value is skipped, non-msgpack closes -------------------
good+=("fwd-1 $T" "fwd-2 $T" "fwd-3 $T" "fwd-4 $T")
{ fwd_msg "fwd-1 $T"; printf '\x92\x01\x02'; fwd_msg "fwd-2 $T"; } >"$B/fwd-a"
{ fwd_msg "fwd-3 $T"; printf '\xc1 not msgpack'; fwd_msg "LOSTFWD-$U"; } >"$B/fwd-b"
fwd_msg "fwd-4 $T" >"$B/fwd-c"
peer_fwd_a=$(replay_peer tcp "$FORWARD_PORT" "$B/fwd-a")
peer_fwd_b=$(replay_peer tcp "$FORWARD_PORT" "$B/fwd-b")
replay_peer tcp "$FORWARD_PORT" "$B/fwd-c" >/dev/null
alive "bad Forward input"

# --- the good ones are all stored, the bad ones are not -----------------------
wait_count "${#good[@]}" -F "$T"
for m in "${good[@]}"; do
    "$CLEW" grep -F --json --data "$DATA" "$m" | jq -e --arg m "$m" 'select(.message == $m)' \
        >/dev/null || fail "good message '$m' not stored as sent"
done
expect_record "syslog-tcp-5 $T" sapp 3 badhost syslog
expect_record "gelf-udp-2 $T" gsvc 3 badhost gelf
expect_record "fwd-4 $T" fsvc 6 "" forward
for bad in "OCTBIG-$U" "GELFBIG-$U" "BADJSON-$U" "BADJSON2-$U" "TRUNCGZ-$U" "LOSTFWD-$U"; do
    count_is 0 -F "$bad" || fail "'$bad' was stored"
done
# The noise line is kept as one plain-text record, the long line cut to fit.
count_is 1 -F "$(head -c 40 "$B/noise")" || fail "the noise line is not stored once as text"
lf=$("$CLEW" grep -F --json --data "$DATA" "LFBIG-$U") || fail "the cut line is not stored"
len=$(jq -r '.message | utf8bytelength' <<<"$lf")
if [ "$len" -le 60000 ] || [ "$len" -gt 65536 ]; then
    fail "the line beyond --max-message was stored with $len bytes, want 60000-65536"
fi

# --- each kind of bad input is in clewd's log, with the sender ---------------
logged parse "$peer_syslog" "kept as plain text"
logged truncated "$peer_syslog" "cut"
logged oversize "$peer_syslog" "skipped"
logged json "$peer_gelf_udp" ""
logged chunk "$peer_gelf_udp" "sequence number"
logged decompress "$peer_gelf_udp" ""
logged json "$peer_gelf_tcp" ""
logged oversize "$peer_gelf_tcp" "dropped"
logged msgpack "$peer_fwd_a" ""
logged msgpack "$peer_fwd_b" "closing"

# --- pure random bytes on every port, then clewd still takes good input ----------
head -c 65536 /dev/urandom >"$B/random"
head -c 1400 /dev/urandom >"$B/r1"
dgram "$B/r1" >"$B/random.udp"
replay_peer tcp "$SYSLOG_PORT" "$B/random" >/dev/null
replay_peer udp "$SYSLOG_PORT" "$B/random.udp" >/dev/null
replay_peer tcp "$GELF_PORT" "$B/random" >/dev/null
replay_peer udp "$GELF_PORT" "$B/random.udp" >/dev/null
"$REPLAY" tcp 127.0.0.1 "$FORWARD_PORT" "$B/random" >/dev/null 2>&1 || true # may be reset
alive "random bytes"
{ s5424 "after-random $T"; printf '\n'; } >"$B/after"
replay_peer tcp "$SYSLOG_PORT" "$B/after" >/dev/null
gelf_json "after-random-gelf $T" >"$B/after-g"
dgram "$B/after-g" >"$B/after-g.udp"
replay_peer udp "$GELF_PORT" "$B/after-g.udp" >/dev/null
fwd_msg "after-random-fwd $T" >"$B/after-f"
replay_peer tcp "$FORWARD_PORT" "$B/after-f" >/dev/null
wait_count $((${#good[@]} + 3)) -F "$T"

stop_clewd
echo "bad input: ${#good[@]} good messages kept around garbage on every input: ok"
