#!/usr/bin/env bash
# Correlation end to end: a 40-line Java stack trace sent as separate GELF
# datagrams (as Docker's gelf driver does, one per line) all carry the id of
# its first line; a record with a request id and a traceparent links them;
# a record with no id gets a fresh, injected one.
source "$(dirname "$0")/lib.sh"
start_clewd

gelf() { # gelf TS_MS MESSAGE: one Docker-style GELF datagram
    local msg=${2//\\/\\\\}
    msg=${msg//\"/\\\"}
    msg=${msg//$'\t'/\\t}
    printf '{"version":"1.1","host":"docker-host","short_message":"%s","timestamp":%s.%03d,"level":3,"_container_id":"4f3c2b1a","_container_name":"/orders-1","_image_name":"orders:1"}' \
        "$msg" "$(( $1 / 1000 ))" "$(( $1 % 1000 ))" >"/dev/udp/127.0.0.1/$GELF_PORT"
}

t=$(( $(date +%s) * 1000 ))
gelf $t "order 991 failed request_id=req-7788 status=500"
gelf $((t + 1)) "java.lang.IllegalStateException: inventory unavailable"
for i in $(seq 1 37); do
    gelf $((t + 1 + i)) $'\t'"at com.example.orders.Service.step$i(Service.java:$((100 + i)))"
done
gelf $((t + 40)) $'\t'"... 12 more"
wait_count 40 --trace req-7788 ''
n=$("$CLEW" grep --data "$DATA" --json --trace req-7788 '' | jq -r 'select(.message | test("^\tat ")) | .trace_id' | sort -u)
[ "$n" = req-7788 ] || fail "stack frames did not inherit req-7788 (got '$n')"
[ "$("$CLEW" grep -c --data "$DATA" --service orders-1 'step')" = 37 ] || fail "container name as service"

# Two ids in one record: the trace id wins, the request id is linked.
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -t gateway \
    "GET /checkout request_id=req-55 traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
wait_count 1 --trace 4bf92f3577b34da6a3ce929d0e0e4736 ''
[ "$(json_field 'GET /checkout' .span_id)" = 00f067aa0ba902b7 ] || fail "span id from traceparent"
[ "$(json_field 'GET /checkout' .fields.link_id)" = req-55 ] || fail "request id kept as the link"

# No id at all: a fresh 32-hex id, marked injected, different per record.
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -t cron "nightly cleanup started"
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -t cron "nightly cleanup finished"
wait_count 2 'nightly cleanup'
ids=$("$CLEW" grep --data "$DATA" --json 'nightly cleanup' | jq -r 'select(.injected == true) | .trace_id' | sort -u)
[ "$(echo "$ids" | grep -cE '^[0-9a-f]{32}$')" = 2 ] || fail "two distinct injected ids (got '$ids')"
stop_clewd
echo "correlation: ok"
