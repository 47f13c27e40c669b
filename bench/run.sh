#!/usr/bin/env bash
# Runs every benchmark against its peers in the same process, repetitions interleaved at random
# so that both sides see the same machine noise, and prints the medians.
# Usage: bench/run.sh [BUILD_DIR]; REPS=N (default 9) and FILTER=regex narrow it.
set -euo pipefail
build=${1:-build/release}
reps=${REPS:-9}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
for b in "$build"/bench/*_bench; do
  [ "$(basename "$b")" = mpi_bench ] && continue # runs under mpirun: bench/mpi_bench.sh
  echo "== $b"
  "$b" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
       --benchmark_report_aggregates_only=true --benchmark_filter="${FILTER:-.}" 2>&1 | grep -E 'median'
done
