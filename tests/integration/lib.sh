# Shared helpers of the integration tests: sourced, not run.
# Each test starts the real clewd on free loopback ports with a fresh data
# directory, drives it with real clients, and queries with the real clew.
set -euo pipefail

: "${CLEW_BIN:?set by ctest: the build directory}"
CLEWD="$CLEW_BIN/clewd"
CLEW="$CLEW_BIN/clew"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/clew-it-XXXXXX")
CLEWD_PID=""

cleanup() {
    if [ -n "$CLEWD_PID" ] && kill -0 "$CLEWD_PID" 2>/dev/null; then
        kill -KILL "$CLEWD_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$WORK/clewd.log" ]; then
        echo "--- clewd log (tail) ---" >&2
        tail -30 "$WORK/clewd.log" >&2
    fi
    exit 1
}

# A free TCP and UDP port on 127.0.0.1 (the kernel picks, we release it).
free_port() {
    local p
    for _ in $(seq 50); do
        p=$(( (RANDOM << 1 | RANDOM & 1) % 28000 + 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# start_clewd [extra clewd options...]: sets SYSLOG_PORT GELF_PORT FORWARD_PORT
# HTTP_PORT DATA, starts clewd in the background and waits until it listens.
start_clewd() {
    local attempt
    for attempt in 1 2 3 4 5; do
        if start_clewd_once "$@"; then
            return 0
        fi
        # Another test may have taken a port between our check and the bind:
        # the ports a test did not fix itself are drawn again.
        tail -n 5 "$WORK/clewd.log" | grep -qiE "in use|cannot listen" ||
            fail "clewd exited during start-up"
        unset SYSLOG_PORT GELF_PORT FORWARD_PORT HTTP_PORT
    done
    fail "clewd could not bind free ports in 5 attempts"
}

# start_clewd_once: one start; returns 1 if clewd exited during start-up.
start_clewd_once() {
    SYSLOG_PORT=${SYSLOG_PORT:-$(free_port)}
    GELF_PORT=${GELF_PORT:-$(free_port)}
    FORWARD_PORT=${FORWARD_PORT:-$(free_port)}
    HTTP_PORT=${HTTP_PORT:-$(free_port)}
    DATA=${DATA:-$WORK/data}
    local seen
    seen=$( (cat "$WORK/clewd.log" 2>/dev/null || true) | wc -l)
    "$CLEWD" --data "$DATA" --syslog "127.0.0.1:$SYSLOG_PORT" --gelf "127.0.0.1:$GELF_PORT" \
        --forward "127.0.0.1:$FORWARD_PORT" --http "127.0.0.1:$HTTP_PORT" "$@" \
        >>"$WORK/clewd.log" 2>&1 &
    CLEWD_PID=$!
    for _ in $(seq 100); do
        if tail -n +"$((seen + 1))" "$WORK/clewd.log" 2>/dev/null | grep -q "clewd: started"; then
            return 0
        fi
        if ! kill -0 "$CLEWD_PID" 2>/dev/null; then
            wait "$CLEWD_PID" 2>/dev/null || true
            CLEWD_PID=""
            return 1
        fi
        sleep 0.05
    done
    fail "clewd did not start within 5 s"
}

# stop_clewd: SIGTERM, and the exit status must be 0.
stop_clewd() {
    kill -TERM "$CLEWD_PID"
    local rc=0
    wait "$CLEWD_PID" || rc=$?
    CLEWD_PID=""
    [ "$rc" -eq 0 ] || fail "clewd exited with $rc on SIGTERM"
}

# wait_count N ARGS...: polls `clew grep -c ARGS` until it prints N (15 s:
# a loaded CI machine is slow; a passing test returns as soon as it sees N).
wait_count() {
    local want=$1 got=""
    shift
    for _ in $(seq 300); do
        got=$("$CLEW" grep -c --data "$DATA" "$@" 2>/dev/null || true)
        [ "$got" = "$want" ] && return 0
        sleep 0.05
    done
    fail "expected $want records for 'clew grep $*' within 15 s, got '$got'"
}

# json_field PATTERN KEY: the KEY of the one record matching PATTERN.
json_field() {
    "$CLEW" grep --json --data "$DATA" "$1" | jq -r "$2"
}

# track_pid PID: the process is killed (SIGKILL) when the test exits, before
# the usual cleanup. For the test's own helpers (clients, forwarders).
TRACKED_PIDS=()
track_pid() {
    TRACKED_PIDS+=("$1")
    trap cleanup_tracked EXIT
}
cleanup_tracked() {
    local p
    for p in "${TRACKED_PIDS[@]}"; do
        kill -KILL "$p" 2>/dev/null || true
    done
    cleanup
}

# stop_tracked PID [NAME]: SIGTERM, up to 10 s to exit, then SIGKILL; reaps
# it and forgets it. Fails the test when it had to be killed.
stop_tracked() {
    local pid=$1 i keep=()
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        fail "${2:-pid $pid} did not exit within 10 s of SIGTERM"
    fi
    wait "$pid" 2>/dev/null || true
    for i in "${TRACKED_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
    TRACKED_PIDS=("${keep[@]}")
}

# installed PKG: whether the Debian package PKG is installed on this machine.
installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

# deb_closure PKG...: PKG... plus, recursively, the library packages (lib*)
# they depend on that are not installed here: what has to be unpacked for
# the programs to run. Alternatives and virtual packages are left out. One
# apt-cache call per level of the dependency tree (each takes a second).
deb_closure() {
    local -A seen=()
    local level=("$@") next p d
    while [ ${#level[@]} -gt 0 ]; do
        next=()
        for p in "${level[@]}"; do
            [ -n "${seen[$p]:-}" ] && continue
            seen[$p]=1
            echo "$p"
            next+=("$p")
        done
        [ ${#next[@]} -gt 0 ] || break
        level=()
        for d in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "${next[@]}" 2>/dev/null |
            sed -n 's/^ *Depends: \([a-z0-9][^ <>]*\)$/\1/p' | sed 's/:any$//' | sort -u); do
            case "$d" in lib*) ;; *) continue ;; esac
            [ -n "${seen[$d]:-}" ] || installed "$d" || level+=("$d")
        done
    done
}

# fetch_deb PKG...: downloads PKG... and the libraries they need that are
# missing (apt-get download, cached in $CLEW_BIN/debcache, or in
# $CLEW_DEB_CACHE when set, so later runs do not download again) and unpacks them with dpkg-deb -x into $DEB_ROOT
# ($WORK/root). Nothing is installed and no maintainer script runs. Sets
# DEB_LIBPATH, the unpacked library directories for LD_LIBRARY_PATH.
# Fails the test (never skips) when the packages cannot be had.
fetch_deb() {
    local cache="${CLEW_DEB_CACHE:-$CLEW_BIN/debcache}" pkgs p f missing=()
    DEB_ROOT=$WORK/root
    mkdir -p "$cache" "$DEB_ROOT"
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        fail "fetch_deb: apt-get and dpkg-deb are needed (a Debian machine)"
    fi
    # Concurrent tests share the cache: one downloads at a time.
    exec 8>"$cache/.lock"
    flock -w 300 8 || fail "fetch_deb: cache $cache locked for 5 min"
    # The package list of a finished fetch is kept too (apt-cache is slow).
    local list
    list="$cache/closure-$(tr ' ' '+' <<<"$*").list"
    if [ -s "$list" ]; then
        mapfile -t pkgs <"$list"
    else
        mapfile -t pkgs < <(deb_closure "$@")
    fi
    for p in "${pkgs[@]}"; do
        compgen -G "$cache/${p}_*.deb" >/dev/null || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "fetch_deb: apt-get download ${missing[*]}"
        (cd "$cache" && apt-get download -q "${missing[@]}" >"$WORK/apt.log" 2>&1) || {
            cat "$WORK/apt.log" >&2
            fail "fetch_deb: 'apt-get download ${missing[*]}' failed: this test needs Debian's" \
                "package mirrors (network) and current apt lists (apt-get update)"
        }
    fi
    printf '%s\n' "${pkgs[@]}" >"$list"
    flock -u 8
    exec 8>&-
    for p in "${pkgs[@]}"; do
        # shellcheck disable=SC2012 # package file names are plain
        f=$(ls -v "$cache/${p}_"*.deb | tail -1)
        dpkg-deb -x "$f" "$DEB_ROOT" || fail "fetch_deb: dpkg-deb -x $f failed"
    done
    DEB_LIBPATH=$(find "$DEB_ROOT" -name '*.so*' \( -type f -o -type l \) -printf '%h\n' |
        sort -u | tr '\n' ':')
    DEB_LIBPATH=${DEB_LIBPATH%:}
}

# check_libs FILE...: every shared library the unpacked programs or modules
# FILE... need resolves (system or $DEB_LIBPATH), else the test fails naming
# the missing ones.
check_libs() {
    local f miss
    for f in "$@"; do
        [ -e "$f" ] || fail "check_libs: $f not in the unpacked packages"
        miss=$(LD_LIBRARY_PATH="$DEB_LIBPATH" ldd "$f" 2>&1 | grep 'not found' || true)
        [ -z "$miss" ] || fail "check_libs: $(basename "$f") needs libraries no package gave:" \
            "$(tr -s ' \t\n' ' ' <<<"$miss")"
    done
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND (every 0.1 s) until
# it succeeds, or fails the test after SECONDS.
wait_for() {
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "timed out after ${secs}s waiting for $what"
}

# count_is N ARGS...: whether `clew grep -c ARGS` prints N now.
count_is() {
    local want=$1
    shift
    [ "$("$CLEW" grep -c --data "$DATA" "$@" 2>/dev/null || true)" = "$want" ]
}

# expect_record MESSAGE SERVICE LEVEL HOST [INPUT]: exactly one record has
# exactly MESSAGE, and it has this service, level (a number), host (not
# checked when empty) and input (when given); else the test fails.
expect_record() {
    local msg=$1 out verdict
    out=$("$CLEW" grep -F --json --data "$DATA" "$msg" 2>&1) ||
        fail "no record with message '${msg:0:80}'"
    # shellcheck disable=SC2016
    verdict=$(jq -rn --arg m "$msg" --arg s "$2" --argjson l "$3" --arg h "$4" \
        --arg i "${5:-}" '
        [inputs | select(.message == $m)] as $r
        | if ($r | length) != 1 then "\($r | length) records with that exact message, want 1"
          elif $r[0].service != $s then "service \($r[0].service | tojson), want \($s | tojson)"
          elif $r[0].level != $l then "level \($r[0].level | tojson), want \($l)"
          elif $h != "" and $r[0].host != $h then "host \($r[0].host | tojson), want \($h | tojson)"
          elif $i != "" and $r[0].input != $i then "input \($r[0].input), want \($i)"
          else "ok" end' <<<"$out") || fail "jq failed on: ${out:0:200}"
    [ "$verdict" = ok ] || fail "'${msg:0:80}': $verdict"
}

# not_system_logger PID NAME: fails if process PID holds a named unix socket
# outside $WORK (such as /dev/log): a test's forwarder must never act as the
# system's logger.
not_system_logger() {
    local inode path
    # shellcheck disable=SC2012 # fd links of /proc, not file names
    for inode in $(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
        path=$(awk -v i="$inode" '$7 == i && NF >= 8 { print $8 }' /proc/net/unix)
        case "$path" in
        "" | "$WORK"/*) ;;
        *) fail "$2 (pid $1) holds the unix socket $path" ;;
        esac
    done
}
