#!/bin/bash
# tests/cli/gnu_compat.sh: runs the same behaviours through GNU parallel and parmill and diffs
# their standard output and exit status, case by case, so the comparison keeps running as both
# change. Usage: gnu_compat.sh PARMILL [GNU_PARALLEL]   (GNU_PARALLEL defaults to `parallel`).
# Exit 0 when every `same` case matches; 1 when one differs; 2 for a bad invocation.
#
# Each case is shell code that calls `par` for the program under test; it runs in a fresh
# directory, with standard input from /dev/null unless it pipes, under a time limit. Only standard
# output and the exit status are compared; a case that wants standard error compared sends it to
# standard output through `norm`, which writes both programs' names as `PROG`. Cases must not
# depend on timing: -k, -j1 or sort wherever order could vary.
#   same NAME CODE      must match
#   differ NAME WHY CODE  a deliberate difference: run and shown, never a failure
set -u
if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PARMILL [GNU_PARALLEL]" >&2
  exit 2
fi
parmill=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
gnu=${2:-parallel}
# Skipped (77, CTest's SKIP_RETURN_CODE) when there is no GNU parallel to compare with.
if ! "$gnu" --will-cite --version 2>/dev/null | grep -q '^GNU parallel'; then
  echo "$0: skipped: '$gnu' is not GNU parallel"
  exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/gnu-compat-XXXXXX")
trap 'rm -rf "$work"' EXIT
export LC_ALL=C
failed=0 passed=0 expected=0

# Runs CODE with `par` meaning PROGRAM; prints its standard output and then its exit status.
run_with() { # PROGRAM CODE
  local dir
  dir=$(mktemp -d "$work/case-XXXXXX")
  (
    cd "$dir" || exit 99
    timeout -k 5 60 bash -c '
      par() { '"$1"' "$@"; }
      norm() { sed -e "s/^parallel:/PROG:/" -e "s/^parmill:/PROG:/"; }
      export -f par norm
      '"$2" </dev/null 2>/dev/null
    echo "[exit $?]"
  )
  rm -rf "$dir"
}

compare() { # NAME CODE -> 0 when both print the same
  gnu_out=$(run_with "$gnu --will-cite" "$2")
  our_out=$(run_with "$parmill" "$2")
  [ "$gnu_out" == "$our_out" ]
}

show_diff() {
  diff <(printf '%s\n' "$gnu_out") <(printf '%s\n' "$our_out") | sed 's/^/    /'
}

same() { # NAME CODE
  if compare "$1" "$2"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    printf 'DIFFERS: %s\n  code: %s\n  (< GNU parallel, > parmill)\n' "$1" "$2"
    show_diff
  fi
}

differ() { # NAME WHY CODE
  expected=$((expected + 1))
  if compare "$1" "$3"; then
    printf 'note: %s now matches (listed as a deliberate difference: %s)\n' "$1" "$2"
  fi
}

