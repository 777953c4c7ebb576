#!/usr/bin/env bash
# clew-ship follows container log files into a real clewd over Forward
# with acks: a fake Docker tree (<id>/<id>-json.log + config.v2.json) and a
# fake Kubernetes tree (<ns>_<pod>_<uid>/<container>/0.log) under $WORK.
# Exact counts after start, rename rotation with late writes to the old
# file, copytruncate, a restart with a rotation while stopped; metadata
# (compose service, container name, image, pod/namespace/container, Docker
# attrs), the Docker 16 KiB partial join and CRI P/F joins; kubelet rotation
# of a CRI file; a restart after the partly read files were rotated and
# gzipped (Docker and kubelet), resumed inside the .gz; --cri-glob and
# --exclude restrict what is followed.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"
SHIP="$CLEW_BIN/clew-ship"
[ -x "$SHIP" ] || fail "$SHIP not built"

ID=3f2a1b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708
DOCKER=$WORK/containers
PODS=$WORK/pods
F=$DOCKER/$ID/$ID-json.log
STATE=$WORK/state
SHIP_PID=""
mkdir -p "$DOCKER/$ID" "$PODS"
cat >"$DOCKER/$ID/config.v2.json" <<JSON
{"ID":"$ID","Name":"/shop-web-1","Config":{"Image":"nginx:1.25","Labels":{
 "com.docker.compose.service":"web","com.docker.compose.project":"shop"}}}
JSON

# gen FILE FROM TO: Docker json-file lines "ship-FROM" .. "ship-(TO-1)".
gen() {
    awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i < b; i++)
        printf "{\"log\":\"ship-%d\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:30:%02d.%09dZ\"}\n",
            i, i % 60, i }' >>"$1"
}

start_ship() {
    local seen
    seen=$( (cat "$WORK/ship.log" 2>/dev/null || true) | wc -l)
    "$SHIP" --forward "127.0.0.1:$FORWARD_PORT" --state "$STATE" --docker-root "$DOCKER" \
        --cri-root "$PODS" --host testnode --scan-every 200ms --rotate-wait 1s \
        --batch-wait 50ms --multiline-wait 200ms "$@" >>"$WORK/ship.log" 2>&1 &
    SHIP_PID=$!
    track_pid "$SHIP_PID"
    for _ in $(seq 100); do
        tail -n +"$((seen + 1))" "$WORK/ship.log" | grep -q "ship: started" && return 0
        kill -0 "$SHIP_PID" 2>/dev/null || fail "clew-ship exited: $(tail -5 "$WORK/ship.log")"
        sleep 0.05
    done
    fail "clew-ship did not start"
}

# exactly N: N records match ship-, none twice.
exactly() {
    local n=$1 got dups
    wait_for 30 "$n records (have $("$CLEW" grep -c --data "$DATA" -F ship- 2>/dev/null || true))" \
        count_is "$n" -F ship-
    sleep 0.5 # nothing more may come
    got=$("$CLEW" grep -c --data "$DATA" -F ship-)
    [ "$got" = "$n" ] || { tail -20 "$WORK/ship.log"; fail "$got records, want exactly $n"; }
    dups=$("$CLEW" grep --json --data "$DATA" -F ship- | jq -r .message | sort | uniq -d | sed -n 1,3p)
    [ -z "$dups" ] || fail "duplicates: $dups"
    echo "  $2: $n records, no duplicate"
}

start_clewd
gen "$F" 0 1000
start_ship
exactly 1000 "initial file"

# Rename rotation; the writer still appends to the old inode for a moment.
mv "$F" "$F.1"
gen "$F.1" 1000 1100
gen "$F" 1100 1300
exactly 1300 "rename rotation with late writes"

# copytruncate (the copy goes outside the directory: a file beside the live
# one with a newer mtime would be a rotated sibling, read whole on restart).
cp "$F" "$WORK/copytruncate-copy"
: >"$F"
gen "$F" 1300 1350
exactly 1350 "copytruncate"

# Stopped: more lines, a rotation, a new file; the restart resumes.
stop_tracked "$SHIP_PID" clew-ship
grep -q "stopped: .* acknowledged" "$WORK/ship.log" || fail "no stop summary in the log"
gen "$F" 1350 1400
mv "$F" "$F.2"
gen "$F" 1400 1500
start_ship
exactly 1500 "restart with a rotation while stopped"
grep -q "rotated while stopped" "$WORK/ship.log" || fail "the rotated file was not resumed"

