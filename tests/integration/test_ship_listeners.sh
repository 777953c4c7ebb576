#!/usr/bin/env bash
# clew-ship's local listeners (--syslog, --gelf) into a real clewd over
# Forward. The real logger(1) over TCP and UDP (RFC 5424 with structured
# data, octet counting, RFC 3164) and GELF from python3 (UDP plain, zlib,
# gzip, chunked out of order; TCP NUL-framed). Every message goes twice:
# through clew-ship ("lst-NAME") and straight to clewd ("dir-NAME"), and
# clew grep --json must show the same record both ways, except for what
# Forward cannot say (input; "tag" and "input" in fields) and the client's
# own clock; exact host/service/level/message/fields are checked too.
# SIGTERM stops cleanly with the counts in status.json and the log; a port
# in use or a bad address is a start-up error naming it; a full queue
# pauses the listeners (UDP dropped and counted) until acks make room.
source "$(dirname "$0")/lib.sh"
command -v logger >/dev/null || fail "logger(1) not installed (bsdutils)"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
command -v python3 >/dev/null || fail "python3 not installed"
SHIP="$CLEW_BIN/clew-ship"
[ -x "$SHIP" ] || fail "$SHIP not built"

start_clewd --fsync always --inject-ids off

# start_ship NAME ARGS...: a clew-ship with state $WORK/NAME and log
# $WORK/NAME.log that forwards to clewd unless ARGS say otherwise; waits
# until it listens. Sets SHIP_PID. Returns 1 if it exited during start-up.
start_ship() {
    local name=$1
    shift
    "$SHIP" --forward "127.0.0.1:$FORWARD_PORT" --state "$WORK/$name" --docker-root off \
        --cri-root off --batch-wait 50ms --scan-every 100ms "$@" >"$WORK/$name.log" 2>&1 &
    SHIP_PID=$!
    track_pid "$SHIP_PID"
    for _ in $(seq 100); do
        grep -q "ship: started" "$WORK/$name.log" 2>/dev/null && return 0
        kill -0 "$SHIP_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    fail "clew-ship $name did not start: $(tail -5 "$WORK/$name.log")"
}

# stop_ship NAME: SIGTERM; exit status 0 within 10 s.
stop_ship() {
    local rc=0 i
    kill -TERM "$SHIP_PID"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$SHIP_PID" 2>/dev/null || break
        sleep 0.1
    done
    wait "$SHIP_PID" || rc=$?
    [ "$rc" = 0 ] || fail "clew-ship $1 exited with $rc on SIGTERM: $(tail -5 "$WORK/$1.log")"
}

for attempt in 1 2 3; do
    LSP=$(free_port) LGP=$(free_port)
    start_ship main --syslog "127.0.0.1:$LSP" --gelf "127.0.0.1:$LGP" && break
    grep -q "in use" "$WORK/main.log" || fail "clew-ship exited: $(tail -5 "$WORK/main.log")"
    [ "$attempt" != 3 ] || fail "no free listener ports in 3 attempts"
done
grep -q "syslog: listening on udp+tcp 127.0.0.1:$LSP" "$WORK/main.log" || fail "syslog listener"
grep -q "gelf: listening on udp+tcp 127.0.0.1:$LGP" "$WORK/main.log" || fail "gelf listener"

# ---- send everything twice ------------------------------------------------

# syslog2 NAME LOGGER-OPTIONS...: "lst-NAME" to clew-ship, "dir-NAME" to clewd.
syslog2() {
    local name=$1
    shift
    logger --server 127.0.0.1 --port "$LSP" "$@" "lst-$name" || fail "logger to clew-ship: $name"
    logger --server 127.0.0.1 --port "$SYSLOG_PORT" "$@" "dir-$name" || fail "logger to clewd"
}
syslog2 5424-tcp -T --rfc5424 -t web-frontend -p user.err --msgid ID47 \
    --sd-id acc@32473 --sd-param 'user="alice"' \
    --sd-id trace@32473 --sd-param 'trace_id="0AF7651916CD43DD8448EB211C80319C"'
syslog2 5424-octet -T --rfc5424 --octet-count -t auth -p local0.info
syslog2 5424-udp -d --rfc5424 -t billing -p daemon.warning
syslog2 3164-udp -d --rfc3164 -t legacy -p user.notice
syslog2 3164-tcp -T --rfc3164 -t legacy -p user.debug

