// The built parmill fed what a hostile user or a broken file feeds it: separators repeated a
// hundred thousand times, inputs that make a command longer than the system runs, NUL bytes,
// absurd option values. Nothing may crash, hang or be silently cut; every error names what it is
// about. Expected outputs are what GNU parallel 20221122 prints, except where a test says why not.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <string>
#include <vector>

#include "run_helpers.hpp"

namespace {

using parmill_test::lines;
using parmill_test::ran;

/// Runs the built parmill with `args` and `input`, killed if it takes more than 60 s.
ran run_parmill(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input, {},
                                   std::chrono::steady_clock::now() + std::chrono::seconds(60));
}

/// `count` lines "a b", as `yes "a b" | head -count` writes them.
std::string lines_of_a_b(std::size_t count) {
  std::string text;
  for (std::size_t i = 0; i < count; ++i)
    text += "a b\n";
  return text;
}

/// The numbers `text` holds one per line.
std::vector<std::size_t> numbers(const std::string& text) {
  std::vector<std::size_t> out;
  for (const std::string& line : lines(text))
    out.push_back(std::stoul(line));
  return out;
}

} // namespace

// --- --colsep: a Perl regular expression, matched without recursion ------------------------------

TEST(HostileColsep, FiftyThousandSpacesBetweenTwoColumnsDoNotCrash) {
  const ran r = run_parmill({"--colsep", " +", "echo", "{2}-{1}"}, "a" + std::string(50000, ' ') + "b\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "b-a\n");
}

TEST(HostileColsep, AHundredThousandCommasDoNotCrash) {
  const ran r = run_parmill({"-C", ",+", "echo", "{1}{2}"}, "x" + std::string(100000, ',') + "y\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "xy\n");
}

TEST(HostileColsep, AHundredThousandColumnsAreAllThere) {
  std::string line;
  for (int i = 0; i < 100000; ++i)
    line += "c,";
  const ran r = run_parmill({"-C", ",", "echo", "{-2}{100000}"}, line + "\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "cc\n");
}

TEST(HostileColsep, PerlSyntaxAsInGnuParallelsManual) {
  EXPECT_EQ(run_parmill({"-k", "--colsep", "\\t", "echo", "{2}"}, "a\tb\nc\td\n").out, "b\nd\n");
  EXPECT_EQ(run_parmill({"--colsep", "\\s+", "echo", "{3}{1}"}, "x \t y  z\n").out, "zx\n");
  EXPECT_EQ(run_parmill({"--colsep", "\\d+", "echo", "{1}{2}{3}"}, "a1b22c\n").out, "abc\n");
  EXPECT_EQ(run_parmill({"--colsep", "(?i)X", "echo", "{1}{2}{3}"}, "axbXc\n").out, "abc\n");
  EXPECT_EQ(
      run_parmill({"-k", "--header", ":", "--colsep", "\\t", "echo", "{name}={v}"}, "name\tv\na\t1\n").out,
      "a=1\n");
}

TEST(HostileColsep, TrimsWhitespaceAroundColumnsAsPerlsBackslashSDoes) {
  // GNU parallel trims each column with s/^\s+// and s/\s+$// when --colsep is given.
  EXPECT_EQ(run_parmill({"--colsep", ",", "printf", "[%s]"}, " a\r,\fb\v\n").out, "[a][b]");
}

TEST(HostileColsep, CapturingGroupsAreColumnsAsInPerlsSplit) {
  EXPECT_EQ(run_parmill({"--colsep", "(:)", "echo", "{1}{2}{3}"}, "a:b\n").out, "a:b\n");
  EXPECT_EQ(run_parmill({"--colsep", "(:)", "echo", "{-1}"}, "a:b\n").out, "b\n");
}

TEST(HostileColsep, ABadRegularExpressionIsAUsageErrorNamingIt) {
  const ran r = run_parmill({"--colsep", "a(", "echo", ":::", "x"});
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("--colsep"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("a("), std::string::npos) << r.err;
}

TEST(HostileColsep, ARunawayMatchIsAnErrorNamingTheInputNotAHang) {
  // Nested quantifiers backtrack exponentially on a line that almost matches: the match limit
  // stops it, and the error names the option and the input.
  const auto started = std::chrono::steady_clock::now();
  const ran r = run_parmill({"--colsep", "(\\w+\\s?)+$", "echo"}, std::string(64, 'a') + "!\n");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  EXPECT_EQ(r.status, 255) << r.out << r.err;
  EXPECT_NE(r.err.find("--colsep"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("input 1"), std::string::npos) << r.err;
}

// --- -X / -m / -n: jobs never longer than the system runs ----------------------------------------

TEST(HostilePacking, XThroughAShellStaysUnderTheLimitOfOneArgument) {
  // yes "a b" | head -60000 | parmill -j1 -X 'echo {} | wc -c': bash -c gets the whole command as
  // one argument, which Linux caps at 128 KiB (MAX_ARG_STRLEN); quoting doubles "a b" to 'a b'.
  const ran r = run_parmill({"-j1", "-X", "echo {} | wc -w"}, lines_of_a_b(60000));
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 500);
  EXPECT_EQ(r.err, "");
  const std::vector<std::size_t> words = numbers(r.out);
  EXPECT_EQ(std::accumulate(words.begin(), words.end(), std::size_t{0}), 120000U); // every input, once
  EXPECT_GE(words.size(), 6U); // GNU parallel keeps commands near 63 KB: 60000 * 6 bytes need 6+ jobs
}

TEST(HostilePacking, EveryCommandStaysNearGnuParallelsUsableLength) {
  const ran r = run_parmill({"-j1", "-X", "echo {} | wc -c"}, lines_of_a_b(60000));
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 500);
  for (const std::size_t bytes : numbers(r.out))
    EXPECT_LE(bytes, 65536U);
}

TEST(HostilePacking, MultipleArgsAndMaxArgsRespectTheLimitToo) {
  for (const std::vector<std::string>& how : std::vector<std::vector<std::string>>{
           {"-j1", "-m", "echo {} | wc -w"}, {"-j1", "-n", "100000", "echo {} | wc -w"}}) {
    const ran r = run_parmill(how, lines_of_a_b(60000));
    EXPECT_EQ(r.status, 0) << how[1] << ": " << r.err.substr(0, 500);
    const std::vector<std::size_t> words = numbers(r.out);
    EXPECT_EQ(std::accumulate(words.begin(), words.end(), std::size_t{0}), 120000U) << how[1];
  }
}

TEST(HostilePacking, WithoutAShellTheArgumentsStillFit) {
  // `-X echo` runs /usr/bin/echo directly: one argument per input, the total under ARG_MAX.
  const ran r = run_parmill({"-j1", "-k", "-X", "echo"}, lines_of_a_b(100000));
  EXPECT_EQ(r.status, 0) << r.err.substr(0, 500);
  std::size_t words = 0;
  for (const std::string& line : lines(r.out)) {
    EXPECT_LE(line.size(), 65536U);
    words += static_cast<std::size_t>(std::count(line.begin(), line.end(), ' ')) + 1;
  }
  EXPECT_EQ(words, 200000U);
}

TEST(HostilePacking, AnInputTooLongToRunAloneFailsItsJobOnlyAndSaysSo) {
  // Deliberate difference: GNU parallel stops the run ("Command line too long"); parmill fails
  // that one job, and runs the others.
  const std::string huge(300000, 'x');
  const ran r = run_parmill({"-j1", "-k", "-X", "echo {} | wc -c"}, "a\n" + huge + "\nb\n");
  EXPECT_EQ(r.status, 1) << r.err.substr(0, 500);
  EXPECT_NE(r.err.find("too long"), std::string::npos) << r.err.substr(0, 500);
  EXPECT_EQ(r.out, "2\n2\n");
}

// --- replacement strings and inputs that used to give cryptic errors -----------------------------

TEST(HostileTemplate, AHugeColumnNumberNamesTheReplacementString) {
  const ran r = run_parmill({"echo", "{99999999999}", ":::", "a"});
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("{99999999999}"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("stoi"), std::string::npos) << r.err;
}

TEST(HostileInput, ANulByteIsReplacedWithBackslashZeroAndTheWarningNamesTheInput) {
  // GNU parallel 20221122: "A NUL character in the input was replaced with \0."
  const std::string input("a\0b\nc\n", 6);
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"echo"}, {"echo {} | cat"}}) {
    std::vector<std::string> args{"-j1", "-k"};
    args.insert(args.end(), command.begin(), command.end());
    const ran r = run_parmill(args, input);
    EXPECT_EQ(r.status, 0) << command[0] << ": " << r.err;
    EXPECT_EQ(r.out, "a\\0b\nc\n") << command[0];
    EXPECT_NE(r.err.find("NUL"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("input 1"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("standard input"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("syntax error"), std::string::npos) << r.err;
  }
}

TEST(HostileInput, ANulByteInAColumnIsReplacedToo) {
  const ran r = run_parmill({"-k", "--colsep", ",", "echo", "{2}"}, std::string("a,b\0c\n", 6));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "b\\0c\n");
}

// --- option values ---------------------------------------------------------------------------------

TEST(HostileOptions, OutOfRangeValuesExit255NamingTheOptionAndRunNothing) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--retries", "-1"},
                                             {"--timeout", "1e300"},
                                             {"--delay", "-1"},
                                             {"--delay", "10%"},
                                             {"-n", "-1"},
                                             {"-N", "-1"},
                                             {"--block", "0"},
                                             {"--halt", "now,fail=101%"}}) {
    std::vector<std::string> full = args;
    for (const char* w : {"echo", "ran", ":::", "a"})
      full.emplace_back(w);
    const ran r = run_parmill(full);
    EXPECT_EQ(r.status, 255) << args[0] << " " << args[1];
    EXPECT_EQ(r.out, "") << args[0] << " " << args[1];
    EXPECT_EQ(r.err.rfind("parmill: Error: " + args[0], 0), 0U) << r.err;
  }
}
