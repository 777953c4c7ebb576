#!/usr/bin/env bash
# syslog-ng as a forwarding client -> clewd's syslog input. Debian's
# syslog-ng-core package (and the libraries it needs that are missing here)
# is fetched with apt-get download and unpacked into the test's work dir,
# never installed, and runs in the foreground with its own config, persist
# file, pid file and control socket; its only sources are file() sources
# reading files this test writes (no system(), no /dev/log). It forwards to
# clewd with syslog() (RFC 5424, octet counting over TCP) and network()
# (RFC 3164 over TCP, LF-framed, and over UDP). clew grep then finds every
# line with its host (host-override), service (program-override) and level.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"

fetch_deb syslog-ng-core
SNG=$DEB_ROOT/usr/sbin/syslog-ng
MODDIR=$(dirname "$(find "$DEB_ROOT" -name libaffile.so -print -quit)")
[ -d "$MODDIR" ] || fail "syslog-ng package without libaffile.so"
check_libs "$SNG" "$MODDIR/libaffile.so" "$MODDIR/libafsocket.so" "$MODDIR/libsyslogformat.so"

start_clewd

HOST=syslogng-it
S=$WORK/syslog-ng
mkdir -p "$S"
for f in syslog tcp udp; do : >"$S/in-$f.log"; done
src() { # src NAME PROGRAM PRIORITY
    echo "source s_$1 { file(\"$S/in-$1.log\" follow-freq(0.1) flags(no-parse)" \
        "program-override(\"$2\") host-override(\"$HOST\") default-priority($3)" \
        "default-facility(local0)); };"
}
cat >"$S/syslog-ng.conf" <<EOF
@version: 3.38
options { use-dns(no); dns-cache(no); keep-hostname(yes); chain-hostnames(no);
          stats-freq(0); time-reopen(1); mark-freq(0); };
$(src syslog sng-web info)
$(src tcp sng-db err)
$(src udp sng-cron warning)
destination d_syslog { syslog("127.0.0.1" port($SYSLOG_PORT) transport("tcp") persist-name("d_syslog")); };
destination d_tcp { network("127.0.0.1" port($SYSLOG_PORT) transport("tcp") persist-name("d_tcp")); };
destination d_udp { network("127.0.0.1" port($SYSLOG_PORT) transport("udp")); };
log { source(s_syslog); destination(d_syslog); };
log { source(s_tcp); destination(d_tcp); };
log { source(s_udp); destination(d_udp); };
EOF
SNG_ARGS=(-f "$S/syslog-ng.conf" --module-path="$MODDIR" -R "$S/syslog-ng.persist"
    -p "$S/syslog-ng.pid" -c "$S/syslog-ng.ctl" --no-caps)
LD_LIBRARY_PATH="$DEB_LIBPATH" "$SNG" -s "${SNG_ARGS[@]}" >"$S/check.log" 2>&1 ||
    { cat "$S/check.log" >&2; fail "syslog-ng rejects the config"; }

LD_LIBRARY_PATH="$DEB_LIBPATH" "$SNG" -F -e "${SNG_ARGS[@]}" >"$S/syslog-ng.log" 2>&1 &
SNG_PID=$!
track_pid "$SNG_PID"
sng_up() { kill -0 "$SNG_PID" 2>/dev/null || fail "syslog-ng exited: $(cat "$S/syslog-ng.log")"; \
    [ -s "$S/syslog-ng.pid" ]; }
wait_for 15 "syslog-ng to start" sng_up
not_system_logger "$SNG_PID" syslog-ng

tag="sngit-$$-$RANDOM"
big=$(head -c 12000 /dev/zero | tr '\0' 'y')
lines_syslog=("$tag syslog one order=1" "$tag syslog ünïcödé ✓ 日本語" "$tag syslog big $big")
lines_tcp=("$tag tcp one order=2" "$tag tcp quotes \"double\" 'single' [brackets]" "$tag tcp three")
lines_udp=("$tag udp one order=3" "$tag udp two key=value")
printf '%s\n' "${lines_syslog[@]}" >>"$S/in-syslog.log"
printf '%s\n' "${lines_tcp[@]}" >>"$S/in-tcp.log"
printf '%s\n' "${lines_udp[@]}" >>"$S/in-udp.log"

want=$((${#lines_syslog[@]} + ${#lines_tcp[@]} + ${#lines_udp[@]}))
count_now() { "$CLEW" grep -c --data "$DATA" -F "$tag" 2>/dev/null || true; }
all_in() { [ "$(count_now)" = "$want" ]; }
for _ in $(seq 300); do all_in && break; sleep 0.1; done
all_in || fail "$(count_now) of $want lines forwarded by syslog-ng within 30 s;" \
    "syslog-ng log: $(tail -5 "$S/syslog-ng.log")"

for m in "${lines_syslog[@]}"; do expect_record "$m" sng-web 6 "$HOST" syslog; done
for m in "${lines_tcp[@]}"; do expect_record "$m" sng-db 3 "$HOST" syslog; done
for m in "${lines_udp[@]}"; do expect_record "$m" sng-cron 4 "$HOST" syslog; done
# No stray records (syslog-ng's own messages go nowhere: no internal() source).
[ "$("$CLEW" grep -c --data "$DATA" '')" = "$want" ] ||
    fail "clewd holds $("$CLEW" grep -c --data "$DATA" '') records, want $want"

stop_tracked "$SNG_PID" syslog-ng
stop_clewd
echo "syslog-ng: $want lines over syslog() TCP, network() TCP and UDP: ok"
