// The parmill command run as users run it. Expected outputs are what GNU parallel 20221122 prints
// for the same invocation (checked by hand against it when each test was written).
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <regex>
#include <spawn.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job_runner.hpp"
#include "run_helpers.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;

using parmill_test::lines;
using parmill_test::ran;
using parmill_test::scratch;

/// Runs the built parmill with `args`, `input` on its standard input, and waits for it.
ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class Command : public ::testing::TestWithParam<int> {
protected:
  std::string jobs() const { return "-j" + std::to_string(GetParam()); }
};

} // namespace

INSTANTIATE_TEST_SUITE_P(Jobs, Command, ::testing::Values(1, 2, 8));

// --- inputs -----------------------------------------------------------------------------------

TEST_P(Command, SeveralSourcesGiveTheCrossProductFirstVaryingSlowest) {
  const ran r = run_parmill({jobs(), "-k", "echo", ":::", "a", "b", "c", ":::", "1", "2"});
  EXPECT_EQ(r.out, "a 1\na 2\nb 1\nb 2\nc 1\nc 2\n");
  EXPECT_EQ(r.status, 0);
}

TEST_P(Command, LinkWrapsShorterSourcesAndPlusStopsAtTheShortest) {
  EXPECT_EQ(run_parmill({jobs(), "-k", "--link", "echo", ":::", "a", "b", "c", ":::", "1", "2"}).out,
            "a 1\nb 2\nc 1\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "echo", ":::", "a", "b", "c", ":::+", "1", "2", ":::", "X", "Y"}).out,
            "a 1 X\na 1 Y\nb 2 X\nb 2 Y\n");
}

TEST_P(Command, ReadsStandardInputByDefaultAndFilesWithFourColonsOrDashA) {
  scratch s;
  write_file(s / "f", "x\ny\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "echo"}, "a\nb\n").out, "a\nb\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "echo", "::::", s / "f", ":::", "1"}).out, "x 1\ny 1\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-a", s / "f", "echo"}).out, "x\ny\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "echo", "::::", "-"}, "s\n").out, "s\n");
}

// `(echo a; sleep 2; echo b) | parmill echo` once printed `a` only when `b` came: a job started
// only once the next input could be read. Here the input's writer waits for job a's output.
TEST_P(Command, AJobStartsAsSoonAsItsInputIsReadNotWhenTheNextInputIs) {
  int in[2], out[2];
  ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  parmill_test::background parmill{
      parmill_test::start_program({PARMILL_BINARY, jobs(), "echo"}, {.in = in[0], .out = out[1], .err = -1})};
  ::close(in[0]);
  ::close(out[1]);
  ASSERT_GT(parmill.pid, 0);
  ASSERT_EQ(::write(in[1], "a\n", 2), 2);
  const auto patience = std::chrono::seconds(5);
  EXPECT_EQ(parmill_test::read_lines(out[0], 1, std::chrono::steady_clock::now() + patience),
            std::vector<std::string>{"a"})
      << "job a did not run while the next input was still to come";
  ASSERT_EQ(::write(in[1], "b\n", 2), 2);
  ::close(in[1]);
  EXPECT_EQ(parmill_test::read_lines(out[0], 1, std::chrono::steady_clock::now() + patience),
            std::vector<std::string>{"b"});
  EXPECT_EQ(parmill.wait(), 0);
  ::close(out[0]);
}

TEST_P(Command, DelimitersNullAndEmptyInputs) {
  EXPECT_EQ(run_parmill({jobs(), "-k", "-0", "printf", "[%s]\\\\n"}, std::string("a\nb\0c\0", 6)).out,
            "[a\nb]\n[c]\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-d", ",", "echo"}, "a,b").out, "a\nb\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "echo", "x{}y"}, "a\n\nb\n").out, "xay\nxy\nxby\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-r", "echo", "x{}y"}, "a\n\nb\n").out, "xay\nxby\n");
  EXPECT_EQ(run_parmill({jobs(), "echo", "x"}, "").out, "");
}