# gelf PORT PREFIX: six GELF messages PREFIX-udp-plain ... PREFIX-tcp-2.
gelf() {
    python3 - "$@" <<'PY' || fail "GELF sender failed"
import gzip, json, os, socket, sys, zlib
port, p = int(sys.argv[1]), sys.argv[2]
addr = ("127.0.0.1", port)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def msg(name, **kw):
    m = {"version": "1.1", "host": "gelf-host", "short_message": p + "-" + name,
         "timestamp": 1705314600.125}
    m.update(kw)
    return json.dumps(m).encode()
u.sendto(msg("udp-plain", level=4, _service="orders", _request_id="r-1", _n=42,
             _nested={"a": [1, 2.5, True, None]}), addr)
u.sendto(zlib.compress(msg("udp-zlib", level="warning", _app="pay")), addr)
u.sendto(gzip.compress(msg("udp-gzip", level=2, _service="gz", _span_id="B7AD6B7169203331",
                          _trace_id="0AF7651916CD43DD8448EB211C80319C")), addr)
# Chunked: three chunks of a plain payload, sent last chunk first.
body = msg("udp-chunked", level=5, _service="big", full_message="line\n" * 600)
n = 3
size = (len(body) + n - 1) // n
mid = os.urandom(8)
chunks = [b"\x1e\x0f" + mid + bytes([i, n]) + body[i * size:(i + 1) * size] for i in range(n)]
for c in reversed(chunks):
    u.sendto(c, addr)
t = socket.create_connection(addr)
t.sendall(msg("tcp-1", _container_id="c0ffee", _container_name="/shop-api-1",
              _stream="stderr") + b"\0" +
          msg("tcp-2", level=6, _trace_id="4BF92F3577B34DA6A3CE929D0E0E4736") + b"\0")
t.close()
PY
}
gelf "$LGP" lst
gelf "$GELF_PORT" dir

wait_count 11 '^lst-'
wait_count 11 '^dir-'

# ---- the same record both ways ----------------------------------------------

# same NAME [EXTRA-DEL]: lst-NAME and dir-NAME agree but for the message,
# input, what Forward adds to fields, and EXTRA-DEL (jq paths).
same() {
    local a b
    a=$("$CLEW" grep --json --data "$DATA" "^lst-$1\$" |
        jq -cS "del(.message, .input, .fields.tag, .fields.input ${2:-})")
    b=$("$CLEW" grep --json --data "$DATA" "^dir-$1\$" | jq -cS "del(.message, .input ${2:-})")
    if [ -z "$a" ] || [ "$a" != "$b" ]; then fail "$1: shipped $a, direct $b"; fi
}
for n in 5424-tcp 5424-octet 5424-udp 3164-udp 3164-tcp; do
    same "$n" ", .ts" # logger stamps each run itself
done
for n in udp-plain udp-zlib udp-gzip udp-chunked tcp-1; do
    same "$n"
done
same tcp-2 ", .service" # none: Forward's fallback is the tag (clew-ship), direct stays empty
[ "$(json_field '^dir-tcp-2$' .service)" = "" ] || fail "direct tcp-2 has a service"

# ---- exact values ---------------------------------------------------------------

host=$(json_field '^dir-5424-tcp$' .host)
[ -n "$host" ] || fail "logger sent no host"
expect_record lst-5424-tcp web-frontend 3 "$host" forward
expect_record lst-5424-octet auth 6 "$host" forward
expect_record lst-5424-udp billing 4 "$host" forward
expect_record lst-3164-udp legacy 5 "$host" forward
expect_record lst-3164-tcp legacy 7 "$host" forward
expect_record lst-udp-plain orders 4 gelf-host forward
expect_record lst-udp-zlib pay 4 gelf-host forward
expect_record lst-udp-gzip gz 2 gelf-host forward
expect_record lst-udp-chunked big 5 gelf-host forward
expect_record lst-tcp-1 shop-api-1 3 gelf-host forward
expect_record lst-tcp-2 clew-ship 6 gelf-host forward # no service: Forward's tag

# check PATTERN JQ-EXPRESSION: the one record matching PATTERN satisfies it.
check() {
    local got
    got=$("$CLEW" grep --json --data "$DATA" "$1" | jq -c "$2") || fail "jq $2"
    [ "$got" = true ] || fail "$1: $2 is $got: $("$CLEW" grep --json --data "$DATA" "$1")"
}
check '^lst-5424-tcp$' '.trace_id == "0af7651916cd43dd8448eb211c80319c" and
    .fields.tag == "clew-ship" and .fields.input == "syslog" and .fields.facility == "user" and
    .fields.msgid == "ID47" and .fields["acc@32473"] == {user: "alice"} and
    .fields["trace@32473"] == {trace_id: "0AF7651916CD43DD8448EB211C80319C"}'
