#!/usr/bin/env bash
# Runs every benchmark against its peers, repeated, reporting medians. Usage: bench/run.sh BUILD_DIR
set -euo pipefail
build=${1:-build/release}
reps=${REPS:-5}
for b in "$build"/bench/*_bench; do
  echo "== $b"
  "$b" --benchmark_repetitions="$reps" --benchmark_report_aggregates_only=true \
       --benchmark_filter="${FILTER:-.}" 2>&1 | grep -E 'median|^Run on|CPU|Load'
done
