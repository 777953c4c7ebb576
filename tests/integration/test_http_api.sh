#!/usr/bin/env bash
# The HTTP API and clew --server against a real clewd: records sent through
# logger(1) and POST /gelf (invalid UTF-8, escapes, a known span tree, old
# and new timestamps); then for a set of queries `clew grep --server` prints
# exactly what `clew grep --data` prints (stdout byte for byte, stderr, exit
# code), as do `clew trace` and `clew stats --json`; the API's errors (400
# with the reason, 404, 405) as JSON; the query stream's framing; `clew tail`
# sees the matching records sent after it started within 1 s and ends when
# clewd stops; with --http-token, 401 without the token and the same
# answers with it (CLEW_TOKEN or --token); a clear error when clewd is down.
source "$(dirname "$0")/lib.sh"
command -v logger >/dev/null || fail "logger(1) not installed (bsdutils)"
command -v curl >/dev/null || fail "curl not installed"
command -v jq >/dev/null || fail "jq not installed"

start_clewd --fsync always
API="http://127.0.0.1:$HTTP_PORT"
NOW=$(date +%s)
OLD=$((NOW - 7200)) # two hours ago: on the other side of --since 1h

gelf() { # gelf BODY
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "$API/gelf" --data-binary "$1")
    [ "$code" = 202 ] || fail "POST /gelf answered $code for $1"
}
g() { # g SERVICE HOST LEVEL TIME MESSAGE [extra members]
    gelf "$(printf '{"version":"1.1","host":"%s","short_message":"%s","_service":"%s","level":%s,"timestamp":%s%s}' \
        "$2" "$5" "$1" "$3" "$4" "${6:+,$6}")"
}

T=0af7651916cd43dd8448eb211c80319c
for i in 1 2 3 4 5; do
    g api web-1 6 "$NOW.$i" "api hello $i" '"_request_id":"r'$i'"'
done
g api web-2 3 "$NOW.6" "api failed a.b"
g db db-1 4 "$NOW.7" "db slow query axb"
g db db-1 6 "$OLD.1" "db old record hello"
g api web-1 2 "$OLD.2" "api old crit"
g gw web-1 6 "$NOW.8" 'tab\there \"quoted\" back\\\\slash\nsecond line \u0001'
# A small tree: gw -> api -> db.
g gw web-1 6 "$NOW.10" "tree gw in" '"_trace_id":"'$T'","_span_id":"s1"'
g api web-1 6 "$NOW.11" "tree api call" '"_trace_id":"'$T'","_span_id":"s2","_parent_span_id":"s1"'
g db db-1 3 "$NOW.12" "tree db error" '"_trace_id":"'$T'","_span_id":"s3","_parent_span_id":"s2"'
g gw web-1 6 "$NOW.13" "tree gw out" '"_trace_id":"'$T'","_span_id":"s1"'
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -t weird "$(printf 'bad \xff\xfe bytes, \xc3\xa9 ok')"
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -p user.err -t sys "syslog hello error"
wait_count 16 ''