check '^lst-5424-octet$' '.fields.facility == "local0" and .stream == "" and .span_id == ""'
check '^lst-3164-tcp$' '.fields == {tag: "clew-ship", input: "syslog", facility: "user"}'
check '^lst-udp-plain$' '.ts == "2024-01-15T10:30:00.125000000Z" and
    .fields == {tag: "clew-ship", input: "gelf", service: "orders", request_id: "r-1", n: 42,
                nested: {a: [1, 2.5, true, null]}}'
check '^lst-udp-zlib$' '.fields == {tag: "clew-ship", input: "gelf", app: "pay"}'
check '^lst-udp-gzip$' '.trace_id == "0af7651916cd43dd8448eb211c80319c" and
    .span_id == "b7ad6b7169203331" and .fields.span_id == "B7AD6B7169203331"'
check '^lst-udp-chunked$' '.fields.full_message == ("line\n" * 600) and .ts ==
    "2024-01-15T10:30:00.125000000Z"'
check '^lst-tcp-1$' '.container_id == "c0ffee" and .container_name == "shop-api-1" and
    .stream == "stderr" and .fields.container_name == "/shop-api-1"'
check '^lst-tcp-2$' '.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"'

# ---- a clean stop, with the counts ------------------------------------------------

stop_ship main
S=$WORK/main/status.json
errs() { jq "[.listeners.$1.errors[]] | add" "$S"; }
[ "$(jq -c '[.listeners.syslog.records, .listeners.syslog.datagrams,
    .listeners.syslog.connections, .listeners.syslog.open_connections]' "$S")" = "[5,2,3,0]" ] ||
    fail "syslog counters: $(jq -c .listeners.syslog "$S")"
[ "$(jq -c '[.listeners.gelf.records, .listeners.gelf.datagrams, .listeners.gelf.connections,
    .listeners.gelf.udp_drops]' "$S")" = "[6,6,1,0]" ] ||
    fail "gelf counters: $(jq -c .listeners.gelf "$S")"
[ "$(errs syslog) $(errs gelf)" = "0 0" ] || fail "listener errors: $(cat "$S")"
[ "$(jq -c '[.records_queued, .records_acked, .listener_pauses, .files]' "$S")" = "[11,11,0,0]" ] ||
    fail "status: $(cat "$S")"
[ "$(jq -r '.listeners.syslog.listen' "$S")" = "udp+tcp 127.0.0.1:$LSP" ] || fail "listen address"
grep -q "listeners: syslog 5 records, .*; gelf 6 records" "$WORK/main.log" ||
    fail "stop summary: $(tail -3 "$WORK/main.log")"
wait_count 11 '^lst-' # nothing twice

# ---- start-up errors name the address ------------------------------------------

start_ship inuse --syslog "127.0.0.1:$SYSLOG_PORT" && fail "started on clewd's syslog port"
wait "$SHIP_PID" && fail "exit 0 on a port in use"
grep -q "127.0.0.1:$SYSLOG_PORT: address already in use" "$WORK/inuse.log" ||
    fail "port in use: $(cat "$WORK/inuse.log")"
start_ship bad --gelf nonsense && fail "started with --gelf nonsense"
grep -q -- "--gelf: 'nonsense': want HOST:PORT" "$WORK/bad.log" || fail "bad address: $(cat "$WORK/bad.log")"

# ---- backpressure: a full queue pauses the listeners until acks come --------------

QP=$(free_port) BP=$(free_port)
start_ship bp --forward "127.0.0.1:$QP" --max-memory 1 --buffer-size 0 --drain-timeout 5s \
    --syslog "127.0.0.1:$BP" || fail "clew-ship bp: $(tail -5 "$WORK/bp.log")"
for i in 1 2 3; do
    logger --server 127.0.0.1 --port "$BP" -d -t bp "bp-$i"
    sleep 0.1
done
B=$WORK/bp/status.json
paused() { [ -f "$B" ] && [ "$(jq -c '[.listener_pauses, .listeners.syslog.records,
    .listeners.syslog.udp_drops]' "$B")" = "[1,1,2]" ]; }
wait_for 10 "1 record queued, then pause and 2 datagrams dropped" paused
stop_clewd # a collector appears on the port clew-ship waits for
FORWARD_PORT=$QP
start_clewd --fsync always --inject-ids off
wait_count 1 '^bp-'
resumed() { [ "$(jq -c '.listeners.syslog.records' "$B")" -ge 2 ]; }
wait_for 10 "the listener resumed" eval 'logger --server 127.0.0.1 --port '"$BP"' -d -t bp bp-4;
    sleep 0.2; resumed'
stop_ship bp
expect_record bp-1 bp 5 "$host" forward
[ "$("$CLEW" grep -c --data "$DATA" '^bp-4$')" -ge 1 ] || fail "bp-4 not delivered"
stop_clewd
echo "ship listeners: ok"
