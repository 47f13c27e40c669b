// --results under hostile conditions (issue 14, point 5): a path that cannot be a directory, values
// too long for a file name, a save that fails. Expected layouts are what GNU parallel 20221122
// writes for the same invocation (checked by hand when each test was written).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "run_helpers.hpp"

namespace {

namespace fs = std::filesystem;
using parmill_test::exit_values;
using parmill_test::ran;
using parmill_test::scratch;

ran run_parmill(std::vector<std::string> args) {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), "");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace

TEST(Results, APathThatCannotBeADirectoryIsAnErrorBeforeAnyJob) {
  scratch s;
  { std::ofstream(s / "plain") << "a file\n"; }
  for (const std::string& dir : {s / "plain", s / "plain/under", std::string("/proc/self"),
                                 std::string("/proc/parmill-no-such-dir/results")}) {
    const ran r = run_parmill({"--results", dir, "touch " + (s / "ran-") + "{}", ":::", "a"});
    EXPECT_EQ(r.status, 255) << dir;
    EXPECT_EQ(r.err.rfind("parmill: Error: --results", 0), 0U) << dir << ": " << r.err;
    EXPECT_NE(r.err.find(dir), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(s / "ran-a")) << dir << ": a job ran";
  }
  EXPECT_EQ(read_file(s / "plain"), "a file\n");
}

// GNU parallel keeps each directory name within the longest the file system allows (255 bytes on
// ext4 and tmpfs) by cutting the quoted value there; shorter values are kept whole.
TEST(Results, AValueTooLongForAFileNameIsCutAsGnuParallelCutsIt) {
  scratch s;
  const std::string value = "a/" + std::string(298, 'b') + "\tc";
  const ran r = run_parmill({"-k", "--results", s / "res", "echo", ":::", value, "short"});
  EXPECT_EQ(r.status, 0) << r.err;
  const std::string quoted = "a\\_" + std::string(298, 'b') + "\\tc";
  const std::string cut = quoted.substr(0, 255);
  EXPECT_EQ(read_file(s / "res/1/" + cut + "/stdout"), value + "\n");
  EXPECT_EQ(read_file(s / "res/1/" + cut + "/seq"), "1"); // no newline, as in GNU parallel
  EXPECT_EQ(read_file(s / "res/1/short/stdout"), "short\n");
}

// A tab is saved as \t, as GNU parallel does, so that names stay readable in a listing.
TEST(Results, TabsAndBackslashesAreQuotedAsGnuParallelQuotesThem) {
  scratch s;
  const ran r = run_parmill({"--results", s / "res", "echo", ":::", "x\ty\\z"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(read_file(s / "res/1/x\\ty\\\\z/stdout"), "x\ty\\z\n");
}

// The output of a job that cannot be saved is lost: the job fails (in the job log and in the exit
// status) and says why on standard error, whatever the job's own status.
TEST(Results, AFailedSaveFailsItsJob) {
  scratch s;
  const std::string res = s / "res";
  // Job "a" puts a plain file where its results directory must go.
  const ran r = run_parmill({"-j1", "--joblog", s / "log", "--results", res,
                             "if [ {} = a ]; then mkdir -p " + res + "/1 && touch " + res + "/1/a; fi",
                             ":::", "a", "b"});
  EXPECT_EQ(r.status, 1) << r.err;
  const std::vector<std::string> exits = exit_values(s / "log");
  ASSERT_EQ(exits.size(), 2U);
  EXPECT_NE(exits[0], "0");
  EXPECT_EQ(exits[1], "0");
  EXPECT_NE(r.err.find(res + "/1/a"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(res + "/1/b/stdout"));
}

TEST(Results, AFailedSaveCountsForHalt) {
  scratch s;
  const std::string res = s / "res";
  const ran r = run_parmill({"-j1", "--halt", "now,fail=1", "--results", res,
                             "if [ {} = a ]; then mkdir -p " + res + "/1 && touch " + res + "/1/a; fi",
                             ":::", "a", "b"});
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_FALSE(fs::exists(res + "/1/b")) << "a job started after the halt condition held";
}