TEST_P(Command, ColsepSplitsAtARegularExpressionAndTrims) {
  EXPECT_EQ(run_parmill({jobs(), "-k", "--colsep", ",", "echo", "[{1}][{2}]"}, "a  b ,  c\n d,e\n").out,
            "[a  b][c]\n[d][e]\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "--colsep", ":+", "echo", "[{1}][{2}]"}, "a::b\n").out, "[a][b]\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "--colsep", ",", "--header", ":", "echo", "{name}-{age}-{1}"},
                        "name,age\nbob,3\nal,4\n")
                .out,
            "bob-3-bob\nal-4-al\n");
  EXPECT_EQ(run_parmill(
                {jobs(), "-k", "--header", ":", "echo", "{a}{b}", ":::", "a", "1", "2", ":::", "b", "x", "y"})
                .out,
            "1x\n1y\n2x\n2y\n");
}

// --- replacement strings and quoting -----------------------------------------------------------

TEST(CommandTemplates, ReplacementStringsAsGnuParallel) {
  EXPECT_EQ(run_parmill({"-j1", "-k", "echo", "{.}", "{/}", "{//}", "{/.}", "{#}",
                         ":::", "dir/sub/file.tar.gz", "plain", "/abs.x"})
                .out,
            "dir/sub/file.tar file.tar.gz dir/sub file.tar 1\nplain plain . plain 2\n/abs abs.x / abs 3\n");
  EXPECT_EQ(run_parmill({"-k", "echo", "{1}", "{2}", "{-1}", "{1.}", ":::", "a.x", "b", ":::", "c", "d"}).out,
            "a.x c c a\na.x d d a\nb c c b\nb d d b\n");
}

TEST(CommandTemplates, DryRunQuotesAsGnuParallel) {
  const ran r =
      run_parmill({"--dry-run", "echo", ":::", "a b", "it's", "$x", "-n", "*", "\xc3\xbc", "'", "plain.txt"});
  EXPECT_EQ(r.out,
            "echo 'a b'\necho 'it'\"'\"'s'\necho '$x'\necho -n\necho '*'\necho '\xc3\xbc'\necho \"'\"\n"
            "echo plain.txt\n");
}

TEST(CommandTemplates, DryRunRunsNothing) {
  scratch s;
  EXPECT_EQ(run_parmill({"--dry-run", "touch", s / "made"}).status, 0);
  EXPECT_FALSE(fs::exists(s / "made"));
}

TEST_P(Command, MultipleInputsPerJob) {
  EXPECT_EQ(run_parmill({jobs(), "-k", "-n2", "echo", ":::", "a", "b", "c", "d", "e"}).out, "a b\nc d\ne\n");
  // -n joins the inputs where {} is; -N and -X repeat the word around it; a missing column vanishes.
  EXPECT_EQ(run_parmill({jobs(), "-k", "-n2", "echo", "x{}y", ":::", "a", "b", "c", "d"}).out,
            "xa by\nxc dy\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-n2", "-X", "echo", "x{}y", ":::", "a", "b", "c"}).out,
            "xay xby\nxcy\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-N3", "echo", "{2}", "{-1}", ":::", "a", "b", "c", "d"}).out,
            "b c\nd\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-N2", "echo", "{1}-{2}", ":::", "a", "b", "c", "d", "e"}).out,
            "a-b\nc-d\ne-\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-N0", "echo", "foo", ":::", "a", "b"}).out, "foo\nfoo\n");
  EXPECT_EQ(run_parmill({"-j1", "-k", "-X", "echo", "pre{}post", ":::", "a", "b", "c"}).out,
            "preapost prebpost precpost\n");
  EXPECT_EQ(run_parmill({"-j1", "-k", "-m", "echo", "pre{}post", ":::", "a", "b", "c"}).out,
            "prea b cpost\n");
  EXPECT_EQ(run_parmill({"-j2", "-k", "-X", "echo", ":::", "a", "b", "c", "d", "e"}).out, "a b c\nd e\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "-m", "-n2", "echo", "x{}", ":::", "a", "b", "c"}).out, "xa b\nxc\n");
}

