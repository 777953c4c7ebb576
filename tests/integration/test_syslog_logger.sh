#!/usr/bin/env bash
# logger(1) -> clewd syslog input (UDP, TCP, RFC 5424 and 3164, octet
# counting) -> clew grep finds every line with its host, service, level
# and structured data; SIGTERM seals and exits 0; the data survives.
source "$(dirname "$0")/lib.sh"
command -v logger >/dev/null || fail "logger(1) not installed (bsdutils)"

start_clewd --fsync always

n=0
send() { # send MODE... -- MESSAGE
    n=$((n + 1))
    logger --server 127.0.0.1 --port "$SYSLOG_PORT" "$@"
}
send --udp --rfc5424 -t web-frontend -p user.err "it-5424-udp order=1"
send --tcp --rfc5424 -t billing -p daemon.warning "it-5424-tcp order=2"
send --tcp --rfc5424 --octet-count -t auth -p local0.info "it-5424-octet order=3"
send --udp --rfc3164 -t legacy -p user.notice "it-3164-udp order=4"
send --tcp --rfc3164 -t legacy -p user.debug "it-3164-tcp order=5"
send --tcp --rfc3164 --octet-count -t legacy -p user.crit "it-3164-octet order=6"
send --udp --rfc5424 -t sdapp --sd-id acc@32473 --sd-param 'user="alice"' \
    --sd-id trace@32473 --sd-param 'trace_id="0af7651916cd43dd8448eb211c80319c"' "it-sd order=7"

wait_count 7 'it-'

[ "$(json_field it-5424-udp .service)" = web-frontend ] || fail "5424 udp service"
[ "$(json_field it-5424-udp .level)" = 3 ] || fail "5424 udp level"
[ "$(json_field it-5424-udp .input)" = syslog ] || fail "input name"
[ "$(json_field it-5424-tcp .level)" = 4 ] || fail "5424 tcp level"
[ "$(json_field it-5424-octet .service)" = auth ] || fail "octet-counted service"
[ "$(json_field it-5424-octet .message)" = "it-5424-octet order=3" ] || fail "octet message"
[ "$(json_field it-3164-udp .service)" = legacy ] || fail "3164 service"
[ "$(json_field it-3164-udp .level)" = 5 ] || fail "3164 level"
[ "$(json_field it-3164-octet .level)" = 2 ] || fail "3164 octet level"
[ "$(json_field it-3164-tcp .message)" = "it-3164-tcp order=5" ] || fail "3164 tcp message"
[ "$(json_field it-sd '.fields["acc@32473"].user')" = alice ] || fail "SD param in fields"
[ "$(json_field it-sd .trace_id)" = 0af7651916cd43dd8448eb211c80319c ] || fail "trace_id SD-PARAM"
host=$(json_field it-5424-udp .host)
[ -n "$host" ] || fail "5424 host empty"

# grep semantics: -v, -i, -F, -m and exit codes.
[ "$("$CLEW" grep -c --data "$DATA" -i 'IT-3164')" = 3 ] || fail "-i"
[ "$("$CLEW" grep -c --data "$DATA" -F 'order=7')" = 1 ] || fail "-F"
[ "$("$CLEW" grep --data "$DATA" -m 2 'it-' | wc -l)" = 2 ] || fail "-m 2"
rc=0; "$CLEW" grep --data "$DATA" 'no-such-line-anywhere' >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "exit 1 when nothing matches (got $rc)"
rc=0; "$CLEW" grep --data "$DATA" 'bad(' >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "exit 2 on a bad pattern (got $rc)"
[ "$("$CLEW" grep -c --data "$DATA" --service legacy '')" = 3 ] || fail "--service"
[ "$("$CLEW" grep -c --data "$DATA" --level err 'it-')" = 2 ] || fail "--level err"

stop_clewd
ls "$DATA"/wal/*.wal >/dev/null 2>&1 && fail "WAL left after a clean stop"
"$CLEW" stats --data "$DATA" | grep -q "records     7 (segments 7, wal 0)" || fail "stats after seal"
wait_count 7 'it-'   # everything is in segments now

# Restart on the same data: still there, and new records join them.
start_clewd
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --udp -t again "it-after-restart"
wait_count 8 'it-'
stop_clewd
echo "syslog logger: ok"
