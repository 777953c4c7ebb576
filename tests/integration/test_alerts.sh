#!/usr/bin/env bash
# Alert rules end to end: `clew rules check` on good and bad files (exit 0/2,
# exact messages); clewd refusing a bad --rules file at start; a real
# webhook receiver (tests/tools/webhook_sink) on a loopback port getting the
# exact JSON body when the threshold is reached (and not before: where and
# group_by respected); the exec action getting the same JSON on stdin; a
# failing webhook retried and counted in /metrics; a resolved event; the
# log action's alert listed by `clew alerts` (--data and --server) and GET
# /api/v1/alerts; SIGHUP keeping the old rules when the new file is bad and
# keeping the state of unchanged rules.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl not installed"
command -v jq >/dev/null || fail "jq not installed"
SINK="$CLEW_BIN/tools/webhook_sink"
[ -x "$SINK" ] || fail "$SINK not built"

"$SINK" --out "$WORK/hook.jsonl" --log "$WORK/hook.log" --port-file "$WORK/hook.port" &
track_pid $!
"$SINK" --out "$WORK/flaky.jsonl" --log "$WORK/flaky.log" --port-file "$WORK/flaky.port" \
    --fail 2 &
track_pid $!
SINK_PIDS=$(jobs -p | tr '\n' ' ')
wait_for 5 "webhook sinks" test -s "$WORK/hook.port" -a -s "$WORK/flaky.port"
HOOK=$(cat "$WORK/hook.port") FLAKY=$(cat "$WORK/flaky.port")

cat >"$WORK/exec.sh" <<EOF
#!/bin/sh
cat >"$WORK/exec.tmp" && mv "$WORK/exec.tmp" "$WORK/exec.out"
EOF
chmod +x "$WORK/exec.sh"

write_rules() { # write_rules FILE FLAKY_THRESHOLD
    cat >"$1" <<EOF
rules:
  - name: payment-failures
    match: 'payment (declined|failed)'
    where: { service: payments, level: error }
    threshold: 3
    window: 1m
    group_by: [host]
    cooldown: 10m
    annotations:
      summary: "{{count}} payment failures on {{host}}"
    labels: { team: payments }
    actions:
      - webhook: { url: "http://127.0.0.1:$HOOK/hook", timeout: 5s, retries: 0 }
      - exec: { command: ["$WORK/exec.sh"], timeout: 5s }
      - log: {}
  - name: flaky
    match: 'disk full'
    threshold: $2
    actions:
      - webhook: { url: "http://127.0.0.1:$FLAKY/x", timeout: 2s, retries: 3 }
  - name: quick
    match: 'quick-burst'
    window: 1s
    actions:
      - webhook: { url: "http://127.0.0.1:$HOOK/quick", retries: 0 }
EOF
}
write_rules "$WORK/rules.yaml" 1

# ---- clew rules check
out=$("$CLEW" rules check "$WORK/rules.yaml") || fail "rules check rejected a good file"
grep -q "^$WORK/rules.yaml: 3 rules OK$" <<<"$out" || fail "rules check summary: $out"
grep -q 'prefilter "payment "' <<<"$out" || fail "rules check shows no prefilter: $out"
printf 'rules:\n  - name: bad\n    match: "payment (declined"\n    actions: [ { log: {} } ]\n' \
    >"$WORK/bad.yaml"
