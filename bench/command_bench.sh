#!/usr/bin/env bash
# The parmill command against GNU parallel, xargs -P and a plain posix_spawn loop (the floor):
# 2,000 jobs of `true` and of `echo N`, at -j2 and -j8, each contender run REPS times with the
# contenders interleaved, medians reported; and start-up time (no job at all), median of 21.
#   usage: bench/command_bench.sh [BUILD_DIR]   (REPS=N, default 5; COUNT=N, default 2000)
set -euo pipefail
build=${1:-build/release}
reps=${REPS:-5}
count=${COUNT:-2000}
parmill=$build/parmill
floor=$build/bench/spawn_floor
seq 1 "$count" > /tmp/parmill-bench-inputs

now() { date +%s%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

run() { # contender jobs program -> seconds (ns)
  local who=$1 j=$2 prog=$3 t0 t1
  t0=$(now)
  case $who in
    parmill) "$parmill" -j"$j" "$prog" :::: /tmp/parmill-bench-inputs > /dev/null ;;
    parallel) parallel -j"$j" "$prog" :::: /tmp/parmill-bench-inputs > /dev/null ;;
    xargs) xargs -P"$j" -n1 "$prog" < /tmp/parmill-bench-inputs > /dev/null ;;
    floor) "$floor" "$j" "$count" "$prog" '{}' > /dev/null ;;
  esac
  t1=$(now)
  echo $((t1 - t0))
}

echo "machine: $(nproc) cores; $count jobs per run; medians of $reps; $(parallel --version | head -1)"
printf '| job | -j | contender | median time | jobs/s | parmill vs it |\n|---|---|---|---|---|---|\n'
for prog in true echo; do
  for j in 2 8; do
    declare -A times=()
    for ((r = 0; r < reps; ++r)); do
      for who in floor parmill xargs parallel; do times[$who]+="$(run $who $j $prog) "; done
    done
    declare -A med=()
    for who in floor parmill xargs parallel; do med[$who]=$(echo "${times[$who]}" | tr ' ' '\n' | grep . | median); done
    for who in floor parmill xargs parallel; do
      awk -v p="$prog" -v j="$j" -v w="$who" -v t="${med[$who]}" -v pm="${med[parmill]}" -v n="$count" \
        'BEGIN { printf "| %s | %s | %s | %.3f s | %.0f | %.2fx |\n", p, j, w, t / 1e9, n / (t / 1e9), t / pm }'
    done
    unset times med
  done
done

startup=()
for ((r = 0; r < 21; ++r)); do
  t0=$(now); "$parmill" -r true < /dev/null; t1=$(now); startup+=($((t1 - t0)))
done
pstart=()
for ((r = 0; r < 5; ++r)); do
  t0=$(now); parallel -r true < /dev/null; t1=$(now); pstart+=($((t1 - t0)))
done
sm=$(printf '%s\n' "${startup[@]}" | median)
pm=$(printf '%s\n' "${pstart[@]}" | median)
awk -v s="$sm" -v p="$pm" 'BEGIN { printf "start-up (no job): parmill %.2f ms, GNU parallel %.1f ms\n", s / 1e6, p / 1e6 }'