TEST_P(Command, AnyFileNameReachesTheJobAsOneArgumentAndIsNeverExecuted) {
  scratch s;
  const std::vector<std::string> names{"a b",   "it's",   "$HOME",     "`touch pwned`", "x;touch pwned",
                                       "-n",    "*",      "new\nline", "\xff\xfe",      "tab\tx",
                                       "\"q\"", "\\back", "{}",        "a'b\"c",        "$(touch pwned)",
                                       " lead", "trail ", "~"};
  std::string list;
  for (const std::string& n : names)
    list += n + '\0';
  std::string expected;
  for (const std::string& n : names)
    expected += "[" + n + "]";
  // Direct (no shell) and through the shell, with the names on standard input and in a file.
  write_file(s / "list", list);
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"printf", "[%s]"}, {"printf '[%s]' {}; true"}, {"-q", "printf", "[%s]"}}) {
    std::vector<std::string> args{jobs(), "-k", "-0"};
    args.insert(args.end(), command.begin(), command.end());
    const ran from_stdin = run_parmill(args, list);
    EXPECT_EQ(from_stdin.out, expected) << command[0];
    args.insert(args.end(), {"::::", s / "list"});
    EXPECT_EQ(run_parmill(args).out, expected) << command[0];
  }
  for (const std::string& n : names)
    write_file(s / n, "<" + n + ">");
  std::string contents;
  for (const std::string& n : names)
    contents += "<" + n + ">";
  const ran cat = run_parmill({jobs(), "-k", "-0", "cat", "--", s.dir.string() + "/{}"}, list);
  EXPECT_EQ(cat.out, contents);
  EXPECT_FALSE(fs::exists("pwned"));
  EXPECT_FALSE(fs::exists(s / "pwned"));
}

