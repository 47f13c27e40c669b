// Differences from GNU parallel 20221122 found by tests/cli/gnu_compat.sh (issue 15, point 9),
// each pinned by a test. Every expected output is what /usr/bin/parallel 20221122 printed for the
// same invocation when the test was written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "run_helpers.hpp"

namespace {

using parmill_test::ran;
using parmill_test::scratch;

/// Runs the built parmill with `args`, `input` on its standard input, and waits for it.
ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

[[maybe_unused]] void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

} // namespace

// --- a replacement string in the command's first word: the input is shell code ------------------

TEST(GnuCompat, WholeCommandReplacementRunsEachInputAsACommandLine) {
  const ran r = run_parmill({"-k", "{}", ":::", "echo x  y", "echo $((1+2))"});
  EXPECT_EQ(r.out, "x y\n3\n");
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(GnuCompat, ReplacementInTheFirstWordLeavesEveryValueUnquoted) {
  const ran r = run_parmill({"-k", "-j1", "{1} {2} | tr a-z A-Z", ":::", "echo a  b", ":::", "c  d"});
  EXPECT_EQ(r.out, "A B C D\n");
  const ran dry = run_parmill({"--dry-run", "{} | tr a-z A-Z", ":::", "echo ab"});
  EXPECT_EQ(dry.out, "echo ab | tr a-z A-Z\n");
}

TEST(GnuCompat, ReplacementAfterTheFirstWordOrInAnAssignmentIsStillQuoted) {
  EXPECT_EQ(run_parmill({"-k", "echo {}", ":::", "a  b"}).out, "a  b\n");
  EXPECT_EQ(run_parmill({"-k", "V={}; echo \"$V\"", ":::", "a  b"}).out, "a  b\n");
  EXPECT_EQ(run_parmill({"-k", "-q", "{}", ":::", "echo"}).out, "\n");
}

// --- --results: the seq file ---------------------------------------------------------------------

TEST(GnuCompat, ResultsSeqFileHoldsTheNumberWithoutANewline) {
  scratch s;
  const ran r = run_parmill({"-k", "--results", s / "res", "echo", ":::", "a", "b"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(s / "res/1/a/seq"), "1");
  EXPECT_EQ(read_file(s / "res/1/b/seq"), "2");
}

// --- --halt with a percentage: the exit status is the failed percentage, rounded up --------------

TEST(GnuCompat, HaltPercentNotReachedExitsWithThePercentageOfFailedJobs) {
  const ran r =
      run_parmill({"-j1", "--halt", "soon,fail=50%", "exit {}", ":::", "1", "1", "0", "0", "0", "0"});
  EXPECT_EQ(r.status, 34); // ceil(2 / 6 * 100)
}

TEST(GnuCompat, HaltPercentReachedExitsWithThePercentageRoundedUp) {
  EXPECT_EQ(run_parmill({"-j1", "--halt", "soon,fail=30%", "exit {}", ":::", "1", "1", "1", "0", "0", "0",
                         "0", "0", "0", "0"})
                .status,
            30);
  EXPECT_EQ(run_parmill({"-j1", "--halt", "soon,fail=90%", "exit {}", ":::", "1", "0", "0"}).status, 34);
}

TEST(GnuCompat, HaltOnFailuresNamesEveryFailedJob) {
  const ran r = run_parmill({"-j1", "-k", "--halt", "soon,fail=50%", "exit {}", ":::", "1", "0", "1", "0"});
  EXPECT_EQ(r.err, "parmill: This job failed:\nexit 1\nparmill: This job failed:\nexit 1\n");
  EXPECT_EQ(r.status, 50);
}

// --- the job log: +FILE appends, --jl; --result ----------------------------------------------------

/// The Seq and Command columns of each line of a job log, tab-separated, header included.
std::string seq_and_command(const std::string& log) {
  std::string out;
  for (const std::string& line : parmill_test::lines(log)) {
    const std::string_view view = line;
    out.append(view.substr(0, view.find('\t'))).append("\t");
    out.append(view.substr(view.rfind('\t') + 1)).append("\n");
  }
  return out;
}

TEST(GnuCompat, JoblogPlusFileAppendsToTheLog) {
  scratch s;
  EXPECT_EQ(run_parmill({"-j1", "--joblog", s / "log", "echo", ":::", "a"}).status, 0);
  const std::string appended = std::string("+").append(s / "log");
  const ran r = run_parmill({"-j1", "--joblog", appended, "echo", ":::", "b", "c"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(seq_and_command(read_file(s / "log")), "Seq\tCommand\n1\techo a\n1\techo b\n2\techo c\n");
}

TEST(GnuCompat, JlIsJoblogAndResultIsResults) {
  scratch s;
  const ran r = run_parmill({"-j1", "--jl", s / "log", "--result", s / "res", "echo", ":::", "a"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(seq_and_command(read_file(s / "log")), "Seq\tCommand\n1\techo a\n");
  EXPECT_EQ(read_file(s / "res/1/a/stdout"), "a\n");
}

// --- -v prints each command on standard output, with its job's output; -t on standard error -----

TEST(GnuCompat, VerbosePrintsTheCommandOnStandardOutputBeforeItsOutputInOrder) {
  const ran r = run_parmill({"-k", "-j2", "-v", "echo out{}; echo err{} >&2", ":::", "1", "2", "3"});
  EXPECT_EQ(r.out, "echo out1; echo err1 >&2\nout1\necho out2; echo err2 >&2\nout2\n"
                   "echo out3; echo err3 >&2\nout3\n");
  EXPECT_EQ(r.err, "err1\nerr2\nerr3\n");
}

TEST(GnuCompat, VerboseCommandIsTagged) {
  const ran r = run_parmill({"-k", "-v", "--tagstring", "T{}", "echo", ":::", "a", "b"});
  EXPECT_EQ(r.out, "Ta\techo a\nTa\ta\nTb\techo b\nTb\tb\n");
}

TEST(GnuCompat, VerboseWithUngroupedOrLineBufferedOutput) {
  EXPECT_EQ(run_parmill({"-j1", "-u", "-v", "echo", ":::", "a", "b"}).out, "echo a\na\necho b\nb\n");
  EXPECT_EQ(run_parmill({"-j1", "--lb", "-v", "echo", ":::", "a", "b"}).out, "echo a\na\necho b\nb\n");
}

TEST(GnuCompat, VerboseWithResultsOrDryRunPrintsEachCommandOnce) {
  scratch s;
  EXPECT_EQ(run_parmill({"-k", "-v", "--results", s / "res", "echo", ":::", "a", "b"}).out,
            "echo a\necho b\n");
  EXPECT_EQ(read_file(s / "res/1/a/stdout"), "a\n");
  EXPECT_EQ(run_parmill({"-k", "-v", "--dry-run", "echo", ":::", "a"}).out, "echo a\n");
}

TEST(GnuCompat, TraceAndLongVerbosePrintTheCommandOnStandardError) {
  for (const char* option : {"-t", "--verbose"}) {
    const ran r = run_parmill({"-k", "-j1", option, "echo", ":::", "a", "b"});
    EXPECT_EQ(r.out, "a\nb\n") << option;
    EXPECT_EQ(r.err, "echo a\necho b\n") << option;
  }
  const ran dry = run_parmill({"-t", "--dry-run", "echo", ":::", "a"});
  EXPECT_EQ(dry.out, "echo a\n");
  EXPECT_EQ(dry.err, "echo a\n");
}

// --- --results with replacement strings in its path -----------------------------------------------

TEST(GnuCompat, ResultsPathWithReplacementStringsNamesEachJobsFiles) {
  scratch s;
  const ran r = run_parmill({"-k", "--results", s / "r/{}/x", "echo {}; echo e{} >&2", ":::", "a", "b"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_file(s / "r/a/x"), "a\n");
  EXPECT_EQ(read_file(s / "r/a/x.err"), "ea\n");
  EXPECT_EQ(read_file(s / "r/a/x.seq"), "1");
  EXPECT_EQ(read_file(s / "r/b/x"), "b\n");
  EXPECT_EQ(read_file(s / "r/b/x.seq"), "2");
  EXPECT_FALSE(std::filesystem::exists(s / "r/{}"));
}

TEST(GnuCompat, ResultsPathWithReplacementStringsEndingInASlashIsADirectory) {
  scratch s;
  const ran r = run_parmill({"-k", "--results", s / "r/{#}/", "echo", ":::", "a"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(s / "r/1/stdout"), "a\n");
  EXPECT_EQ(read_file(s / "r/1/stderr"), "");
  EXPECT_EQ(read_file(s / "r/1/seq"), "1");
}

// --- -j FILE ---------------------------------------------------------------------------------------

TEST(GnuCompat, JobsFromAFile) {
  scratch s;
  write_file(s / "jobs", "1\n");
  const ran r = run_parmill({"-j", s / "jobs", "echo {%}", ":::", "a", "b", "c"});
  EXPECT_EQ(r.out, "1\n1\n1\n"); // one job slot
  EXPECT_EQ(r.status, 0) << r.err;
  write_file(s / "jobs", "nonsense\n");
  const ran bad = run_parmill({"-j", s / "jobs", "echo", ":::", "a"});
  EXPECT_EQ(bad.status, 255);
  EXPECT_NE(bad.err.find("-j"), std::string::npos) << bad.err;
}

// --- -d: several characters, and ::: values split at it ---------------------------------------------

TEST(GnuCompat, DelimiterOfSeveralCharacters) {
  EXPECT_EQ(run_parmill({"-k", "-d", "\\r\\n", "echo", "[{}]"}, "a\r\nb\nc\r\n").out, "[a]\n[b\nc]\n");
  EXPECT_EQ(run_parmill({"-k", "-d", "\\n\\n", "echo", "[{}]"}, "1\n2\n\n3\n").out, "[1\n2]\n[3\n]\n");
  EXPECT_EQ(run_parmill({"-k", "-d", "ab", "echo", "[{}]"}, "xabyab").out, "[x]\n[y]\n");
  EXPECT_EQ(run_parmill({"-k", "-d", "\\101", "echo", "[{}]"}, "xAy").out, "[x]\n[y]\n"); // octal
}

TEST(GnuCompat, CommandLineValuesAreSplitAtTheDelimiter) {
  EXPECT_EQ(run_parmill({"-k", "echo", "[{}]", ":::", "a\nb", "", "c\n"}).out, "[a]\n[b]\n[]\n[c]\n[]\n");
  EXPECT_EQ(run_parmill({"-k", "-d", " ", "echo", "[{}]", ":::", "a b", "c\nd"}).out, "[a]\n[b]\n[c\nd]\n");
  EXPECT_EQ(run_parmill({"-k", "-0", "echo", "[{}]", ":::", "a\nb"}).out, "[a\nb]\n");
}

// --- :::+ and ::::+ as the first source ---------------------------------------------------------

TEST(GnuCompat, LinkedSourceWithNothingBeforeItIsAPlainSource) {
  scratch s;
  write_file(s / "f", "a\nb\n");
  EXPECT_EQ(run_parmill({"-k", "echo", "::::+", s / "f"}).out, "a\nb\n");
  EXPECT_EQ(run_parmill({"-k", "echo", ":::+", "a", "b", ":::", "1"}).out, "a 1\nb 1\n");
}

// --- -N0 and -n0: one job per input, and replacement strings give nothing -------------------------

TEST(GnuCompat, ZeroArgumentsReplaceWithNothing) {
  EXPECT_EQ(run_parmill({"-k", "-N0", "echo", "x{}y", "{1}", "{#}"}, "a\nb\n").out, "xy 1\nxy 2\n");
  EXPECT_EQ(run_parmill({"-k", "-n0", "echo", "n0"}, "a\nb\n").out, "n0\nn0\n");
  EXPECT_EQ(run_parmill({"-k", "-n", "0", "echo", "x{}y"}, "a\nb\n").out, "xy\nxy\n");
}

// --- --header without --colsep: columns at tabs, not trimmed (a CR stays) -------------------------

TEST(GnuCompat, HeaderWithoutColsepSplitsAtTabsWithoutTrimming) {
  EXPECT_EQ(run_parmill({"-k", "--header", ":", "echo", "{a}"}, "a\r\nx\r\ny\r\n").out, "x\r\ny\r\n");
  EXPECT_EQ(run_parmill({"-k", "--header", ":", "echo", "{b}{a}"}, "a\tb\r\n x\ty\r\n").out, "y\r x\n");
  // An explicit --colsep trims, as GNU parallel's --colsep does.
  EXPECT_EQ(
      run_parmill({"-k", "--header", ":", "--colsep", "\\t", "echo", "{b}{a}"}, "a\tb\r\n x\ty\r\n").out,
      "yx\n");
}

// --- -X and -N repeat the word around {} once per value, columns and sources included -----------

TEST(GnuCompat, ContextReplaceRepeatsTheWordForEveryValueOfEveryInput) {
  EXPECT_EQ(run_parmill({"-k", "-j1", "-X", "echo", "{}-{.}", ":::", "a.x", "b.y", ":::", "c.z"}).out,
            "a.x-a c.z-c b.y-b c.z-c\n");
  EXPECT_EQ(run_parmill({"-k", "-X", "echo", "{}-{.}", ":::", "a.x", ":::", "c.z"}).out, "a.x-a c.z-c\n");
  EXPECT_EQ(run_parmill({"-k", "-N1", "echo", "{}-{.}", ":::", "a.x", ":::", "c.z"}).out, "a.x-a c.z-c\n");
  EXPECT_EQ(
      run_parmill({"-k", "-j1", "--colsep", ",", "-X", "echo", "{}-{.}", ":::", "a.x,c.z", "b.y,d.w"}).out,
      "a.x-a c.z-c b.y-b d.w-d\n");
  // Without -X or -N, and with -m or -n, the values are joined where {} is.
  EXPECT_EQ(run_parmill({"-k", "echo", "{}-{.}", ":::", "a.x", ":::", "c.z"}).out, "a.x c.z-a c\n");
  EXPECT_EQ(run_parmill({"-k", "-j1", "-n2", "echo", "{}-{.}", ":::", "a.x", "b.y", ":::", "c.z"}).out,
            "a.x c.z b.y c.z-a c b c\n");
}

// --- --pipe -r: lines made only of whitespace are removed; a block left empty is not a job ---------

TEST(GnuCompat, PipeNoRunIfEmptyRemovesBlankLines) {
  const ran r = run_parmill({"-N1", "--pipe", "-r", "-k", "echo {#};cat;echo {#}"}, " \nA\n \n\nB\n\n ");
  EXPECT_EQ(r.out, "1\nA\n1\n2\nB\n2\n3\n 3\n");
  EXPECT_EQ(run_parmill({"--pipe", "-r", "-k", "echo {#};cat;echo {#}"}, "\n \t\n\r\n").out, "");
  EXPECT_EQ(run_parmill({"--pipe", "-r", "-k", "cat"}, "a\n  \nb\n\n").out, "a\nb\n");
}

// --- {N} with whitespace before its brace ({1 }, or {1 and } split by a newline) ----------------

TEST(GnuCompat, PositionalReplacementMayHaveWhitespaceBeforeItsClosingBrace) {
  EXPECT_EQ(run_parmill({"-k", "echo {1\n}", ":::", "a"}).out, "a\n");
  EXPECT_EQ(run_parmill({"-k", "echo {1 } {-1\t}", ":::", "a", ":::", "b"}).out, "a b\n");
  EXPECT_EQ(run_parmill({"-k", "echo", "{ 1}", ":::", "a"}).out, "{ 1} a\n"); // not after the brace
}

// --- --line-buffer when the reader of its output goes away ------------------------------------------

TEST(GnuCompat, LineBufferStopsWhenItsOutputIsClosed) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  parmill_test::background parmill{
      parmill_test::start_program({PARMILL_BINARY, "--lb", "-j2", "yes", ":::", "1", "2"}, {.out = fds[1]})};
  ::close(fds[1]);
  const auto got =
      parmill_test::read_lines(fds[0], 3, std::chrono::steady_clock::now() + std::chrono::seconds(10));
  EXPECT_GE(got.size(), 3U);
  ::close(fds[0]); // as `| head -n 3` does
  const auto status = parmill.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value()) << "parmill --line-buffer went on after its output was closed";
  EXPECT_EQ(*status, 255);
}

// --- --results FILE.json / .csv / .tsv: one file, a record per job -------------------------------

/// `line` with the number after each of `keys` written as T.
std::string numbers_as_t(std::string line, const std::vector<std::string>& keys) {
  for (const std::string& key : keys)
    if (const auto at = line.find(key); at != std::string::npos) {
      const auto start = at + key.size();
      const auto end = std::min(line.find_first_not_of("0123456789.", start), line.size());
      std::string replaced(line, 0, start);
      replaced.push_back('T');
      replaced.append(line, end);
      line = std::move(replaced);
    }
  return line;
}

/// `text` with the Starttime and JobRuntime of each JSON object or CSV/TSV row written as T, so
/// that runs compare.
std::string without_times(const std::string& text) {
  std::string out;
  for (std::string line : parmill_test::lines(text)) {
    line = numbers_as_t(line, {"\"Starttime\": ", "\"JobRuntime\": "});
    const auto separator = line.find_first_of(",\t");
    if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0])) != 0 &&
        separator != std::string::npos) {
      const char sep = line[separator];
      const auto host_end = line.find(sep, separator + 1); // Seq, Host: then Starttime and JobRuntime
      if (host_end != std::string::npos) {
        const auto start_end = line.find(sep, host_end + 1);
        const auto runtime_end = start_end == std::string::npos ? start_end : line.find(sep, start_end + 1);
        if (runtime_end != std::string::npos) {
          std::string replaced(line, 0, host_end + 1);
          replaced.append(1, 'T').append(1, sep).append(1, 'T');
          replaced.append(line, runtime_end);
          line = std::move(replaced);
        }
      }
    }
    out += line + "\n";
  }
  return out;
}

TEST(GnuCompat, ResultsJsonWritesOneObjectPerJob) {
  scratch s;
  const ran r =
      run_parmill({"-k", "-j1", "--results", s / "out.json", "echo {}; echo e >&2", ":::", "a\"b", "c"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(
      without_times(read_file(s / "out.json")),
      "{ \"Seq\": 1, \"Host\": \":\", \"Starttime\": T, \"JobRuntime\": T, \"Send\": 0, \"Receive\": 4, "
      "\"Exitval\": 0, \"Signal\": 0, \"Command\": \"echo 'a\\\"b'; echo e >&2\", \"V\": [ \"a\\\"b\" ], "
      "\"Stdout\": \"a\\\"b\\u000a\", \"Stderr\": \"e\\u000a\" }\n"
      "{ \"Seq\": 2, \"Host\": \":\", \"Starttime\": T, \"JobRuntime\": T, \"Send\": 0, \"Receive\": 2, "
      "\"Exitval\": 0, \"Signal\": 0, \"Command\": \"echo c; echo e >&2\", \"V\": [ \"c\" ], "
      "\"Stdout\": \"c\\u000a\", \"Stderr\": \"e\\u000a\" }\n");
}

TEST(GnuCompat, ResultsCsvAndTsvWriteAHeaderThenOneRowPerJob) {
  scratch s;
  EXPECT_EQ(
      run_parmill({"-k", "-j1", "--results", s / "out.csv", "echo", ":::", "a", "b,\"c", ":::", "x"}).status,
      0);
  EXPECT_EQ(without_times(read_file(s / "out.csv")),
            "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,V2,Stdout,Stderr\n"
            "1,:,T,T,0,4,0,0,\"echo a x\",a,x,\"a x\n"
            "\",\n"
            "2,:,T,T,0,7,0,0,\"echo 'b,\"\"c' x\",\"b,\"\"c\",x,\"b,\"\"c x\n"
            "\",\n");
  EXPECT_EQ(run_parmill({"-k", "-j1", "--results", s / "out.tsv", "echo", ":::", "a"}).status, 0);
  EXPECT_EQ(without_times(read_file(s / "out.tsv")),
            "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\tV1\tStdout\tStderr\n"
            "1\t:\tT\tT\t0\t2\t0\t0\t\"echo a\"\ta\t\"a\n"
            "\"\t\n");
}

TEST(GnuCompat, ResultsDashCsvGoesToStandardOutputAlone) {
  const ran r = run_parmill({"-k", "--results", "-.csv", "echo {}; echo e >&2", ":::", "a"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(without_times(r.out),
            "Seq,Host,Starttime,JobRuntime,Send,Receive,Exitval,Signal,Command,V1,Stdout,Stderr\n"
            "1,:,T,T,0,2,0,0,\"echo a; echo e >&2\",a,\"a\n\",\"e\n\"\n");
}

// --- --joblog -: the log on standard output, each line after its job's output --------------------

TEST(GnuCompat, JoblogDashWritesTheLogOnStandardOutput) {
  const ran r = run_parmill({"-k", "-j1", "--joblog", "-", "echo", ":::", "a", "b"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(seq_and_command(r.out), "Seq\tCommand\na\ta\n1\techo a\nb\tb\n2\techo b\n");
  EXPECT_FALSE(std::filesystem::exists("-"));
}

// --- {%}: the lowest free job slot, so the first job is always in slot 1 -----------------------------

TEST(GnuCompat, FirstJobIsInSlotOne) {
  for (int run = 0; run < 10; ++run) {
    EXPECT_EQ(run_parmill({"-j8", "echo {%} $PARALLEL_JOBSLOT", ":::", "a"}).out, "1 1\n") << "run " << run;
    EXPECT_EQ(run_parmill({"-j8", "--pipe", "echo {#} {%}"}, "foo\n").out, "1 1\n") << "run " << run;
  }
}

TEST(GnuCompat, JobsOneAfterAnotherReuseSlotOne) {
  // Each input is written only once the job before it has printed (so has ended): slot 1 is free
  // each time, and {%} is the lowest free slot.
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  parmill_test::background parmill{
      parmill_test::start_program({PARMILL_BINARY, "-j4", "echo {%}"}, {.in = in[0], .out = out[1]})};
  ::close(in[0]);
  ::close(out[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const std::string value : {"a\n", "b\n", "c\n"}) {
    ASSERT_EQ(::write(in[1], value.data(), value.size()), static_cast<ssize_t>(value.size()));
    EXPECT_EQ(parmill_test::read_lines(out[0], 1, deadline), std::vector<std::string>{"1"}) << value;
  }
  ::close(in[1]);
  ::close(out[0]);
  const auto status = parmill.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

// --- --halt with --delay: a job waiting for its delay does not start once the run halts ------------

TEST(GnuCompat, HaltStopsJobsWaitingForTheirDelay) {
  // The delay is far longer than the first job can take, even under a sanitizer on a loaded machine
  // (a 1 s delay let the second job start before the first had failed, in CI under ASan). Without
  // the check after the delay, the second job would start once its delay ends and print 0 too.
  const ran r = run_parmill(
      {"-j2", "--delay", "60", "--halt", "soon,fail=1", "echo {}; exit {}", ":::", "1", "0", "0"});
  EXPECT_EQ(r.out, "1\n");
  EXPECT_EQ(r.status, 1);
}

// --- -k with --line-buffer: the first job's lines as they come, later jobs' after it ends -------------

TEST(GnuCompat, KeepOrderLineBufferPrintsTheFirstJobLiveAndNeverMixesJobs) {
  const scratch s;
  const std::string fifo = (s.dir / "go").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  // Job 1 prints a line, then waits for the test; job 2 runs to its end meanwhile.
  parmill_test::background parmill{
      parmill_test::start_program({PARMILL_BINARY, "-k", "--lb", "-j2",
                                   ":::", "echo a1; read x < " + fifo + "; echo a2", "echo b1; echo b2"},
                                  {.out = fds[1]})};
  ::close(fds[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const auto first = parmill_test::read_lines(fds[0], 1, deadline);
  EXPECT_EQ(first, std::vector<std::string>{"a1"}) << "the first job's line must come while it runs, alone";
  std::ofstream(fifo) << "\n"; // lets job 1 end
  const auto rest = parmill_test::read_lines(fds[0], 3, deadline);
  EXPECT_EQ(rest, (std::vector<std::string>{"a2", "b1", "b2"})) << "job 2's lines must wait for job 1's end";
  ::close(fds[0]);
  const auto status = parmill.wait(std::chrono::seconds(10));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}