# --- clew grep: --server prints what --data prints ---------------------
same() { # same ARGS...: stdout, stderr and exit code of both agree
    local ra=0 rb=0
    "$CLEW" grep --data "$DATA" "$@" >"$WORK/d.out" 2>"$WORK/d.err" || ra=$?
    "$CLEW" grep --server "$API" "$@" >"$WORK/s.out" 2>"$WORK/s.err" || rb=$?
    [ "$ra" = "$rb" ] || fail "clew grep $*: exit $ra with --data, $rb with --server"
    cmp -s "$WORK/d.out" "$WORK/s.out" ||
        fail "clew grep $*: output differs: $(diff "$WORK/d.out" "$WORK/s.out" | head -5)"
    cmp -s "$WORK/d.err" "$WORK/s.err" ||
        fail "clew grep $*: stderr differs: $(cat "$WORK/d.err") / $(cat "$WORK/s.err")"
    SAME_RC=$ra
}
expect_same() { # expect_same EXIT LINES ARGS...: as same, and the result is this
    local want=$1 lines=$2
    shift 2
    same "$@"
    [ "$SAME_RC" = "$want" ] || fail "clew grep $*: exit $SAME_RC, want $want"
    [ "$(wc -l <"$WORK/d.out")" = "$lines" ] || fail "clew grep $*: $(wc -l <"$WORK/d.out") lines, want $lines"
}
SINCE=$(date -u -d "@$((NOW - 3600))" +%Y-%m-%dT%H:%M:%SZ)
expect_same 0 17 '' # 16 records, one of them two lines
expect_same 0 16 --json ''
expect_same 0 7 hello
expect_same 0 7 -i HELLO
expect_same 0 10 -v hello # 9 records, one of them two lines
expect_same 0 9 --json -v hello
expect_same 0 1 -c hello
[ "$(cat "$WORK/s.out")" = 7 ] || fail "-c hello printed $(cat "$WORK/s.out")"
expect_same 0 2 -m 2 ''
expect_same 1 0 -m 0 ''
expect_same 0 1 -F 'a.b'
expect_same 0 2 'a.b'
expect_same 0 15 --since 1h '' # 14 records, one of them two lines
expect_same 0 15 --since "$SINCE" ''
expect_same 0 2 --until 1h ''
expect_same 0 2 --since 1h --service db ''
expect_same 0 1 --service db --since 3h --until 1h ''
expect_same 0 11 --host web-1 -v nothing-like-this
expect_same 0 4 --level err ''
expect_same 0 4 --trace "$T" ''
expect_same 0 17 --reverse ''
expect_same 0 1 --json 'bad .* bytes'
expect_same 0 1 'bad .* bytes'
grep -q $'bad \xff\xfe bytes' "$WORK/s.out" || fail "--server did not restore the raw bytes"
expect_same 0 2 'second line'
expect_same 1 0 no-such-text-anywhere
expect_same 1 1 -c --service nosuch ''
expect_same 2 0 '('
grep -q "bad pattern at offset 1" "$WORK/s.err" || fail "bad pattern: $(cat "$WORK/s.err")"
expect_same 2 0 --level bogus ''
# $CLEW_SERVER when neither --data nor --server is given.
CLEW_SERVER=$API "$CLEW" grep hello >"$WORK/e.out" || fail "CLEW_SERVER: exit $?"
"$CLEW" grep --data "$DATA" hello | cmp -s - "$WORK/e.out" || fail "CLEW_SERVER: other output"

# --- clew trace and clew stats -------------------------------------------
same_trace() { # same_trace EXIT ARGS...
    local want=$1 ra=0 rb=0
    shift
    COLUMNS=120 "$CLEW" trace --data "$DATA" "$@" >"$WORK/d.out" 2>"$WORK/d.err" || ra=$?
    COLUMNS=120 "$CLEW" trace --server "$API" "$@" >"$WORK/s.out" 2>"$WORK/s.err" || rb=$?
    [ "$ra" = "$want" ] && [ "$rb" = "$want" ] || fail "clew trace $*: exit $ra / $rb, want $want"
    cmp -s "$WORK/d.out" "$WORK/s.out" || fail "clew trace $*: $(diff "$WORK/d.out" "$WORK/s.out" | head)"
    cmp -s "$WORK/d.err" "$WORK/s.err" || fail "clew trace $*: stderr $(cat "$WORK/s.err")"
}
same_trace 0 "$T"
grep -q "tree db error" "$WORK/s.out" || fail "trace text lacks a record"
same_trace 0 --json "$T"
[ "$(jq -r '[.spans[] | .span_id + "<" + .parent_span_id + ":" + .service] | join(" ")' "$WORK/s.out")" = \
    "s1<:gw s2<s1:api s3<s2:db" ] || fail "trace tree: $(jq -c .spans "$WORK/s.out")"
[ "$(jq '.records | length' "$WORK/s.out")" = 4 ] || fail "trace records"
same_trace 0 --spans-only "$T"
same_trace 1 nosuchid
same_trace 1 --json nosuchid
same_trace 0 r3 # a request id: the record that carries it
"$CLEW" stats --data "$DATA" --json >"$WORK/d.out" || fail "stats --data"
"$CLEW" stats --server "$API" --json >"$WORK/s.out" || fail "stats --server"
cmp -s "$WORK/d.out" "$WORK/s.out" || fail "stats --json differ: $(cat "$WORK/d.out" "$WORK/s.out")"
[ "$(jq .records "$WORK/s.out")" = 16 ] || fail "stats records: $(cat "$WORK/s.out")"
"$CLEW" stats --server "$API" | grep -q '^records     16 ' || fail "stats text"