TEST_P(Command, JobsSeeTheirSequenceAndSlotAndAnEmptyStandardInput) {
  const ran r = run_parmill({jobs(), "-k", "echo $PARALLEL_SEQ {#} {}; cat", ":::", "a", "b", "c"},
                            "not for the jobs\n");
  EXPECT_EQ(r.out, "1 1 a\n2 2 b\n3 3 c\n");
  const ran slots =
      run_parmill({jobs(), "echo $PARALLEL_JOBSLOT {%}", ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
  for (const std::string& line : lines(slots.out)) {
    const int slot = std::stoi(line.substr(0, line.find(' ')));
    EXPECT_GE(slot, 1);
    EXPECT_LE(slot, GetParam());
    EXPECT_EQ(line.substr(0, line.find(' ')),
              line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1));
  }
  EXPECT_EQ(lines(slots.out).size(), 9U);
}

TEST_P(Command, WithNoCommandEachInputIsACommand) {
  EXPECT_EQ(run_parmill({jobs(), "-k", ":::", "echo a", "echo b; echo c"}).out, "a\nb\nc\n");
  EXPECT_EQ(run_parmill({jobs(), "-k"}, "echo x\necho y\n").out, "x\ny\n");
}

TEST_P(Command, EveryJobRunsOnceWhateverTheOrder) {
  std::vector<std::string> args{jobs(), "echo", ":::"};
  for (int i = 0; i < 500; ++i)
    args.push_back(std::to_string(i));
  auto out = lines(run_parmill(args).out);
  std::vector<std::string> expected(args.begin() + 3, args.end());
  std::sort(out.begin(), out.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(out, expected);
}

// --- --pipe -------------------------------------------------------------------------------------

TEST_P(Command, PipeCutsStandardInputIntoRecordsOrBlocks) {
  std::string numbers;
  for (int i = 1; i <= 10; ++i)
    numbers += std::to_string(i) + "\n";
  EXPECT_EQ(run_parmill({jobs(), "-k", "--pipe", "-N3", "wc", "-l"}, numbers).out, "3\n3\n3\n1\n");
  std::string many;
  for (int i = 1; i <= 100000; ++i)
    many += std::to_string(i) + "\n";
  EXPECT_EQ(run_parmill({jobs(), "-k", "--pipe", "--block", "100k", "wc", "-l"}, many).out,
            "18517\n16666\n16666\n16666\n16666\n14819\n");
  const ran whole = run_parmill({jobs(), "-k", "--pipe", "--block", "10k", "cat"}, many);
  EXPECT_EQ(whole.out, many); // nothing lost, nothing split inside a record
}

// --- output ------------------------------------------------------------------------------------

TEST_P(Command, GroupedOutputIsNeverInterleavedAndKeepsStandardErrorApart) {
  const ran r =
      run_parmill({jobs(), "for i in $(seq 300); do echo {}; echo e{} >&2; done", ":::", "a", "b", "c", "d"});
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 1200U);
  for (std::size_t block = 0; block < 4; ++block)
    for (std::size_t i = 1; i < 300; ++i)
      EXPECT_EQ(out[block * 300 + i], out[block * 300]);
  const auto err = lines(r.err);
  ASSERT_EQ(err.size(), 1200U);
  for (const std::string& line : err)
    EXPECT_EQ(line[0], 'e');
}

TEST_P(Command, LineBufferAndUngroupPrintWholeOutputs) {
  for (const char* mode : {"--line-buffer", "-u"}) {
    const ran r = run_parmill({jobs(), mode, "for i in 1 2 3; do echo {}$i; done", ":::", "a", "b"});
    auto out = lines(r.out);
    std::sort(out.begin(), out.end());
    EXPECT_EQ(out, (std::vector<std::string>{"a1", "a2", "a3", "b1", "b2", "b3"})) << mode;
  }
}

TEST_P(Command, TagAndTagstringPrefixEveryLine) {
  EXPECT_EQ(run_parmill({jobs(), "-k", "--tag", "echo", ":::", "a", "b", ":::", "1"}).out,
            "a 1\ta 1\nb 1\tb 1\n");
  EXPECT_EQ(run_parmill({jobs(), "-k", "--tagstring", "<{}>", "echo x; echo y", ":::", "a"}).out,
            "<a>\tx\n<a>\ty a\n");
}

TEST(CommandOutput, ResultsSavesEachJobsOutputInGnuParallelsLayout) {
  scratch s;
  const ran r = run_parmill({"--results", s / "res", "echo", ":::", "a b", "c/d", ":::", "1"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_file(s / "res/1/a b/2/1/stdout"), "a b 1\n");
  EXPECT_EQ(read_file(s / "res/1/c\\_d/2/1/stdout"), "c/d 1\n");
  EXPECT_EQ(read_file(s / "res/1/c\\_d/2/1/stderr"), "");
  EXPECT_TRUE(fs::exists(s / "res/1/a b/2/1/seq"));
}

// --- failures ----------------------------------------------------------------------------------

TEST_P(Command, TheExitStatusCountsFailedJobsUpTo101) {
  EXPECT_EQ(run_parmill({jobs(), "exit {}", ":::", "0", "1", "2", "0", "3"}).status, 3);
  std::vector<std::string> args{jobs(), "false", ":::"};
  for (int i = 0; i < 120; ++i)
    args.push_back(std::to_string(i));
  EXPECT_EQ(run_parmill(args).status, 101);
}

TEST(CommandFailures, HaltAsGnuParallel) {
  struct row {
    std::vector<std::string> args;
    std::string out;
    int status;
  };
  const std::vector<row> rows{
      {{"--halt", "now,fail=1", "echo {}; exit {}", ":::", "0", "3", "0", "0"}, "0\n3\n", 3},
      {{"--halt", "soon,fail=2", "echo {}; exit {}", ":::", "0", "3", "4", "0", "5"}, "0\n3\n4\n", 2},
      {{"--halt", "soon,fail=1", "exit {}", ":::", "0", "7", "0"}, "", 7},
      {{"--halt", "now,success=1", "echo {}; exit {}", ":::", "1", "0", "2"}, "1\n0\n", 0},
      {{"--halt", "now,done=2", "echo {}; exit {}", ":::", "1", "0", "2"}, "1\n0\n", 1},
      {{"--halt", "soon,fail=50%", "echo {}; exit {}", ":::", "1", "1", "0", "0"}, "1\n1\n", 50},
      {{"--halt", "2", "echo {}; exit {}", ":::", "0", "4", "0"}, "0\n4\n", 4},
  };
  for (const row& r : rows) {
    std::vector<std::string> args{"-j1"};
    args.insert(args.end(), r.args.begin(), r.args.end());
    const ran got = run_parmill(args);
    EXPECT_EQ(got.out, r.out) << r.args[1];
    EXPECT_EQ(got.status, r.status) << r.args[1];
  }
}

TEST_P(Command, HaltNowKillsTheRunningJobs) {
  const ran r =
      run_parmill({jobs(), "--halt", "now,fail=1", "if [ {} = x ]; then exit 1; else exec sleep 60; fi",
                   ":::", "x", "s1", "s2", "s3"});
  EXPECT_EQ(r.status, 1);
}

TEST_P(Command, RetriesRunAFailingJobAgain) {
  scratch s;
  // Fails twice, then succeeds: the count of attempts is kept in a file.
  const std::string flaky = "n=$(cat " + s / "count" + " 2>/dev/null || echo 0); n=$((n+1)); echo $n > " +
                            s / "count" + "; echo try$n; [ $n -ge 3 ]";
  EXPECT_EQ(run_parmill({jobs(), "--retries", "2", flaky + " #", ":::", "a"}).status, 1);
  fs::remove(s / "count");
  const ran r = run_parmill({jobs(), "--retries", "3", flaky + " #", ":::", "a"});
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "try3\n"); // only the last attempt's output
}

TEST_P(Command, TimeoutKillsALateJobAndRecordsIt) {
  scratch s;
  const auto started = std::chrono::steady_clock::now();
  // The limit leaves the fast job time to start a shell on a loaded machine under a sanitizer.
  const ran r = run_parmill({jobs(), "--timeout", "3", "--joblog", s / "log", "-k",
                             "if [ {} = slow ]; then exec sleep 60; fi; echo {}", ":::", "fast", "slow"});
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "fast\n");
  EXPECT_NE(r.err.find("timed out"), std::string::npos);
  const auto log = lines(read_file(s / "log"));
  ASSERT_EQ(log.size(), 3U);
  EXPECT_NE((log[1] + "\n" + log[2]).find("\t-1\t15\tif [ slow"), std::string::npos) << log[1] << "\n"
                                                                                     << log[2];
}

