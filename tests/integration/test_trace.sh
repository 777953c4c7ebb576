#!/usr/bin/env bash
# Records of one request sent through two real inputs (logger(1) with RFC
# 5424 structured data -> syslog, curl -> POST /gelf) with known trace, span
# and parent span ids -> `clew trace --json` returns exactly them in time
# order with the right span tree (parents, services, counts, errors, start,
# end), a pseudo-span for id-only records and a root for a span whose caller
# was not collected; the text waterfall; links (a record of trace Y naming
# X in link_id makes either id return both traces); exit codes. Checked on
# the live WAL and again on the sealed segments after a clean stop.
source "$(dirname "$0")/lib.sh"
command -v logger >/dev/null || fail "logger(1) not installed (bsdutils)"
command -v curl >/dev/null || fail "curl not installed"
command -v jq >/dev/null || fail "jq not installed"

start_clewd --fsync always

T=4bf92f3577b34da6a3ce929d0e0e4736
S1=a1a1a1a1a1a1a1a1 S2=b2b2b2b2b2b2b2b2 S3=c3c3c3c3c3c3c3c3 S4=d4d4d4d4d4d4d4d4
S5=e5e5e5e5e5e5e5e5 GONE=dead00000000beef
X=11111111111111111111111111111111 Y=22222222222222222222222222222222
BASE=$(($(date +%s) + 10)) # GELF records come after the logger ones

slog() { # slog PRIORITY TAG MESSAGE SD-PARAMS...
    local pri=$1 tag=$2 msg=$3
    shift 3
    local sd=() p
    for p in "$@"; do sd+=(--sd-param "$p"); done
    logger --server 127.0.0.1 --port "$SYSLOG_PORT" --tcp --rfc5424 -p "$pri" -t "$tag" \
        --sd-id trace@32473 "${sd[@]}" "$msg"
}
gelf() { # gelf SERVICE LEVEL OFFSET MESSAGE [extra JSON members]
    local body code
    body=$(printf '{"version":"1.1","host":"it-host","short_message":"%s","_service":"%s","level":%s,"timestamp":%s.%s%s}' \
        "$4" "$1" "$2" "$BASE" "$3" "${5:+,$5}")
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "127.0.0.1:$HTTP_PORT/gelf" -d "$body")
    [ "${code:0:1}" = 2 ] || fail "POST /gelf answered $code for $4"
}
ids() { # ids SPAN PARENT: the GELF id members of trace T
    printf '"_trace_id":"%s","_span_id":"%s","_parent_span_id":"%s"' "$T" "$1" "$2"
}

# The request: gateway (root) -> auth, orders -> payments; billing logs the
# trace id only; mailer's caller span was never collected.
slog user.info gateway "it-trace gateway start" "trace_id=\"$T\"" "span_id=\"$S1\""
slog user.err billing "it-trace billing id-only" "trace_id=\"$T\""
gelf auth 6 100 "it-trace auth check" "$(ids $S2 $S1)"
gelf auth 4 200 "it-trace auth slow" "$(ids $S2 $S1)"
gelf orders 6 300 "it-trace orders create" "$(ids $S3 $S1)"
gelf payments 6 400 "it-trace payments charge" "$(ids $S4 $S3)"
gelf mailer 6 500 "it-trace mailer orphan" "$(ids $S5 $GONE)"
gelf orders 3 600 "it-trace orders failed" "$(ids $S3 $S1)"
gelf gateway 3 900 "it-trace gateway 502" "$(ids $S1 '')"
# Noise: another request, and no id at all.
gelf orders 6 350 "it-trace other request" '"_trace_id":"ffffffffffffffffffffffffffffffff"'
# A link: B (trace Y) names X; C is Y's too.
gelf front 6 700 "it-link A" "\"_trace_id\":\"$X\""
gelf back 6 710 "it-link B" "\"_trace_id\":\"$Y\",\"_link_id\":\"$X\""
gelf back 6 720 "it-link C" "\"_trace_id\":\"$Y\""

wait_count 10 'it-trace'
wait_count 3 'it-link'

