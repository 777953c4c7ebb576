#!/usr/bin/env bash
# clew grep against GNU grep on the same messages: a generated corpus is
# written to a store (three sealed generations over several hours, the last
# records only in the WAL, as a running collector leaves them), every
# message also as one line of a file; then for each pattern and each of
# -i / -v / -i -v (and -F for literals) the messages clew prints must be the
# lines `LC_ALL=C grep -a -E` selects, as sorted lists and counts. Then
# order (oldest first; --reverse), -m, time and label filters, exit codes,
# and a bad pattern.
# shellcheck source=tests/integration/lib.sh
source "$(dirname "$0")/lib.sh"

QUERY="$CLEW_BIN/bench/query"
[ -x "$QUERY" ] || fail "$QUERY not built"
DATA=$WORK/data
MSGS=$WORK/messages
N=12000
out=$("$QUERY" --make-store "$DATA" --records $N --rate 2 --seal-records 4000 --wal-tail 1500 \
    --messages "$MSGS" --loghub "$CLEW_SHARED_DIR/corpus/loghub") || fail "make-store failed"
read -r _ nrec _ nl _ ID <<<"$out"
[ "$nrec" = $N ] || fail "store holds $nrec records, want $N"
[ "$nl" = 0 ] || fail "$nl messages hold a newline: grep would see them as two lines"
ls "$DATA"/wal/*.wal >/dev/null 2>&1 || fail "no WAL left"
[ "$(find "$DATA" -name '*.seg' | wc -l)" -ge 4 ] || fail "want segments of several hours"

# The message of each line clew prints: "TS SERVICE HOST LEVEL MESSAGE[ trace=ID]".
messages() {
    sed -E 's/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ //; s/ trace=[0-9a-f]{32}$//'
}

checked=0
compare() { # compare FLAGS... -- PATTERN
    local flags=() pat mode=-E
    while [ "$1" != -- ]; do
        [ "$1" = -F ] && mode=-F || flags+=("$1")
        shift
    done
    pat=$2
    local ge=0 ce=0 wc gc
    LC_ALL=C grep -a "$mode" "${flags[@]}" -e "$pat" "$MSGS" >"$WORK/want" || ge=$?
    [ "$mode" = -F ] && flags+=(-F)
    "$CLEW" grep --color=never --data "$DATA" "${flags[@]}" -- "$pat" >"$WORK/got" || ce=$?
    [ "$ce" -le 1 ] || fail "clew grep ${flags[*]} '$pat' exited $ce"
    [ "$ge" = "$ce" ] || fail "clew grep ${flags[*]} '$pat' exit $ce, grep $ge"
    if ! cmp -s <(LC_ALL=C sort "$WORK/want") <(messages <"$WORK/got" | LC_ALL=C sort); then
        diff <(LC_ALL=C sort "$WORK/want") <(messages <"$WORK/got" | LC_ALL=C sort) | head -5 >&2
        fail "clew grep ${flags[*]} '$pat' selects other messages than grep"
    fi
    wc=$(wc -l <"$WORK/want")
    gc=$("$CLEW" grep -c --data "$DATA" "${flags[@]}" -- "$pat") || true
    [ "$wc" = "$gc" ] || fail "clew grep -c ${flags[*]} '$pat': $gc, grep says $wc"
    checked=$((checked + 1))
}

patterns=(
    'status=5[0-9]{2}' 'timeout' '^GET ' 'ms$' 'ERROR|WARN' '[0-9a-f]{32}' 'blk_-?[0-9]+'
    'user=u-[0-9]+ ' '(GET|POST) /api' 'a.c' '\.' '^[A-Z][a-z]+ ' '' 'x*' 'sshd\[[0-9]+\]'
    "$ID" 'Failed password for (invalid user )?[a-z]+' '^$' '[[:digit:]]{4}-[[:digit:]]{2}'
    'jk2_init\(\) Found' 'Completed (GET|DELETE)'
)
for p in "${patterns[@]}"; do
    compare -- "$p"
    compare -i -- "$p"
    compare -v -- "$p"
    compare -i -v -- "$p"
done
for p in 'traceparent: 00-' '(' '.' '[' 'a.c' 'Timeout' '{"' "$ID"; do
    compare -F -- "$p"
    compare -F -i -- "$p"
    compare -F -v -- "$p"
done
echo "grep semantics: $checked pattern/flag sets agree with GNU grep"

# Order: oldest first across segments and the WAL; --reverse newest first.
ts=$("$CLEW" grep --data "$DATA" '' | cut -d' ' -f1)
[ "$(wc -l <<<"$ts")" = $N ] || fail "'' does not return all $N records"
[ "$ts" = "$(LC_ALL=C sort <<<"$ts")" ] || fail "records are not in time order"
rts=$("$CLEW" grep --data "$DATA" --reverse '' | cut -d' ' -f1)
[ "$rts" = "$(tac <<<"$ts")" ] || fail "--reverse is not the reverse order"

# -m: the first N matches, in order; with --reverse the last N.
[ "$("$CLEW" grep --data "$DATA" -m 7 timeout)" = "$("$CLEW" grep --data "$DATA" timeout | head -7)" ] ||
    fail "-m 7 differs from the first 7 matches"
[ "$("$CLEW" grep --data "$DATA" -m 7 --reverse timeout)" = \
    "$("$CLEW" grep --data "$DATA" timeout | tail -7 | tac)" ] || fail "-m 7 --reverse"
[ "$("$CLEW" grep -c --data "$DATA" -m 7 timeout)" = 7 ] || fail "-c -m 7"

# Time filters: inclusive bounds (ns), the same records as filtering the full output.
nts=$("$CLEW" grep --json --data "$DATA" '' | jq -r .ts)
first=$(head -1 <<<"$nts")
mid=$(sed -n "$((N / 2))p" <<<"$nts")
want=$(awk -v a="$first" -v b="$mid" '$1 >= a && $1 <= b' <<<"$nts" | wc -l)
got=$("$CLEW" grep -c --data "$DATA" --since "$first" --until "$mid" '')
[ "$got" = "$want" ] || fail "--since/--until: $got records, want $want"
got=$("$CLEW" grep -c --data "$DATA" --since "$mid" '')
want=$(awk -v a="$mid" '$1 >= a' <<<"$nts" | wc -l)
[ "$got" = "$want" ] || fail "--since: $got records, want $want"

# Label filters: the service column of the full output.
svc=$("$CLEW" grep --data "$DATA" -m 1 '' | cut -d' ' -f2)
want=$("$CLEW" grep --data "$DATA" '' | awk -v s="$svc" '$2 == s' | wc -l)
got=$("$CLEW" grep -c --data "$DATA" --service "$svc" '')
[ "$got" = "$want" ] && [ "$got" -gt 0 ] || fail "--service $svc: $got, want $want"
want=$("$CLEW" grep --data "$DATA" '' | awk '$4 == "emerg" || $4 == "alert" || $4 == "crit" || $4 == "err"' | wc -l)
got=$("$CLEW" grep -c --data "$DATA" --level error '')
[ "$got" = "$want" ] && [ "$got" -gt 0 ] || fail "--level error: $got, want $want"

# The trace index finds the same records as the id in the text, and more.
t=$("$CLEW" grep -c --data "$DATA" --trace "$ID" '')
[ "$t" -ge 1 ] || fail "--trace $ID found nothing"

# Exit codes and errors.
rc=0; "$CLEW" grep --data "$DATA" 'no such text anywhere 123' >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "no match: exit $rc, want 1"
rc=0; err=$("$CLEW" grep --data "$DATA" 'abc(' 2>&1 >/dev/null) || rc=$?
[ "$rc" = 2 ] || fail "bad pattern: exit $rc, want 2"
grep -q "bad pattern at offset 4" <<<"$err" || fail "bad pattern message: $err"
rc=0; err=$("$CLEW" grep --data "$DATA" '(a+)+$' 2>&1 >/dev/null) || rc=$?
[ "$rc" -le 2 ] || fail "catastrophic pattern: exit $rc"
rc=0; "$CLEW" grep --data "$DATA" '' | head -1 >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "| head: exit $rc"
echo "PASS"
