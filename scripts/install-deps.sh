#!/usr/bin/env bash
# Installs the Debian packages clew needs to build, test and benchmark.
# Idempotent: installs only what is missing and prints what it installs.
set -euo pipefail

pkgs=(
    cmake make pkg-config clang libclang-rt-14-dev    # build; clang for ASan/UBSan and libFuzzer
    libuv1-dev          # event loop, sockets, timers, thread pool
    libzstd-dev         # segment column compression
    liblz4-dev          # WAL frame compression
    libjansson-dev      # JSON in (GELF, fields) and out (--json, HTTP)
    libpcre2-dev        # regex queries, correlation patterns, alert rules
    libcmocka-dev       # unit tests
    libxxhash-dev       # checksums and hashes
    libmsgpack-dev      # Fluent Forward
    zlib1g-dev          # GELF zlib/gzip
    libmicrohttpd-dev   # HTTP API
    libyaml-dev         # config and rules
    libcurl4-openssl-dev # clew --server (HTTP client) and alert webhooks
    bsdutils            # logger(1), used by integration tests and the tour
    zstd ripgrep        # reference tools for the benchmarks
    jq                  # JSON checks in the integration tests
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
