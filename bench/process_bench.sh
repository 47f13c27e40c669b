#!/usr/bin/env bash
# processes(2) against Python's multiprocessing.Pool(2).imap with chunksize 100 (tuned) and 1
# (default), interleaved, REPS times (default 5), medians; then the round trips (Google Benchmark,
# interleaved, medians of 9). Usage: bench/process_bench.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build/release}
reps=${REPS:-5}
py=$(command -v python3)
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rate() { # items_per_second of the benchmark matching $1, as a plain number
  "$build/bench/process_bench" --benchmark_filter="$1" 2>/dev/null |
    grep -o 'items_per_second=[0-9.]*[kMG]*' | head -1 | cut -d= -f2 |
    awk '{ v = $1 + 0; if ($1 ~ /k$/) v *= 1e3; if ($1 ~ /M$/) v *= 1e6; if ($1 ~ /G$/) v *= 1e9; printf "%.0f\n", v }'
}
pm="" py100="" py1=""
for ((r = 0; r < reps; ++r)); do
  pm+=" $(rate trivial)"
  while read -r cs value; do
    if [ "$cs" = 100 ]; then py100+=" $value"; else py1+=" $value"; fi
  done < <("$py" bench/process_bench.py)
done
echo "$("$py" --version); medians of $reps, items per second:"
m_pm=$(echo "$pm" | median) m_100=$(echo "$py100" | median) m_1=$(echo "$py1" | median)
echo "  parmill processes(2), default options: $m_pm   (each run:$pm)"
echo "  multiprocessing imap, chunksize 100:   $m_100   (each run:$py100)"
echo "  multiprocessing imap, chunksize 1:     $m_1   (each run:$py1)"
awk -v a="$m_pm" -v b="$m_100" -v c="$m_1" 'BEGIN { printf "  parmill / chunksize 100: %.1fx; parmill / chunksize 1: %.0fx\n", a / b, a / c }'
"$build/bench/process_bench" --benchmark_filter='round_trip' --benchmark_repetitions=9 \
  --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true 2>&1 | grep median