check_trace() { # on the current DATA
    local j="$WORK/trace.json"
    "$CLEW" trace --json --data "$DATA" "$T" >"$j" || fail "clew trace exit $?"
    [ "$(jq -r .trace_id "$j")" = "$T" ] || fail "trace_id"
    [ "$(jq -r '[.records[].message] | join("|")' "$j")" = \
        "it-trace gateway start|it-trace billing id-only|it-trace auth check|it-trace auth slow|it-trace orders create|it-trace payments charge|it-trace mailer orphan|it-trace orders failed|it-trace gateway 502" ] ||
        fail "records or their order: $(jq -c '[.records[].message]' "$j")"
    [ "$(jq '[.records[] | select(.trace_id != "'$T'")] | length' "$j")" = 0 ] || fail "foreign record"
    # Spans in pre-order: span_id parent service records errors depth.
    local got want
    got=$(jq -r '.spans[] | [.span_id, .parent_span_id, .service, .records, .errors, .depth] | join(" ")' "$j")
    want="$S1  gateway 2 1 0
$S2 $S1 auth 2 0 1
$S3 $S1 orders 2 1 1
$S4 $S3 payments 1 0 2
  billing 1 1 0
$S5 $GONE mailer 1 0 0"
    [ "$got" = "$want" ] || fail "spans: got
$got
want
$want"
    [ "$(jq -r '.spans[] | keys_unsorted | join(",")' "$j" | sort -u)" = \
        "span_id,parent_span_id,service,start,end,records,errors,duration_ms,depth" ] || fail "span keys"
    # start/end of a span are its first and last record's ts.
    [ "$(jq -r '.spans[2].start' "$j")" = "$(jq -r '.records[4].ts' "$j")" ] || fail "orders start"
    [ "$(jq -r '.spans[2].end' "$j")" = "$(jq -r '.records[7].ts' "$j")" ] || fail "orders end"
    [ "$(jq -r '.spans[2].end' "$j")" = "$(date -u -d "@$BASE" +%Y-%m-%dT%H:%M:%S).600000000Z" ] ||
        fail "orders end time $(jq -r '.spans[2].end' "$j")"
    [ "$(jq -r '.spans[2].duration_ms' "$j")" = 300 ] || fail "orders duration"
    [ "$(jq -r '.records[0] | keys_unsorted | join(",")' "$j")" = \
        "ts,host,service,container_id,container_name,stream,level,message,trace_id,span_id,parent_span_id,input,fields" ] ||
        fail "record keys"

    # Text: the waterfall lines in pre-order, then the records.
    local txt="$WORK/trace.txt"
    "$CLEW" trace --data "$DATA" "$T" >"$txt" || fail "text exit"
    head -1 "$txt" | grep -q "^trace $T: 9 records, 6 spans, 3 errors" || fail "text header: $(head -1 "$txt")"
    sed -n 2,7p "$txt" | awk '{print $1, $2}' >"$WORK/wf"
    printf '%s\n' "gateway $S1" "auth $S2" "orders $S3" "payments $S4" "billing -" "mailer $S5" |
        cmp -s - "$WORK/wf" || fail "waterfall: $(cat "$WORK/wf")"
    sed -n 4p "$txt" | grep -q "^  orders " || fail "orders indented by one level"
    sed -n 5p "$txt" | grep -q "^    payments " || fail "payments indented by two levels"
    grep -q "^    payments  *$S4 .* 1 rec .* 0 err |" "$txt" || fail "payments line"
    [ "$(grep -c 'it-trace' "$txt")" = 9 ] || fail "text records"
    grep -q "      payments info it-trace payments charge$" "$txt" || fail "record indentation"
    [ "$("$CLEW" trace --spans-only --data "$DATA" "$T" | wc -l)" = 7 ] || fail "--spans-only"

    # Links, both ways.
    for id in $X $Y; do
        got=$("$CLEW" trace --json --data "$DATA" "$id" | jq -r '[.records[].message] | join("|")')
        [ "$got" = "it-link A|it-link B|it-link C" ] || fail "trace $id via link: $got"
    done
    # Without the time-window scan the link index still finds B (it links X).
    got=$("$CLEW" trace --json --link-window off --data "$DATA" $X | jq -r '[.records[].message] | join("|")')
    [ "$got" = "it-link A|it-link B|it-link C" ] || fail "--link-window off: $got"

    # Exit codes.
    local rc=0
    "$CLEW" trace --data "$DATA" 0123456789abcdef0123456789abcdef >/dev/null 2>&1 || rc=$?
    [ "$rc" = 1 ] || fail "exit 1 for an unknown id (got $rc)"
    rc=0; "$CLEW" trace --json --data "$DATA" 0123456789abcdef0123456789abcdef >"$j" || rc=$?
    [ "$rc" = 1 ] && [ "$(jq -c . "$j")" = '{"trace_id":"0123456789abcdef0123456789abcdef","records":[],"spans":[]}' ] ||
        fail "--json for an unknown id: $rc $(cat "$j")"
    rc=0; "$CLEW" trace --data "$WORK/nonexistent" "$T" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "exit 2 for a missing data dir (got $rc)"
    rc=0; "$CLEW" trace --bogus --data "$DATA" "$T" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "exit 2 for a bad option (got $rc)"
    rc=0; "$CLEW" trace --data "$DATA" >/dev/null 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "exit 2 without an id (got $rc)"
    "$CLEW" trace --help | grep -q "usage: clew trace" || fail "--help"
}

check_trace # live: WAL
stop_clewd
ls "$DATA"/wal/*.wal >/dev/null 2>&1 && fail "WAL left after a clean stop"
check_trace # sealed segments and their trace index
echo "trace: ok"
