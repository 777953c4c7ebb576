#!/usr/bin/env bash
# rsyslogd as a forwarding client -> clewd's syslog input. Debian's rsyslog
# package is fetched (apt-get download) and unpacked into the test's work
# dir, never installed, and runs in the foreground with its own config, pid
# file and work dir; its only inputs are imfile sources reading files this
# test writes (no /dev/log, no kernel log). Three rulesets forward to clewd:
# RFC 5424 over TCP octet-counted, RFC 5424 over TCP LF-framed, and RFC 3164
# over UDP. clew grep then finds every line with its host
# (localHostName), service (imfile Tag) and level (imfile Severity).
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || fail "jq not installed (scripts/install-deps.sh)"

fetch_deb rsyslog
RSYSLOGD=$DEB_ROOT/usr/sbin/rsyslogd
MODDIR=$(dirname "$(find "$DEB_ROOT" -name imfile.so -print -quit)")
[ -d "$MODDIR" ] || fail "rsyslog package without imfile.so"
check_libs "$RSYSLOGD" "$MODDIR/imfile.so" "$MODDIR/lmtcpclt.so" "$MODDIR/lmnetstrms.so" \
    "$MODDIR/lmnsd_ptcp.so"

start_clewd

HOST=rsyslog-it
RS=$WORK/rsyslog
mkdir -p "$RS/work"
for f in octet lf udp; do : >"$RS/in-$f.log"; done
fwd() { # fwd PROTOCOL FRAMING TEMPLATE: an omfwd action to clewd
    echo "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"$SYSLOG_PORT\" protocol=\"$1\"" \
        "${2:+TCP_Framing=\"$2\"} template=\"$3\" action.resumeRetryCount=\"-1\"" \
        "action.resumeInterval=\"1\")"
}
cat >"$RS/rsyslog.conf" <<EOF
global(workDirectory="$RS/work" localHostName="$HOST" maxMessageSize="64k")
module(load="imfile" mode="inotify")
ruleset(name="octet") { $(fwd tcp octet-counted RSYSLOG_SyslogProtocol23Format) }
ruleset(name="lf") { $(fwd tcp traditional RSYSLOG_SyslogProtocol23Format) }
ruleset(name="udp") { $(fwd udp "" RSYSLOG_ForwardFormat) }
input(type="imfile" File="$RS/in-octet.log" Tag="rs-web:" Severity="info" Facility="local0" ruleset="octet")
input(type="imfile" File="$RS/in-lf.log" Tag="rs-worker:" Severity="err" Facility="local1" ruleset="lf")
input(type="imfile" File="$RS/in-udp.log" Tag="rs-cron:" Severity="warning" Facility="cron" ruleset="udp")
EOF
LD_LIBRARY_PATH="$DEB_LIBPATH" "$RSYSLOGD" -N1 -f "$RS/rsyslog.conf" -M "$MODDIR" \
    >"$RS/check.log" 2>&1 || { cat "$RS/check.log" >&2; fail "rsyslogd rejects the config"; }

LD_LIBRARY_PATH="$DEB_LIBPATH" "$RSYSLOGD" -n -f "$RS/rsyslog.conf" -i "$RS/rsyslogd.pid" \
    -M "$MODDIR" >"$RS/rsyslogd.log" 2>&1 &
RS_PID=$!
track_pid "$RS_PID"
rs_up() { kill -0 "$RS_PID" 2>/dev/null || fail "rsyslogd exited: $(cat "$RS/rsyslogd.log")"; \
    [ -s "$RS/rsyslogd.pid" ]; }
wait_for 15 "rsyslogd to start" rs_up
sleep 0.5 # imfile sets up its inotify watches after the pid file is written

# Not the system logger: it holds no /dev/log (nor any unix socket path).
not_system_logger "$RS_PID" rsyslogd

tag="rsit-$$-$RANDOM"
big=$(head -c 12000 /dev/zero | tr '\0' 'x')
lines_octet=("$tag octet one order=1" "$tag octet ünïcödé ✓ 日本語" "$tag octet big $big")
lines_lf=("$tag lf one order=2" "$tag lf quotes \"double\" 'single' [brackets]" "$tag lf three")
lines_udp=("$tag udp one order=3" "$tag udp two key=value")
printf '%s\n' "${lines_octet[@]}" >>"$RS/in-octet.log"
printf '%s\n' "${lines_lf[@]}" >>"$RS/in-lf.log"
printf '%s\n' "${lines_udp[@]}" >>"$RS/in-udp.log"

want=$((${#lines_octet[@]} + ${#lines_lf[@]} + ${#lines_udp[@]}))
count_now() { "$CLEW" grep -c --data "$DATA" -F "$tag" 2>/dev/null || true; }
all_in() { [ "$(count_now)" = "$want" ]; }
for _ in $(seq 300); do all_in && break; sleep 0.1; done
all_in || fail "$(count_now) of $want lines forwarded by rsyslogd within 30 s;" \
    "rsyslogd log: $(tail -5 "$RS/rsyslogd.log")"

for m in "${lines_octet[@]}"; do expect_record "$m" rs-web 6 "$HOST" syslog; done
for m in "${lines_lf[@]}"; do expect_record "$m" rs-worker 3 "$HOST" syslog; done
for m in "${lines_udp[@]}"; do expect_record "$m" rs-cron 4 "$HOST" syslog; done
# No stray records: the octet-counted frames' trailing LF is not a message.
[ "$("$CLEW" grep -c --data "$DATA" '')" = "$want" ] ||
    fail "clewd holds $("$CLEW" grep -c --data "$DATA" '') records, want $want"

stop_tracked "$RS_PID" rsyslogd
stop_clewd
echo "rsyslog: $want lines over TCP (octet-counted, LF) and UDP: ok"