TEST(CommandFailures, ATimeoutCanBeAPercentageOfTheMedianRuntime) {
  // The fast jobs take 0.5 s, so the limit (2.5 s) leaves 2 s for a shell slow to start.
  const ran r = run_parmill({"-j1", "--timeout", "500%", "-k",
                             "if [ {} = slow ]; then exec sleep 60; fi; sleep 0.5; echo {}", ":::", "a", "b",
                             "c", "d", "slow", "e"});
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "a\nb\nc\nd\ne\n");
}

TEST_P(Command, AJobLogInGnuParallelsFormat) {
  scratch s;
  EXPECT_EQ(run_parmill({jobs(), "--joblog", s / "log", "echo {}; exit {}", ":::", "0", "3"}).status, 1);
  const auto log = lines(read_file(s / "log"));
  ASSERT_EQ(log.size(), 3U);
  EXPECT_EQ(log[0], "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand");
  const std::regex row(R"((\d+)\t:\t\d{10}\.\d{3}\t +\d+\.\d{3}\t0\t2\t(\d+)\t0\techo (\d); exit \d)");
  std::set<std::string> seen;
  for (std::size_t i = 1; i < 3; ++i) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(log[i], m, row)) << log[i];
    EXPECT_EQ(m[2], m[3]);
    EXPECT_EQ(std::stoi(m[1]), std::stoi(m[3]) == 0 ? 1 : 2);
    seen.insert(m[1]);
  }
  EXPECT_EQ(seen.size(), 2U);
  EXPECT_EQ(log[1].substr(log[1].find('\t', log[1].find('\t', log[1].find('\t') + 1) + 1) + 1, 10).size(),
            10U);
}