# --- issue 15, point 9 -------------------------------------------------------------------------
same command_is_the_input "par -k {} ::: 'echo x  y' 'echo \$((1+2))'"
same command_is_the_input_with_tail "par -k -j1 '{} | tr a-z A-Z' ::: 'echo ab' 'echo c  d'"
same colsep_tab "printf 'a\tb\nc\td\n' | par -k --colsep '\t' echo {2}-{1}"
same colsep_whitespace_class "printf 'a  b\nc\t d\n' | par -k --colsep '\s+' echo {2}-{1}"
same header_colsep_tab "printf 'h1\th2\na\tb\n' | par -k --header : --colsep '\t' echo {h2}-{h1}"
same header_default_colsep_tab "printf 'A\tB\n1\tone\n' | par -k --header : echo {B} {A}"
same results_seq_file "par --results d echo ::: a b; cat d/1/a/seq; echo; cat d/1/b/seq; echo; find d | sort"
same results_stdout_stderr "par --results d 'echo out {}; echo err {} >&2' ::: a; cat d/1/a/stdout d/1/a/stderr"
same results_two_sources "par --results d echo ::: a b ::: c; find d | sort"
same results_long_value "par --results d echo ::: \$(printf 'x%.0s' {1..300}) >/dev/null; ls d/1 | wc -c"
same halt_percent_not_reached "par -j1 --halt soon,fail=50% 'exit {}' ::: 1 1 0 0 0 0"
same halt_percent_reached "par -j1 --halt soon,fail=30% 'exit {}' ::: 1 1 1 0 0 0 0 0 0 0"
same halt_percent_rounds_up "par -j1 --halt soon,fail=90% 'exit {}' ::: 1 0 0"
same halt_percent_messages "par -j1 -k --halt soon,fail=50% 'exit {}' ::: 1 0 1 0 2>&1 | norm"
same halt_now_fail_1 "par -j1 --halt now,fail=1 'echo {}; exit {}' ::: 0 0 3 0"
same halt_soon_fail_1_delay "par -j1 --delay 0.1 --halt soon,fail=1 'echo {}; exit {}' ::: 0 4 0 0"
same halt_success_1 "par -j1 --halt now,success=1 'echo {}; exit {}' ::: 1 0 1"
same halt_done_2 "par -j1 --halt soon,done=2 'echo {}; exit {}' ::: 1 0 1 5"
same joblog_append "par -j1 --joblog log echo ::: a; par -j1 --joblog +log echo ::: b c; cut -f 1,7,9 log"
differ joblog_append_new_file "parmill starts a new or empty log with the header line, which GNU parallel leaves out with +FILE (its own --resume then takes the first job's line for the header)" \
  "par -j1 --joblog +log echo ::: a; cut -f 1,7,9 log"
