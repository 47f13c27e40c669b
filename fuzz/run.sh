#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR for SECONDS each, starting from its committed seed
# corpus (fuzz/corpus/<name>/, never modified: new inputs go to BUILD_DIR/corpus/<name>/).
# Any crash, sanitizer report, leak, timeout (one input over 10 s) or memory blow-up (2 GiB) fails
# the run; the input that caused it is left in BUILD_DIR/artifacts/ to become a regression test.
set -euo pipefail
build=${1:?usage: fuzz/run.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/artifacts"
found=0
for source in "$here"/*_fuzz.cpp; do
  name=$(basename "$source" _fuzz.cpp)
  target="$build/fuzz/${name}_fuzz"
  [ -x "$target" ] || { echo "fuzz: $target was not built"; exit 1; }
  found=1
  mkdir -p "$build/corpus/$name"
  seeds=()
  [ -d "$here/corpus/$name" ] && seeds=("$here/corpus/$name")
  echo "fuzz: $name for ${seconds}s"
  "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/${name}-" "$build/corpus/$name" "${seeds[@]}" \
    > "$build/$name.log" 2>&1 || { tail -n 60 "$build/$name.log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build/$name.log" | sed "s/^/fuzz: $name /"
done
[ "$found" = 1 ] || { echo "fuzz: no targets in $build/fuzz"; exit 1; }
echo "fuzz: every target ran ${seconds}s without a finding"