rc=0
msg=$("$CLEW" rules check "$WORK/bad.yaml" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "rules check on a bad regex: exit $rc"
[ "$msg" = "clew rules: $WORK/bad.yaml: line 3: rule 'bad': bad match pattern at offset 17: missing closing parenthesis" ] ||
    fail "bad regex message: $msg"
printf 'rules:\n  - name: typo\n    match: x\n    treshold: 3\n    actions: [ { log: {} } ]\n' \
    >"$WORK/typo.yaml"
rc=0
msg=$("$CLEW" rules check "$WORK/typo.yaml" 2>&1) || rc=$?
[ "$rc" = 2 ] || fail "rules check on an unknown key: exit $rc"
grep -qF "line 4: rule 'typo': unknown key 'treshold' (keys: name, match," <<<"$msg" ||
    fail "unknown key message: $msg"
"$CLEW" rules --help | grep -q "cooldown: D" || fail "clew rules --help documents no keys"

# ---- a bad file is a start-up error
rc=0
"$CLEWD" --data "$WORK/d2" --syslog off --gelf off --forward off --http off \
    --rules "$WORK/bad.yaml" >"$WORK/bad-start.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "clewd started with a bad rules file"
grep -qF "$WORK/bad.yaml: line 3: rule 'bad': bad match pattern at offset 17" "$WORK/bad-start.log" ||
    fail "clewd's start-up error: $(cat "$WORK/bad-start.log")"

# ---- clewd with the rules
start_clewd --fsync always --rules "$WORK/rules.yaml"
grep -q "alerts: 3 rules loaded" "$WORK/clewd.log" || fail "no 'rules loaded' log line"
BASE=$(date +%s)
gelf() { # gelf SERVICE HOST LEVEL OFFSET_MS MESSAGE TRACE_ID
    local body code
    body=$(printf '{"version":"1.1","host":"%s","short_message":"%s","_service":"%s","level":%s,"timestamp":%s.%03d,"_trace_id":"%s"}' \
        "$2" "$5" "$1" "$3" "$BASE" "$4" "$6")
    code=$(curl -s -o /dev/null -w '%{http_code}' -XPOST "127.0.0.1:$HTTP_PORT/gelf" -d "$body")
    [ "${code:0:1}" = 2 ] || fail "POST /gelf answered $code for $5"
}
metric() { # metric NAME{LABELS}: its value
    curl -s "127.0.0.1:$HTTP_PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
T1=11111111111111111111111111111111 T2=22222222222222222222222222222222

gelf payments web-1 3 100 "payment declined: card 1" $T1
gelf payments web-1 6 150 "payment failed but retried (info)" $T1 # where: level
gelf orders web-1 3 160 "payment failed in orders" $T1            # where: service
gelf payments web-2 3 170 "payment failed on web-2" $T2           # another group
gelf payments web-1 3 200 "payment failed: card 2" $T2
wait_count 5 'payment'
sleep 0.5
[ ! -s "$WORK/hook.jsonl" ] || fail "webhook called before the threshold: $(cat "$WORK/hook.jsonl")"
gelf payments web-1 3 300 "payment declined: card 3" $T1
wait_for 10 "the webhook" test -s "$WORK/hook.jsonl"
[ "$(wc -l <"$WORK/hook.jsonl")" = 1 ] || fail "want one webhook call: $(cat "$WORK/hook.jsonl")"

# The exact body.
TS() { date -u -d "@$BASE" +%Y-%m-%dT%H:%M:%S.${1}000000Z; }
verdict=$(jq -r --arg f "$(TS 100)" --arg l "$(TS 300)" '
    if (keys_unsorted) != ["rule","status","count","window_s","group","first_ts","last_ts",
        "samples","annotations","labels","trace_ids"] then "keys \(keys_unsorted)"
    elif .rule != "payment-failures" then "rule \(.rule)"
    elif .status != "firing" then "status \(.status)"
    elif .count != 3 then "count \(.count)"
    elif .window_s != 60 then "window_s \(.window_s)"
    elif .group != {"host":"web-1"} then "group \(.group)"
    elif .first_ts != $f then "first_ts \(.first_ts), want \($f)"
    elif .last_ts != $l then "last_ts \(.last_ts), want \($l)"
    elif ([.samples[].message] != ["payment declined: card 1","payment failed: card 2",
        "payment declined: card 3"]) then "samples \([.samples[].message])"
    elif ([.samples[] | .service, .host, .level] | unique) != [3,"payments","web-1"]
        then "sample labels \([.samples[] | .service, .host, .level])"
    elif .annotations != {"summary":"3 payment failures on web-1"} then "annotations \(.annotations)"
    elif .labels != {"team":"payments"} then "labels \(.labels)"
    elif .trace_ids != ["11111111111111111111111111111111","22222222222222222222222222222222"]
        then "trace_ids \(.trace_ids)"
    else "ok" end' "$WORK/hook.jsonl") || fail "jq failed on $(cat "$WORK/hook.jsonl")"
[ "$verdict" = ok ] || fail "webhook body: $verdict"
grep -q "^POST /hook 200$" "$WORK/hook.log" || fail "sink log: $(cat "$WORK/hook.log")"

# exec got the same JSON on stdin.
wait_for 10 "the exec action" test -s "$WORK/exec.out"
[ "$(jq -cS . "$WORK/exec.out")" = "$(jq -cS . "$WORK/hook.jsonl")" ] ||
    fail "exec stdin differs from the webhook body: $(cat "$WORK/exec.out")"

# ---- a failing webhook: 500, 500, then 200; two retries counted.
gelf ops db-1 3 400 "disk full on /var" ""
wait_for 15 "the flaky webhook" test -s "$WORK/flaky.jsonl"
[ "$(cat "$WORK/flaky.log")" = "$(printf 'POST /x 500\nPOST /x 500\nPOST /x 200')" ] ||
    fail "flaky sink saw: $(cat "$WORK/flaky.log")"
[ "$(jq -r .rule "$WORK/flaky.jsonl")" = flaky ] || fail "flaky body: $(cat "$WORK/flaky.jsonl")"
wait_for 5 "the retry counter" \
    test "$(metric 'clew_alert_action_retries_total{type="webhook"}')" = 2
[ "$(metric 'clew_alert_actions_total{type="webhook",result="success"}')" = 2 ] ||
    fail "webhook successes: $(metric 'clew_alert_actions_total{type="webhook",result="success"}')"
[ "$(metric 'clew_alert_actions_total{type="exec",result="success"}')" = 1 ] || fail "exec count"
[ "$(metric clew_alert_rules)" = 3 ] || fail "clew_alert_rules $(metric clew_alert_rules)"
[ "$(metric clew_alerts_fired_total)" = 2 ] || fail "fired $(metric clew_alerts_fired_total)"
[ "$(metric clew_alert_matches_total)" = 5 ] || fail "matches $(metric clew_alert_matches_total)"

# ---- firing then resolved (window 1s; the windows age once a second)
gelf misc box 6 500 "quick-burst now" ""
wait_for 10 "quick resolved" grep -q '"rule":"quick","status":"resolved"' "$WORK/hook.jsonl"
grep -q '"rule":"quick","status":"firing"' "$WORK/hook.jsonl" || fail "quick never fired"
[ "$(grep -c '^POST /quick 200$' "$WORK/hook.log")" = 2 ] || fail "quick: $(cat "$WORK/hook.log")"

# ---- the log action: clew alerts and GET /api/v1/alerts
wait_for 10 "clew alerts" "$CLEW" alerts --data "$DATA" --json >"$WORK/alerts.jsonl"
[ "$(jq -r '"\(.rule) \(.status) \(.count) \(.group.host)"' "$WORK/alerts.jsonl")" = \
    "payment-failures firing 3 web-1" ] || fail "clew alerts --json: $(cat "$WORK/alerts.jsonl")"
[ "$(jq -c 'del(.ts)' "$WORK/alerts.jsonl")" = "$(jq -c . "$WORK/hook.jsonl" | head -1)" ] ||
    fail "the stored alert differs from the webhook body"
txt=$("$CLEW" alerts --data "$DATA" --since 1h) || fail "clew alerts (text) failed"
grep -q "firing   payment-failures count=3 host=web-1  3 payment failures on web-1" <<<"$txt" ||
    fail "clew alerts text: $txt"
api=$(curl -s "127.0.0.1:$HTTP_PORT/api/v1/alerts?since=1h")
[ "$api" = "$(cat "$WORK/alerts.jsonl")" ] || fail "GET /api/v1/alerts: $api"
srv=$("$CLEW" alerts --server "http://127.0.0.1:$HTTP_PORT" --json) || fail "clew alerts --server"
[ "$srv" = "$(cat "$WORK/alerts.jsonl")" ] || fail "clew alerts --server: $srv"
rc=0
out=$("$CLEW" alerts --data "$DATA" --since "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" 2>&1) ||
    rc=$?
[ "$rc" = 1 ] && [ -z "$out" ] || fail "clew alerts with nothing to list: exit $rc: $out"
"$CLEW" grep --data "$DATA" --service clew-alerts -c '' | grep -qx 1 ||
    fail "the alert record is not searchable by service"

# ---- SIGHUP: a bad file keeps the old rules ...
cp "$WORK/bad.yaml" "$WORK/rules.yaml"
kill -HUP "$CLEWD_PID"
wait_for 5 "the refused reload" grep -q "SIGHUP: keeping the old rules: $WORK/rules.yaml: line 3" \
    "$WORK/clewd.log"
[ "$(metric clew_alert_rules)" = 3 ] || fail "rules after a bad reload: $(metric clew_alert_rules)"
# ... and a good one keeps the state of the unchanged rules: web-2 had one
# match; two more after the reload fire.
write_rules "$WORK/rules.yaml" 2
kill -HUP "$CLEWD_PID"
wait_for 5 "the reload" grep -q "SIGHUP: 3 rules loaded from $WORK/rules.yaml (2 kept their state)" \
    "$WORK/clewd.log"
gelf payments web-2 3 600 "payment failed on web-2 again" $T2
gelf payments web-2 3 700 "payment declined on web-2" $T2
wait_for 10 "web-2's alert" grep -q '"group":{"host":"web-2"}' "$WORK/hook.jsonl"
[ "$(grep '"host":"web-2"}' "$WORK/hook.jsonl" | jq .count)" = 3 ] || fail "web-2 count"

stop_clewd
for p in $SINK_PIDS; do stop_tracked "$p" webhook_sink; done
echo "ok: alerts"