# --- the API itself ------------------------------------------------------
api_error() { # api_error STATUS METHOD PATH [REASON]: a JSON error with that status
    local code
    code=$(curl -s -o "$WORK/err.json" -w '%{http_code} %{content_type}' -X "$2" "$API$3")
    [ "$code" = "$1 application/json" ] || fail "$2 $3: answered '$code', want $1"
    jq -e '.error | type == "string"' "$WORK/err.json" >/dev/null || fail "$2 $3: body $(cat "$WORK/err.json")"
    [ -z "${4:-}" ] || grep -q -- "$4" "$WORK/err.json" || fail "$2 $3: $(cat "$WORK/err.json"), want $4"
}
api_error 400 GET '/api/v1/query?q=(' 'bad pattern at offset 1'
api_error 400 GET '/api/v1/query?level=loud' "bad level 'loud'"
api_error 400 GET '/api/v1/query?since=yesterday' "bad time 'yesterday'"
api_error 400 GET '/api/v1/query?m=-1' 'want a number'
api_error 400 GET '/api/v1/query?i=maybe' 'want 1 or 0'
api_error 400 GET '/api/v1/query?colour=red' "unknown parameter 'colour'"
api_error 400 GET '/api/v1/tail?since=1h' "unknown parameter 'since'"
api_error 400 GET '/api/v1/tail?q=a(' 'bad pattern at offset 2'
api_error 400 GET '/api/v1/trace/' 'an id of 1-255 bytes'
api_error 400 GET "/api/v1/trace/$T?link_window=soon" 'bad link_window'
api_error 404 GET /api/v1/nope
api_error 404 GET /nope
api_error 405 POST /api/v1/query
api_error 405 DELETE "/api/v1/trace/$T"
api_error 405 POST /api/v1/tail
api_error 405 GET /gelf
# The query stream: records, then the trailer with their count.
curl -s -D "$WORK/h.txt" "$API/api/v1/query?q=hello&service=api" >"$WORK/q.out"
grep -qi '^content-type: application/x-ndjson' "$WORK/h.txt" || fail "query content type: $(cat "$WORK/h.txt")"
grep -qi '^transfer-encoding: chunked' "$WORK/h.txt" || fail "query not chunked"
[ "$(tail -1 "$WORK/q.out")" = '{"done":true,"matched":5}' ] || fail "trailer: $(tail -1 "$WORK/q.out")"
[ "$(head -n -1 "$WORK/q.out" | jq -r .message | tr '\n' '|')" = \
    "api hello 1|api hello 2|api hello 3|api hello 4|api hello 5|" ] || fail "query records: $(cat "$WORK/q.out")"
head -n -1 "$WORK/q.out" | cmp -s - <("$CLEW" grep --json --data "$DATA" --service api hello) ||
    fail "the query lines are not clew grep --json's"
[ "$(curl -s "$API/api/v1/query?q=hello&count=1")" = '{"done":true,"matched":7}' ] || fail "count=1"
curl -s "$API/api/v1/trace/$T" | cmp -s - <("$CLEW" trace --json --data "$DATA" "$T") || fail "GET trace"
curl -s "$API/api/v1/stats" | jq -e '.records == 16' >/dev/null || fail "GET stats"