# Metadata from config.v2.json and the path.
out=$("$CLEW" grep --json --data "$DATA" '^ship-7$')
[ "$(jq -r .service <<<"$out")" = web ] || fail "service: $out"
[ "$(jq -r .container_name <<<"$out")" = shop-web-1 ] || fail "container_name: $out"
[ "$(jq -r .container_id <<<"$out")" = "$ID" ] || fail "container_id: $out"
[ "$(jq -r .host <<<"$out")" = testnode ] || fail "host: $out"
[ "$(jq -r .stream <<<"$out")" = stdout ] || fail "stream: $out"
[ "$(jq -r .fields.image <<<"$out")" = nginx:1.25 ] || fail "image: $out"
[ "$(jq -r .ts <<<"$out")" = 2024-01-15T10:30:07.000000007Z ] || fail "ts: $out"
echo "  metadata: service web, container shop-web-1, image nginx:1.25"

# Docker's 16 KiB partial lines, with a stderr line in between.
big=$(head -c 16384 /dev/zero | tr '\0' x)
{
    printf '{"log":"%s","stream":"stdout","time":"2024-01-15T11:00:00.5Z"}\n' "$big"
    printf '{"log":"between\\n","stream":"stderr","time":"2024-01-15T11:00:00.6Z"}\n'
    printf '{"log":"%s","stream":"stdout","time":"2024-01-15T11:00:00.5Z"}\n' "$big"
    printf '{"log":"END-partial\\n","stream":"stdout","time":"2024-01-15T11:00:00.5Z"}\n'
} >>"$F"
wait_for 10 "the joined partial line" count_is 1 -F END-partial
len=$("$CLEW" grep --json --data "$DATA" -F END-partial | jq -r '.message | length')
[ "$len" = $((2 * 16384 + 11)) ] || fail "joined line has $len bytes, want $((2 * 16384 + 11))"
count_is 1 '^between$' || fail "the interleaved stderr line is missing"
echo "  docker partial join: one line of $len bytes"

# CRI: P/F joins per stream, metadata from the path.
POD=$PODS/shop_web-7d4b9c-xk2p_0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9/nginx
mkdir -p "$POD"
cat >"$POD/0.log" <<'CRI'
2024-01-15T10:30:00.1Z stderr P cri-part1-
2024-01-15T10:30:00.15Z stdout F cri-full
2024-01-15T10:30:00.2Z stderr F cri-part2
2024-01-15T10:30:00.120000000+00:00 stdout F cri-crio
CRI
wait_for 10 "the CRI lines" count_is 3 -F cri-
out=$("$CLEW" grep --json --data "$DATA" -F cri-part1-cri-part2) || fail "CRI P/F not joined"
[ "$(jq -r .stream <<<"$out")" = stderr ] || fail "CRI stream: $out"
[ "$(jq -r .container_name <<<"$out")" = nginx ] || fail "CRI container: $out"
[ "$(jq -r .fields.namespace <<<"$out")" = shop ] || fail "CRI namespace: $out"
[ "$(jq -r .fields.pod <<<"$out")" = web-7d4b9c-xk2p ] || fail "CRI pod: $out"
[ "$(jq -r .ts <<<"$out")" = 2024-01-15T10:30:00.100000000Z ] || fail "CRI ts: $out"
[ "$(json_field cri-crio .ts)" = 2024-01-15T10:30:00.120000000Z ] || fail "CRI-O time"
[ "$(jq -r .fields.pod_uid <<<"$out")" = 0d1c2b3a-4e5f-6071-8293-a4b5c6d7e8f9 ] || fail "pod_uid: $out"
[ "$(jq -r .fields.restart <<<"$out")" = 0 ] || fail "CRI restart count: $out"
[ "$(jq -r .level <<<"$out")" = 3 ] || fail "CRI stderr level: $out"
echo "  CRI: P/F joined, namespace shop, pod web-7d4b9c-xk2p, container nginx"

# Docker attrs (labels / env log-opts) become fields; stderr is level 3.
# (An attrs key `tag` is replaced by the Forward tag clewd adds to fields.)
printf '%s\n' '{"log":"attrs-line\n","stream":"stderr","attrs":{"env":"prod","team":"pay"},"time":"2024-01-15T11:00:01Z"}' >>"$F"
wait_for 10 "the attrs line" count_is 1 '^attrs-line$'
out=$("$CLEW" grep --json --data "$DATA" '^attrs-line$')
[ "$(jq -r .fields.env <<<"$out")/$(jq -r .fields.team <<<"$out")" = prod/pay ] || fail "attrs: $out"
[ "$(jq -r .stream <<<"$out")/$(jq -r .level <<<"$out")" = stderr/3 ] || fail "stderr: $out"
[ "$(jq -r .service <<<"$out")" = web ] || fail "attrs replaced the service: $out"
echo "  docker attrs: fields env=prod team=pay, stderr level 3"

