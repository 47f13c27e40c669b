#!/bin/sh
# The main job, as `make demo` runs it: the parmill command compresses a generated sample of a few
# thousand files with gzip, on every core, with a progress bar, a job log and a timeline (an HTML
# page: a lane per job slot, a bar per job), then sums up.
#   usage: examples/demo_command.sh PATH/TO/parmill [WORK_DIR] [FILES]
set -eu
parmill=$1
work=${2:-build/demo}
files=${3:-3000}

rm -rf "$work" && mkdir -p "$work/in"
echo "parmill demo: writing $files sample files to $work/in (some with awkward names)"
i=0
while [ "$i" -lt "$files" ]; do
  case $((i % 5)) in
    0) name="report $i.txt" ;;      # a space
    1) name="it's-$i.txt" ;;        # a quote
    2) name="-dash-$i.txt" ;;       # a leading dash
    *) name="plain-$i.txt" ;;
  esac
  printf 'line %s of a sample file to compress\n' $(seq 1 $((20 + i % 200))) > "$work/in/$name"
  i=$((i + 1))
done

echo "parmill demo: compressing them: parmill --bar --joblog $work/jobs.log --timeline $work/timeline.html gzip -kf -- {}"
start=$(date +%s.%N)
status=0
find "$work/in" -type f -name '*.txt' -print0 |
  "$parmill" -0 --bar --joblog "$work/jobs.log" --timeline "$work/timeline.html" gzip -kf -- {} || status=$?
end=$(date +%s.%N)

jobs=$(($(wc -l < "$work/jobs.log") - 1))
failed=$(awk -F'\t' 'NR > 1 && ($7 != 0 || $8 != 0)' "$work/jobs.log" | wc -l)
made=$(find "$work/in" -name '*.gz' | wc -l)
before=$(find "$work/in" -name '*.txt' -exec cat {} + | wc -c)
after=$(find "$work/in" -name '*.gz' -exec cat {} + | wc -c)
echo "parmill demo: $jobs jobs, $failed failed, $made files compressed, $before -> $after bytes," \
  "in $(awk "BEGIN { printf \"%.2f\", $end - $start }") s; exit status $status; job log: $work/jobs.log"
echo "parmill demo: the timeline of the run (open it in a browser): file://$(realpath "$work/timeline.html")"
exit "$status"