same joblog_stdout "par -k -j1 --joblog - 'echo {}; exit {}' ::: 0 3 | cut -f 1,7,9"
same joblog_alias_jl "par -j1 --jl log echo ::: a; cut -f 1,7,9 log"
same results_alias_result "par --result d echo ::: a; cat d/1/a/stdout"
same results_csv 'par -k -j1 --results o.csv echo ::: a "b,\"c d" ::: x; sed -E "s/^([0-9]+,[^,]*,)[0-9.]+,[0-9.]+,/\1T,T,/" o.csv'
same results_tsv_header 'printf "h\ta\nx\ty\n" | par -k -j1 --header : --results o.tsv echo; sed -E "s/^([0-9]+\t[^\t]*\t)[0-9.]+\t[0-9.]+\t/\1T\tT\t/" o.tsv'
same results_json 'par -k -j1 --results o.json "echo {}; echo e >&2" ::: "a\"b\\c" d; sed -E "s/\"Starttime\": [0-9.]+, \"JobRuntime\": [0-9.]+/T/" o.json'
same results_csv_stdout 'par -k -j1 --results -.csv "echo {}; echo e >&2" ::: a 2>&1 | sed -E "s/^([0-9]+,[^,]*,)[0-9.]+,[0-9.]+,/\1T,T,/"'
same results_replacement_in_path "par -k --results 'r/{}/x' echo ::: a b; find r | sort"
same jobs_from_file "echo 1 > jf; par -k -j jf echo ::: a b c"
same delimiter_crlf "printf 'a\r\nb\r\n' | par -k -d '\r\n' echo {}x"
same delimiter_blank_line "(seq 3; echo; seq 4) | par -k -d '\n\n' --tagstring {#} echo ABC';'echo"
same delimiter_space_splits_values "par -k -d ' ' echo ::: 'a b' c"
same delimiter_letter "echo line 1Nline 2Nline 3 | par -k -d N echo This is"
same delimiter_nul "printf 'l 1\0l 2\0l 3' | par -k -d '\0' echo"
same delimiter_tab "printf 'l 1\tl 2\tl 3' | par -k --delimiter '\t' echo"
same header_crlf "printf 'a\r\nx\r\ny\r\n' | par -k --header : echo {a}"
same link_plus "par -k echo ::: a b c :::+ 1 2 3 ::: X Y"
same link_plus_two "par -k echo ::: a b :::+ 1 2 :::+ x y"
same link_plus_shorter "par -k echo ::: a b c :::+ 1 2"
same link_plus_file_only "printf 'a\nb\n' > f; par -k echo ::::+ f"
same link_file_plus "printf 'a\nb\n' > f; par -k echo ::: 1 2 ::::+ f"
same exact_zero_args "seq 1 2 | par -k -N0 echo N0"
same exact_zero_args_cmdline "par -k -N0 echo args on cmdline ::: 1 2"
same exact_zero_replace "seq 1 2 | par -k -N0 echo replace {} curlies"
same max_args_zero "seq 1 2 | par -k -n0 echo n0"
same context_two_sources "par -k -j1 -X echo {}-{.} ::: a.x b.y ::: c.z"
same newline_in_replacement "par -k 'echo {1
}' ::: a"
same pipe_no_run_if_empty "printf ' \nA\n \n\nB\n\n ' | par -N1 --pipe -r -k 'echo {#};cat;echo {#}'"
same pipe_first_seq_slot "seq 3 | par -j1 --pipe -N1 -k 'echo {#} {%}; cat'"
same verbose_on_stdout "par -k -j1 -v echo ::: a b"
same verbose_tagged "par -k -j1 -v --tagstring T{} echo ::: a b"
same verbose_t_on_stderr "(echo b; echo c) | par -k -j1 -t echo {}ar 2>&1 >/dev/null"
same line_buffer_closed "seq 100000 | par -j2 --pipe --line-buffer cat | head -n 2"
same line_buffer_endless_jobs_closed "par --lb -j2 yes ::: 1 2 | head -n 1 | wc -l"
same line_buffer_long_lines "par -k --lb -j2 \"head -c 20000000 /dev/zero | tr '\\\\0' a; echo\" ::: 1 2 | wc -c"
same nul_in_input "printf 'foo\0bar\n' | par -k echo | od -c"
differ nul_in_input_warning "parmill's one warning names the input (its number and source) that holds the NUL; GNU parallel's three lines do not" \
  "printf 'foo\0bar\n' | par -k echo 2>&1 >/dev/null | norm"