TEST_P(Command, ResumeSkipsLoggedJobsAndResumeFailedRunsTheFailedOnesAgain) {
  scratch s;
  const std::string log = s / "log";
  EXPECT_EQ(run_parmill({jobs(), "--joblog", log, "-k", "echo {}; [ {} != b ] || [ -e " + s / "fixed" + " ]",
                         ":::", "a", "b", "c"})
                .status,
            1);
  EXPECT_EQ(
      run_parmill({jobs(), "--joblog", log, "--resume", "-k", "echo {}", ":::", "a", "b", "c", "d"}).out,
      "d\n");
  write_file(s / "fixed", "");
  const ran again =
      run_parmill({jobs(), "--joblog", log, "--resume-failed", "-k",
                   "echo {}; [ {} != b ] || [ -e " + s / "fixed" + " ]", ":::", "a", "b", "c", "d"});
  EXPECT_EQ(again.out, "b\n");
  EXPECT_EQ(again.status, 0);
  EXPECT_EQ(lines(read_file(log)).size(), 1U + 3 + 1 + 1); // one header, then one line per run job
}

TEST_P(Command, ACommandThatDoesNotExistFailsItsJobsClearly) {
  const ran r = run_parmill({jobs(), "no-such-command-anywhere", ":::", "a", "b"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("no-such-command-anywhere"), std::string::npos);
  EXPECT_NE(r.err.find("not found"), std::string::npos);
}

// --- bad invocations ---------------------------------------------------------------------------

TEST(CommandUsage, BadInvocationsExit255NamingTheProblemAndRunNothing) {
  scratch s;
  const std::string touch = "touch " + s / "ran";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--bogus", touch, ":::", "a"}, "--bogus"},
      {{"-j", "abc", touch, ":::", "a"}, "abc"},
      {{"--halt", "later,fail=1", touch, ":::", "a"}, "later,fail=1"},
      {{touch, "::::", s / "missing"}, "missing"},
      {{"-a", s / "missing", touch}, "missing"},
      {{"--timeout", "soon", touch, ":::", "a"}, "soon"},
      {{"--resume", touch, ":::", "a"}, "--joblog"},
      {{"--colsep", "(", touch, ":::", "a"}, "--colsep"},
  };
  for (const auto& [args, named] : cases) {
    const ran r = run_parmill(args);
    EXPECT_EQ(r.status, 255) << args[0];
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(s / "ran")) << args[0];
  }
}

