#!/usr/bin/env bash
# Every captured fixture ($CLEW_SHARED_DIR/fixtures/*.bin: real syslog, GELF
# and Fluent Forward clients over UDP and TCP) replayed byte for byte into one
# clewd (TCP streams in small pieces) -> clew grep finds each expected record (exact message, service,
# level, host) and nothing else: all three inputs, end to end.
source "$(dirname "$0")/lib.sh"
: "${CLEW_SHARED_DIR:?set by ctest}"
FIX="$CLEW_SHARED_DIR/fixtures"
REPLAY="$CLEW_BIN/tools/replay"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
[ -x "$REPLAY" ] || fail "$REPLAY not built"
ls "$FIX"/*.bin >/dev/null 2>&1 || fail "no fixtures in $FIX"

start_clewd

# The port of a fixture, from its name (see fixtures/README.md).
port_of() {
    case "$1" in
    *gelf*) echo "$GELF_PORT" ;;
    *fluentd* | fluentlogger*) echo "$FORWARD_PORT" ;;
    logger-* | rsyslog-* | syslogng-*-rfc5424* | python-*) echo "$SYSLOG_PORT" ;;
    *) return 1 ;;
    esac
}

total=0 nfix=0
for bin in "$FIX"/*.bin; do
    name=$(basename "$bin" .bin)
    exp="$FIX/$name.expected.jsonl"
    [ -f "$exp" ] || fail "$name: no $name.expected.jsonl"
    port=$(port_of "$name") || fail "$name: which input? (unknown fixture name)"
    # TCP streams go in pieces of 1-64 bytes: frames cut at any point.
    case "$name" in *-udp-*) how=(udp) ;; *) how=(--split 64 tcp) ;; esac
    "$REPLAY" "${how[@]}" 127.0.0.1 "$port" "$bin" >/dev/null || fail "$name: replay failed"
    total=$((total + $(wc -l <"$exp")))
    nfix=$((nfix + 1))
done
[ "$nfix" -ge 20 ] || fail "only $nfix fixtures found"

# Everything replayed is stored; nothing extra (e.g. a split frame).
wait_count "$total" ''

# One record of the grep output per expected line: the same message (exact,
# as many times as expected), service, level (a number), input, and host
# when the bytes hold one. Prints "ok" or what differs. The README allows an
# empty service for syslog-ng's GELF (_program) and for a Forward record
# without service or container (the tag).
# shellcheck disable=SC2016
CHECK='
  ($name == "syslogng-tcp-gelf-graylog2"
   or ($name == "fluentlogger-tcp-packed" and $e.service == "acc.node.packed")) as $alt
  | [inputs | select(.message == $e.message)] as $r
  | ([$exp[] | select(.message == $e.message)] | length) as $want
  | if ($r | length) != $want then "\($r | length) records with that message, want \($want)"
    else $r[0] as $g
    | if $g.service != $e.service and ($alt and $g.service == "" | not)
        then "service \($g.service | tojson), want \($e.service | tojson)"
      elif ($g.level | type) != "number" or $g.level != $e.level
        then "level \($g.level | tojson), want \($e.level)"
      elif $g.input != $e.input then "input \($g.input), want \($e.input)"
      elif $e.host != "" and $g.host != $e.host
        then "host \($g.host | tojson), want \($e.host | tojson)"
      else "ok" end
    end'

checked=0
for exp in "$FIX"/*.expected.jsonl; do
    name=$(basename "$exp" .expected.jsonl)
    i=0
    while IFS= read -r msg; do
        i=$((i + 1))
        e=$(sed -n "${i}p" "$exp")
        out=$("$CLEW" grep -F --json --data "$DATA" "$msg") ||
            fail "$name #$i: clew grep -F found no record for '${msg:0:80}'"
        verdict=$(jq -rn --argjson e "$e" --arg name "$name" --slurpfile exp "$exp" \
            "$CHECK" <<<"$out") || fail "$name #$i: jq failed on clew's output"
        [ "$verdict" = ok ] || fail "$name #$i '${msg:0:60}': $verdict"
        checked=$((checked + 1))
    done < <(jq -r .message "$exp")
done
[ "$checked" = "$total" ] || fail "checked $checked of $total expected records"

stop_clewd
wait_count "$total" ''   # sealed into segments: still all there
echo "fixtures: $nfix files, $total records: ok"
