#!/usr/bin/env bash
# Runs one libFuzzer target briefly: the kept corpus is read, new inputs go
# to a temporary directory (so a test run never edits the tree). A crash
# fails the test and leaves its reproducer in the temporary directory.
set -euo pipefail
bin=$1 corpus=$2 secs=${3:-15}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/new"
cd "$work"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$work/new" "$corpus" 2>"$work/log" || { tail -60 "$work/log"; exit 1; }
grep -E "stat::number_of_executed_units|Done" "$work/log" | tail -2
