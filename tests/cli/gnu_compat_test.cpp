// Differences from GNU parallel 20221122 found by tests/cli/gnu_compat.sh (issue 15, point 9),
// each pinned by a test. Every expected output is what /usr/bin/parallel 20221122 printed for the
// same invocation when the test was written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
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

void write_file(const std::string& path, const std::string& text) {
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