TEST(CommandUsage, HelpCoversEveryOption) {
  const ran r = run_parmill({"--help"});
  EXPECT_EQ(r.status, 0);
  for (const char* option : {":::",
                             "::::",
                             ":::+",
                             "--link",
                             "-0",
                             "-d",
                             "--colsep",
                             "--header",
                             "-r",
                             "{.}",
                             "{/}",
                             "{//}",
                             "{/.}",
                             "{#}",
                             "{%}",
                             "-X",
                             "-m",
                             "-n",
                             "-N",
                             "-j",
                             "--delay",
                             "--shuf",
                             "--pipe",
                             "--block",
                             "--line-buffer",
                             "-u",
                             "-k",
                             "--tag",
                             "--tagstring",
                             "--results",
                             "--dry-run",
                             "--halt",
                             "--retries",
                             "--timeout",
                             "--joblog",
                             "--resume",
                             "--resume-failed",
                             "--bar",
                             "--eta",
                             "--progress",
                             "-q",
                             "PARALLEL_SEQ",
                             "PARALLEL_JOBSLOT"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
}

TEST(CommandOptions, ShufRunsEveryJobOnceAndDelaySpacesStarts) {
  const ran r = run_parmill({"--shuf", "echo", ":::", "1", "2", "3", "4", "5"});
  auto out = lines(r.out);
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_parmill({"-j4", "--delay", "0.1", "true", ":::", "1", "2", "3", "4"}).status, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
}

TEST(CommandOptions, ProgressBarEndsWithASummary) {
  for (const char* option : {"--bar", "--eta", "--progress"}) {
    const ran r = run_parmill({option, "true", ":::", "1", "2", "3"});
    EXPECT_EQ(r.status, 0) << option;
    EXPECT_NE(r.err.find("3"), std::string::npos) << option << ": " << r.err;
  }
}

// --- signals -----------------------------------------------------------------------------------

namespace {

/// Starts parmill in the background; its jobs report on `fifo`. With `error_fd`, its standard
/// error goes there.
pid_t start_parmill(const std::vector<std::string>& args, int error_fd = -1) {
  std::vector<std::string> all{PARMILL_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  if (error_fd >= 0) posix_spawn_file_actions_adddup2(&actions, error_fd, 2);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

int wait_status(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/// Reads `count` lines (process ids) from the fifo: each job writes one as it starts. The fifo is
/// opened for writing too, so that it never reads as ended between two jobs' writes.
std::vector<pid_t> read_pids(const std::string& fifo, std::size_t count) {
  const int fd = ::open(fifo.c_str(), O_RDWR);
  std::vector<pid_t> pids;
  std::string pending;
  char buffer[256];
  while (fd >= 0 && pids.size() < count) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      pids.push_back(std::stoi(pending.substr(0, newline)));
      pending.erase(0, newline + 1);
    }
  }
  if (fd >= 0) ::close(fd);
  return pids;
}

/// Kills a background parmill that a failed assertion left running, so the test cannot hang.
struct reaper {
  pid_t pid;
  bool waited = false;
  int wait() {
    waited = true;
    return wait_status(pid);
  }
  ~reaper() {
    if (!waited) {
      ::kill(pid, SIGKILL);
      wait_status(pid);
    }
  }
};

} // namespace

TEST_P(Command, InterruptOrTerminateKillsEveryRunningJobAndExits255) {
  for (int signal : {SIGINT, SIGTERM}) {
    scratch s;
    const std::string fifo = s / "fifo";
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    const std::size_t running = static_cast<std::size_t>(GetParam());
    // Each job reports its pid, then sleeps; one ignores TERM, so KILL must follow.
    const pid_t pid =
        start_parmill({jobs(), "if [ {} = 1 ]; then trap '' TERM; fi; echo $$ > " + fifo + "; sleep 60",
                       ":::", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"});
    reaper guard{pid};
    const auto jobs_pids = read_pids(fifo, running);
    ASSERT_EQ(jobs_pids.size(), running);
    ::kill(pid, signal);
    EXPECT_EQ(guard.wait(), 255);
    for (pid_t job : jobs_pids)
      EXPECT_NE(::kill(job, 0), 0) << "job " << job << " outlived parmill";
  }
}

TEST(CommandSignals, HangupStartsNoNewJobsAndWaitsForTheRunningOnes) {
  scratch s;
  const std::string fifo = s / "fifo", gate = s / "gate";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_EQ(mkfifo(gate.c_str(), 0600), 0);
  int error_pipe[2];
  ASSERT_EQ(::pipe2(error_pipe, O_CLOEXEC), 0);
  const pid_t pid =
      start_parmill({"-j1", "--joblog", s / "log", "echo $$ > " + fifo + "; read x < " + gate + " # {}",
                     ":::", "1", "2", "3"},
                    error_pipe[1]);
  ::close(error_pipe[1]);
  reaper guard{pid};
  ASSERT_EQ(read_pids(fifo, 1).size(), 1U);
  ::kill(pid, SIGHUP);
  // Wait until parmill says it has taken the hangup (the signal is handled on a thread of its own),
  // then let the running job finish: parmill must exit normally without starting job 2.
  std::string said;
  char buffer[256];
  while (said.find("SIGHUP received") == std::string::npos) {
    const ssize_t n = ::read(error_pipe[0], buffer, sizeof buffer);
    ASSERT_GT(n, 0) << "parmill ended without acknowledging SIGHUP: " << said;
    said.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(error_pipe[0]);
  std::ofstream(gate) << "go\n";
  EXPECT_EQ(guard.wait(), 0);
  EXPECT_EQ(lines(read_file(s / "log")).size(), 2U);
}