# --- drawn from GNU parallel's own test suite (parallel-local-*.sh), options parmill supports ---
same arg_file "seq 1 5 > f; par -k -a f echo; par -k --arg-file f echo"
same empty_values_r "par -k -r echo ::: foo '' ole bar"
same blank_line_r "echo '  ' | par -r echo"
same negative_replacement "par -X -j1 -N 6 echo {-1}orrec{1} ::: t B X D E c"
same negative_exact "par -N 6 echo {-1}orrect ::: A B X D E c"
same colsep_arithmetic "par --colsep ' ' echo '{2} + {4} = {2} + {-1}=' '\$(( {2} + {-1} ))' ::: '1 2 3 4'"
same colsep_negative "par --colsep ' ' echo '{-3}orrect' ::: '1 c 3 4'"
same utf8_paths "printf '%s\n' \"中国 (Zhōngguó)/China's (中国) road.jpg\" '中国.(中国)' '/tmp/t-{.}-p/s/f{.}.x}}' | par -k echo {} {.}"
same seq_of_product "par -k echo {#} ::: 1 2 ::: 1 2"
same dry_run_no_joblog "par --dry-run --joblog - echo ::: Only_this"
same max_procs_plus0 "seq 1 3 | par -k --max-procs +0 echo max proc"
same max_procs_percent "seq 1 3 | par -k -P 200% echo proc"
same pipe_float_block "seq 5 | par --block 3.1 --pipe wc"
same pipe_small_blocks "seq 3 | par -j30 -k --pipe --block-size 10 'cat;echo o'"
same pipe_to_function "myfunc() { echo \$1; cat; }; export -f myfunc; echo pipefunc OK | par --pipe myfunc {#}"
same resume_keep_order "par -k --resume --joblog log echo job{}id\\;exit {} ::: 0 1 2 3 0 5; echo again; par -k --resume --joblog log echo job{}id\\;exit {} ::: 0 1 2 3 0 5; echo more; par -k --resume --joblog log echo job{}id\\;exit 0 ::: 0 1 2 3 0 5 6 7"
same resume_failed "par -k --joblog log 'echo {}; exit {}' ::: 0 1 0 2; par -k --resume-failed --joblog log 'echo again {}; exit 0' ::: 0 1 0 2"
same exit_status_count "par -k 'exit {}' ::: 0 1 2 3"
same exit_status_101 "seq 150 | par -j4 false"
same tag "par -k --tag echo ::: a b ::: 1 2"
same tagstring "par -k --tagstring '{1}-{2}' echo ::: a b ::: 1 2"
same keep_order "par -k -j4 'sleep 0.0{}; echo {}' ::: 3 2 1"
same modifiers "par -k echo {} {.} {/} {//} {/.} ::: dir/sub/file.tar.gz file ./a.b"
same positional_modifiers "par -k echo {1/.} {2//} ::: a/b.c ::: d/e.f"
same quote_q "par -k -q printf '%s|\n' ::: 'a b' 'c;d'"
same quoting_hostile "par -k echo ::: 'a b' '\$HOME' '\`x\`' \"it's\" '*' '-n'"
same multiple_m "seq 1 5 | par -k -j1 -m echo a{}b"
same context_X "seq 1 5 | par -k -j1 -X echo a{}b"
same max_args_n "seq 1 7 | par -k -j1 -n 3 echo"
same exact_N "seq 1 7 | par -k -j1 -N 3 echo {1}-{2}-{3}"
same link_option "par -k --link echo ::: a b c ::: 1 2"
same no_command "printf 'echo one\necho two\n' | par -k"
same seq_env "par -k -j1 'echo \$PARALLEL_SEQ \$PARALLEL_JOBSLOT' ::: a b"
same retries "par -k --retries 3 'echo try; false' ::: a"
same timeout_kills "par --timeout 0.5 'sleep 5; echo late' ::: a"
same null_input "printf 'a b\0c\nd\0' | par -k -0 echo"
same shuf_all_run "par --shuf echo ::: 1 2 3 4 | sort"
same dry_run "par -k --dry-run echo {} ::: 'a b' c"
same pipe_N "seq 10 | par -k -N 3 --pipe wc -l"
same pipe_block "seq 100000 | par -k --pipe --block 100k wc -l"
same ungroup "par -u -j1 echo ::: a b"
same line_buffer_tag "par -k -j1 --line-buffer --tag 'echo 1; echo 2' ::: a"
same command_not_found "par no-such-command-xyz ::: a; echo \$?"
same group_stderr "par -k 'echo out{}; echo err{} >&2' ::: 1 2 2>&1"
same colsep_captures "par --colsep '(,)' echo {1}:{2}:{3} ::: 'a,b'"
same colsep_trim "par --colsep , echo '[{1}][{2}]' ::: ' a , b '"
same header_named_columns "printf 'x y\n1 2\n' | par --header : --colsep ' ' echo {y}{x}"