# --- clew tail -------------------------------------------------------------
subscribers() { curl -s "$API/metrics" | sed -n 's/^clew_tail_subscribers //p'; }
subscribers_are() { [ "$(subscribers)" = "$1" ]; }
"$CLEW" tail --server "$API" --service live 'tail-(yes|also)' >"$WORK/tail.out" 2>"$WORK/tail.err" &
TAIL_PID=$!
track_pid "$TAIL_PID"
wait_for 5 "clew tail to subscribe" subscribers_are 1
t0=$(date +%s%N)
g live web-1 6 "$(date +%s.%N)" "tail-yes one"
g live web-1 6 "$(date +%s.%N)" "tail-no other"
g other web-1 6 "$(date +%s.%N)" "tail-yes other service"
logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp -t live "tail-also via syslog"
tail_has() { [ "$(wc -l <"$WORK/tail.out")" -ge "$1" ]; }
wait_for 2 "two records on clew tail" tail_has 2
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 1000 ] || fail "clew tail took $ms ms"
sleep 0.3 # anything else would have arrived by now
{
    [ "$(wc -l <"$WORK/tail.out")" = 2 ] &&
        sed -n 1p "$WORK/tail.out" | grep -q '^20[^ ]*Z live web-1 info tail-yes one' &&
        sed -n 2p "$WORK/tail.out" | grep -q '^20[^ ]*Z live [^ ]* notice tail-also via syslog'
} || fail "clew tail printed: $(cat "$WORK/tail.out")"
kill -TERM "$TAIL_PID"
wait "$TAIL_PID" 2>/dev/null || true
wait_for 3 "the tail subscription to end after the client left" subscribers_are 0
# -m 1 ends by itself; --json lines are clew grep --json's.
"$CLEW" tail --server "$API" --json -m 1 'tail-json' >"$WORK/tail2.out" &
TAIL_PID=$!
track_pid "$TAIL_PID"
wait_for 5 "clew tail -m 1 to subscribe" subscribers_are 1
g live web-1 6 "$(date +%s.%N)" "tail-json one"
g live web-1 6 "$(date +%s.%N)" "tail-json two"
wait_for 3 "clew tail -m 1 to exit" eval '! kill -0 '"$TAIL_PID"' 2>/dev/null'
wait "$TAIL_PID" || fail "clew tail -m 1 exit $?"
[ "$(jq -r .message "$WORK/tail2.out")" = "tail-json one" ] || fail "tail -m 1: $(cat "$WORK/tail2.out")"
"$CLEW" tail --server "$API" 'a(' 2>"$WORK/tail.err" && fail "tail with a bad pattern succeeded"
grep -q "bad pattern at offset 2" "$WORK/tail.err" || fail "tail bad pattern: $(cat "$WORK/tail.err")"
# clewd stopping ends the stream.
"$CLEW" tail --server "$API" >/dev/null &
TAIL_PID=$!
track_pid "$TAIL_PID"
wait_for 5 "clew tail to subscribe" subscribers_are 1
stop_clewd
wait_for 5 "clew tail to end with clewd" eval '! kill -0 '"$TAIL_PID"' 2>/dev/null'
rc=0
wait "$TAIL_PID" || rc=$?
[ "$rc" = 1 ] || fail "clew tail ended by clewd's stop: exit $rc, want 1 (nothing printed)"

# --- clewd down; a token ---------------------------------------------------
rc=0
"$CLEW" grep --server "$API" x 2>"$WORK/down.err" || rc=$?
[ "$rc" = 2 ] || fail "grep with clewd down: exit $rc"
grep -q "cannot reach clewd at $API (is it running? use --data DIR" "$WORK/down.err" ||
    fail "clewd down: $(cat "$WORK/down.err")"
start_clewd --http-token s3cret
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "$API/api/v1/query?q=hello")" = 401 ] || fail "no token: not 401"
[ "$(code -H 'Authorization: Bearer wrong' "$API/api/v1/query?q=hello")" = 401 ] || fail "wrong token"
[ "$(code -H 'Authorization: Bearer s3cret' "$API/api/v1/query?q=hello")" = 200 ] || fail "token refused"
[ "$(code "$API/healthz")" = 200 ] || fail "healthz wants a token"
api_error 401 GET /api/v1/stats 'bearer token'
rc=0
"$CLEW" grep --server "$API" hello 2>"$WORK/tok.err" || rc=$?
[ "$rc" = 2 ] && grep -q "wants a bearer token" "$WORK/tok.err" || fail "grep without a token: $rc $(cat "$WORK/tok.err")"
CLEW_TOKEN=s3cret "$CLEW" grep --server "$API" hello >"$WORK/s.out" || fail "CLEW_TOKEN: exit $?"
"$CLEW" grep --data "$DATA" hello | cmp -s - "$WORK/s.out" || fail "with the token: other output"
"$CLEW" grep --token s3cret --server "$API" -c hello | grep -qx 7 || fail "--token"
CLEW_TOKEN=s3cret "$CLEW" trace --server "$API" --json "$T" | jq -e '.records | length == 4' >/dev/null ||
    fail "trace with the token"
CLEW_TOKEN=s3cret "$CLEW" stats --server "$API" --json | jq -e '.records >= 16' >/dev/null || fail "stats with the token"
rc=0
"$CLEW" tail --server "$API" x 2>"$WORK/tok.err" || rc=$?
[ "$rc" = 2 ] || fail "tail without a token: exit $rc"
stop_clewd
# Off loopback without a token clewd refuses to start.
rc=0
"$CLEWD" --data "$WORK/d2" --syslog off --gelf off --forward off --http "0.0.0.0:$HTTP_PORT" \
    >"$WORK/open.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q -- "--http-token" "$WORK/open.log" || fail "open --http without a token: $rc"
echo "ok"