# kubelet rotation of the CRI file (0.log -> 0.log.<time>) with late writes
# to the old name, exact counts.
# gen_cri FILE FROM TO: CRI lines "kube-FROM" .. "kube-(TO-1)".
gen_cri() {
    awk -v a="$2" -v b="$3" 'BEGIN { for (i = a; i < b; i++)
        printf "2024-01-15T12:00:%02d.%09dZ stdout F kube-%d\n", i % 60, i, i }' >>"$1"
}
# exactly_kube N WHAT: N records match kube-, each line once.
exactly_kube() {
    wait_for 30 "$1 kube- records" count_is "$1" -F kube-
    sleep 0.5
    [ "$("$CLEW" grep -c --data "$DATA" -F kube-)" = "$1" ] || fail "not exactly $1 kube- records"
    [ "$("$CLEW" grep --json --data "$DATA" -F kube- | jq -r .message | sort -u | wc -l)" = "$1" ] ||
        fail "kube- duplicates"
    echo "  $2: $1 records, no duplicate"
}
gen_cri "$POD/0.log" 0 300
exactly_kube 300 "CRI file"
mv "$POD/0.log" "$POD/0.log.20240115-103000"
gen_cri "$POD/0.log.20240115-103000" 300 350
gen_cri "$POD/0.log" 350 500
exactly_kube 500 "kubelet rotation with late writes"

# Stopped while both files are rotated and compressed (Docker compress:
# <f>.1.gz; kubelet gzips all but the newest rotated file). The restart
# finds the partly read files inside the .gz by their head's fingerprint,
# finishes them from the checkpointed offset, then the files rotated after
# them, then the new live files: exact counts.
stop_tracked "$SHIP_PID" clew-ship
gen "$F" 1500 1600
rm -f "$F.1" "$F.2"
mv "$F" "$F.1"
gzip "$F.1"
gen "$F" 1600 1650
gen_cri "$POD/0.log" 500 600
mv "$POD/0.log" "$POD/0.log.20240115-113000"
gen_cri "$POD/0.log" 600 650
mv "$POD/0.log" "$POD/0.log.20240115-123000"
gzip "$POD/0.log.20240115-103000" "$POD/0.log.20240115-113000"
gen_cri "$POD/0.log" 650 700
start_ship
exactly 1650 "docker: restart after rotation and compression while stopped"
exactly_kube 700 "kubelet: restart after two rotations and compression while stopped"
grep -q "json.log: rotated and compressed while stopped, finishing it from .*json.log.1.gz" \
    "$WORK/ship.log" || fail "the Docker file was not resumed inside $F.1.gz"
grep -q "0.log: rotated and compressed while stopped, finishing it from .*0.log.20240115-113000.gz" \
    "$WORK/ship.log" || fail "the CRI file was not resumed inside 0.log.20240115-113000.gz"
[ "$(jq -r .records_reread "$STATE/status.json")" = 0 ] || fail "lines read twice after restart"

# --cri-glob restricts to namespace prod, --exclude drops one prod pod; a
# pod created later is followed when it matches. Own state and root.
stop_tracked "$SHIP_PID" clew-ship
PODS2=$WORK/pods2
# glob_pod DIR N: CRI lines "globx-DIR-0" .. in DIR/app/0.log.
glob_pod() {
    mkdir -p "$PODS2/$1/app"
    awk -v d="$1" -v n="$2" 'BEGIN { for (i = 0; i < n; i++)
        printf "2024-01-15T13:00:00.%09dZ stdout F globx-%s-%d\n", i, d, i }' \
        >>"$PODS2/$1/app/0.log"
}
glob_pod prod_a_u1 30
glob_pod prod_b_u2 20
glob_pod dev_c_u3 40
start_ship --state "$WORK/state2" --docker-root off --cri-root "$PODS2" \
    --cri-glob 'prod_*/*/*.log' --exclude '*/prod_b_*/*,*/nothing/*'
glob_pod prod_d_u4 5
glob_pod dev_c_u3 7
glob_pod prod_b_u2 3
wait_for 10 "35 globx- records" count_is 35 -F globx-
sleep 0.5
[ "$("$CLEW" grep -c --data "$DATA" -F globx-prod_a)" = 30 ] || fail "prod_a: want 30"
[ "$("$CLEW" grep -c --data "$DATA" -F globx-prod_d)" = 5 ] || fail "prod_d: want 5"
[ "$("$CLEW" grep -c --data "$DATA" -F globx-)" = 35 ] || fail "excluded or dev lines shipped"
out=$("$CLEW" grep --json --data "$DATA" -F globx-prod_d_u4-4)
[ "$(jq -r .fields.namespace <<<"$out")" = prod ] || fail "namespace with --cri-glob: $out"
echo "  --cri-glob prod_*/*/*.log --exclude */prod_b_*/*: 35 records (prod_a 30, prod_d 5)"

stop_tracked "$SHIP_PID" clew-ship
stop_clewd
echo "ship tail: ok"