same tagstring_verbose_X "par -j1 -X -v --tagstring a{}b echo ::: 3 4"
same tagstring_verbose_seq "par -j1 -k -v --tagstring ajob{#}b echo job{#} ::: 3 4"
same verbose_quotes_redirect "echo '>' | par -v echo; par -v echo ::: '>'; (echo '>'; echo 2) | par -j1 -vX echo"
same verbose_input_is_command "echo 'echo | wc -l' | par -v; par -kv ::: 'echo a b c | wc -w' 'echo a b | wc -w'"
same keep_order_slow_first "par -k ::: 'sleep 0.3; echo 1' 'echo 2' 'echo 3' 'echo 4'"
same exact_two_positional "seq 1 2 | par -k -N2 echo {1} {2}"
same link_two_files "seq 11 12 > a; seq 1 3 > b; par --link -k -a a -a b echo"
same colsep_regex_columns "par -k -C %+ echo '\"{1}_{3}_{2}_{4}\"' ::: 'a% c %%b' 'a%c% b %d'; par -k -C %+ echo {4} ::: 'a% c %%b'"
same colsep_long_lines "perl -e '\$a = \"X\" x 300000; print join(\"\\t\", \$_, \$a, \"\$_/\$a.\$a\"), \"\\n\" for qw(a b c)' | par -k --colsep '\t' echo {1} {3//} | cut -c 1-20"
same X_basename_modifiers "par -j1 -k -X echo {/} {/.} ::: /a/b.c a/b.c b.c /a/b a/b b"
same X_positional_modifiers "par -j1 -k -X echo {2/.} {2/} {2.} ::: /a/n1.c a/n2.c n3.c /a/n4 a/n5 n6"
same files_and_values_mixed "seq 6 7 > s1; seq 4 5 > s2; seq 1 3 > s3; par -k echo {1} {2} {3} :::: s1 ::: 4 5 ::: 1 2 3; par -k echo {1} {2} {3} :::: s1 s2 :::: s3; par -k -a s1 echo {1} {2} {3} :::: s2 :::: s3; seq 6 7 | par -k -a - -a s2 echo {1} {2} {3} ::: 1 2 3"
same job_numbers "seq 1 10 | par -k echo {#}"
# The jobs read their input: GNU parallel fails a --pipe job at random when it exits before its
# block is written (parmill does not), which is timing, not behaviour.
same pipe_seq_slot_quoted "echo foo | par -q --pipe -k sh -c 'cat >/dev/null; echo \$0' {#}; echo foo | par --pipe -k 'cat >/dev/null; echo {%}'"
same pipe_first_slot_many_jobs "echo foo | par -j8 --pipe 'cat >/dev/null; echo {#} {%}'"
same replacement_is_the_program "echo s /bin/ls | par l{} >/dev/null; echo \$?; echo ls /bin/sh | par {}; echo ls /bin/sh | par"
same m_versus_X "(echo foo; echo bar; echo joe.gif) | par -j1 -km echo 1{}2{.}3 A{.}B{.}C; (echo foo; echo bar; echo joe.gif) | par -j1 -kX echo 1{}2{.}3 A{.}B{.}C"
same m_versus_X_many "seq 1 6 | sed 's/\$/.gif/' | par -j1 -km echo a{}b{.}c{.}; seq 1 6 | sed 's/\$/.gif/' | par -j1 -kX echo a{}b{.}c{.}"
same quote_X_modifier "echo a | par -qX echo \"'\"{.}\"' \"; echo a | par -qX echo \"'{.}'\""
same shells_quote_nul_input "for sh in bash sh dash; do printf '\"#&/\\n()*=?'\"'\" | PARALLEL_SHELL=/bin/\$sh par -0 echo; done"
same pipe_r_blank_input "echo | par -r -j2 -N1 --pipe md5sum -c && echo OK"
same halt_now_fail_signal "par -j1 --halt now,fail=1 'kill -9 \$\$' ::: a"
same halt_done_percent "par -j1 --halt soon,done=50% 'exit {}' ::: 1 0 0 0"
same halt_success_percent "par -j1 --halt soon,success=50% 'echo {}; exit {}' ::: 1 0 1 0 1 1"

if [ "$failed" -ne 0 ]; then
  echo "gnu_compat: $failed case(s) differ, $passed match, $expected deliberate difference(s)"
  exit 1
fi
echo "gnu_compat: all $passed cases match GNU parallel ($expected deliberate difference(s) not compared)"
