// Options of GNU parallel that its own test suite uses and that users of a command runner need:
// -I and the other replacement-string renamings, -L/--max-lines, --max-chars, --pipepart,
// --round-robin, --recstart/--recend. Every expected output is what GNU parallel 20221122 prints
// for the same invocation; when /usr/bin/parallel is installed, each case also runs it and checks
// that it still prints that, so that an expectation cannot drift from GNU's behaviour.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "run_helpers.hpp"

namespace {

using parmill_test::ran;
using parmill_test::scratch;

constexpr const char* gnu_parallel = "/usr/bin/parallel";

/// A program that exits before reading all its input must not end the test with SIGPIPE.
const bool sigpipe_ignored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

ran run_parmill(std::vector<std::string> args, const std::string& input) {
  args.insert(args.begin(), PARMILL_BINARY);
  return parmill_test::run_program(std::move(args), input);
}

/// Runs `args` through parmill (and GNU parallel, when installed) with `input`; both must print
/// `expected` on standard output and exit with `status`.
void expect_as_gnu(const std::vector<std::string>& args, const std::string& input,
                   const std::string& expected, int status = 0) {
  const ran mine = run_parmill(args, input);
  EXPECT_EQ(mine.out, expected) << "parmill's standard error: " << mine.err;
  EXPECT_EQ(mine.status, status) << mine.err;
  if (!std::filesystem::exists(gnu_parallel)) return;
  std::vector<std::string> gnu{gnu_parallel, "--will-cite"};
  gnu.insert(gnu.end(), args.begin(), args.end());
  const ran theirs = parmill_test::run_program(gnu, input);
  EXPECT_EQ(theirs.out, expected) << "GNU parallel no longer prints this: " << theirs.err;
  EXPECT_EQ(theirs.status, status);
}

std::string seq(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i)
    out += std::to_string(i) + "\n";
  return out;
}

/// Standard output's lines, sorted.
std::vector<std::string> sorted_lines(const std::string& text) {
  auto out = parmill_test::lines(text);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

// --- -I and the other renamed replacement strings ------------------------------------------------

TEST(ReplaceString, DashIRenamesTheWholeInputAndLeavesBracesAlone) {
  expect_as_gnu({"-k", "-I", ",,", "echo", ",,", "x", ":::", "a", "b"}, "", "a x\nb x\n");
  expect_as_gnu({"-k", "-I", ",,", "echo", ",,.", ",,/", "{}", ":::", "a.b/c.d"}, "",
                "a.b/c.d. a.b/c.d/ {}\n");
}

TEST(ReplaceString, DashIKeepsTheOtherStringsButNotColumnNumbers) {
  expect_as_gnu(
      {"-k", "-j1", "-I", ",,", "echo", "{1}", ",,", "{/}", "{//}", "{/.}", "{#}", "{%}", ":::", "a/b.c"}, "",
      "{1} a/b.c b.c a b 1 1\n");
  expect_as_gnu({"-k", "-I", "{}x", "echo", "{}x", "{}x.", "{.}", "{}", ":::", "a.b"}, "", "a.b a.b. a {}\n");
}

TEST(ReplaceString, DashIIsReplacedInsideWordsAndAppendedWhenAbsent) {
  expect_as_gnu({"-k", "-I", "a", "echo", "bab", ":::", "X"}, "", "bXb\n");
  expect_as_gnu({"-k", "-I", ",,", "echo", "x", ":::", "a/b.c"}, "", "x a/b.c\n");
  expect_as_gnu({"-k", "-I", "{", "echo", "{", ":::", "a"}, "", "a\n");
}

TEST(ReplaceString, ReplaceWithAnAttachedValueIsDashI) {
  expect_as_gnu({"-k", "-i,,", "echo", ",,", "{}", ":::", "a/b.c"}, "", "a/b.c {}\n");
  expect_as_gnu({"-k", "--replace=,,", "echo", ",,", "{}", ":::", "a/b.c"}, "", "a/b.c {}\n");
}

TEST(ReplaceString, EachDerivedStringCanBeRenamed) {
  expect_as_gnu({"-k", "--er", ",,", "echo", "{.}", ",,", "{}", ":::", "a/b.c"}, "", "{.} a/b a/b.c\n");
  expect_as_gnu({"-k", "--extensionreplace", ",,", "echo", ",,", ":::", "a/b.c"}, "", "a/b\n");
  expect_as_gnu({"-k", "--bnr", ",,", "echo", "{/}", ",,", "{/.}", ":::", "a/b.c"}, "", "{/} b.c b\n");
  expect_as_gnu({"-k", "--basenamereplace", ",,", "echo", ",,", ":::", "a/b.c"}, "", "b.c\n");
  expect_as_gnu({"-k", "--dnr", ",,", "echo", "{//}", ",,", ":::", "a/b.c"}, "", "{//} a\n");
  expect_as_gnu({"-k", "--dirnamereplace", ",,", "echo", ",,", ":::", "a/b.c"}, "", "a\n");
  expect_as_gnu({"-k", "--bner", ",,", "echo", "{/.}", ",,", ":::", "a/b.c"}, "", "{/.} b\n");
  expect_as_gnu({"-k", "--basenameextensionreplace", ",,", "echo", ",,", ":::", "a/b.c"}, "", "b\n");
  expect_as_gnu({"-k", "--seqreplace", ",,", "echo", "{#}", ",,", ":::", "a", "b"}, "", "{#} 1\n{#} 2\n");
  expect_as_gnu({"-k", "-j1", "--slotreplace", ",,", "echo", "{%}", ",,", ":::", "a"}, "", "{%} 1\n");
}

TEST(ReplaceString, AnEmptyReplaceStringIsAUsageError) {
  const ran r = run_parmill({"-I", "", "echo", ":::", "a"}, "");
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("-I"), std::string::npos) << r.err;
}

// --- -L / --max-lines / -l --------------------------------------------------------------------

TEST(MaxLines, DashLPutsNLinesInEachJob) {
  expect_as_gnu({"-k", "-L2", "echo"}, "a\nb\nc\nd\ne\n", "a b\nc d\ne\n");
  expect_as_gnu({"-k", "-L", "2", "echo", "{1}-{2}"}, "a\nb\nc\n", "a-b\nc-\n");
  expect_as_gnu({"-k", "--max-lines", "2", "echo"}, "a\nb\nc\n", "a b\nc\n");
  expect_as_gnu({"-k", "--max-lines=2", "echo"}, "a\nb\nc\n", "a b\nc\n");
  expect_as_gnu({"-k", "-L2", "echo", ":::", "a", "b", "c"}, "", "a b\nc\n");
}

TEST(MaxLines, ALineEndingInABlankContinuesOnTheNext) {
  expect_as_gnu({"-k", "-L2", "--dry-run", "echo"}, "a \nb\nc\nd\ne\n", "echo 'a b' c\necho d e\n");
  expect_as_gnu({"-k", "-L2", "--dry-run", "echo"}, "a  \n  b\t\nc\nd\ne\n", "echo 'a    b\tc' d\necho e\n");
  expect_as_gnu({"-k", "-L1", "--dry-run", "echo"}, "a \nb \n", "echo 'a b '\n");
  expect_as_gnu({"-k", "-L2", "echo", ":::", "a ", "b", "c", "d"}, "", "a b c\nd\n");
}

TEST(MaxLines, AWholeLineIsOneArgumentAndEmptyLinesCount) {
  expect_as_gnu({"-k", "-L2", "--dry-run", "echo"}, "a b\nc d\ne\n", "echo 'a b' 'c d'\necho e\n");
  expect_as_gnu({"-k", "-L2", "echo"}, "a\n\nb\nc\n", "a \nb c\n");
}

TEST(MaxLines, LowerCaseLDefaultsToOneAndZeroMeansNoArguments) {
  expect_as_gnu({"-k", "-l", "echo"}, "a\nb\nc\n", "a\nb\nc\n");
  expect_as_gnu({"-k", "-l0", "echo"}, "a\nb\nc\n", "a\nb\nc\n");
  expect_as_gnu({"-k", "--max-lines", "echo"}, "a\nb\nc\n", "a\nb\nc\n");
  expect_as_gnu({"-k", "-L0", "echo", "x"}, "a\nb\nc\n", "x\nx\nx\n");
}

TEST(MaxLines, WithPipeARecordIsNLines) {
  const std::string wrap = "tr '\\n' ' '; echo =";
  expect_as_gnu({"-k", "--pipe", "-L3", wrap}, seq(1, 10), "1 2 3 4 5 6 7 8 9 =\n10 =\n");
  expect_as_gnu({"-k", "--pipe", "-L2", wrap}, seq(1, 10), "1 2 3 4 5 6 7 8 9 10 =\n");
  expect_as_gnu({"-k", "--pipe", "-L3", "--block", "10", wrap}, seq(1, 10),
                "1 2 3 =\n4 5 6 =\n7 8 9 =\n10 =\n");
  expect_as_gnu({"-k", "--pipe", "-L3", "-N1", wrap}, seq(1, 10), "1 2 3 =\n4 5 6 =\n7 8 9 =\n10 =\n");
}

TEST(MaxLines, WithPipeLinesWinOverRecend) {
  expect_as_gnu({"-k", "--pipe", "-L2", "--recend", ";", "echo \"[$(cat)]\""}, "a\nb\nc\n", "[a\nb]\n[c]\n");
}

TEST(MaxLines, ABadCountIsAUsageError) {
  for (const std::string bad : {"-Lx", "-L-1", "--max-lines=1.5"}) {
    const ran r = run_parmill({bad, "echo"}, "a\n");
    EXPECT_EQ(r.status, 255) << bad;
    EXPECT_NE(r.err.find("max-lines"), std::string::npos) << bad << ": " << r.err;
  }
}

// --- --max-chars / -s ---------------------------------------------------------------------------

TEST(MaxChars, LimitsWhatMAndXPack) {
  expect_as_gnu({"-j1", "-k", "-s", "20", "-m", "echo"}, seq(1, 10), "1 2 3 4 5 6 7\n8 9 10\n");
  expect_as_gnu({"-j1", "-k", "-s", "20", "-X", "echo", "x{}"}, seq(1, 10),
                "x1 x2 x3 x4 x5\nx6 x7 x8 x9\nx10\n");
  expect_as_gnu({"-j1", "-k", "--max-chars", "20", "-X", "echo", "'{}'"}, seq(1, 10),
                "1 2 3\n4 5 6\n7 8 9\n10\n");
  expect_as_gnu({"-j1", "-k", "--max-chars=12", "-m", "echo", "x{}y"}, "a\nb\nc\nd\n", "xa by\nxc dy\n");
  expect_as_gnu({"-j1", "-k", "-s", "20", "-n", "3", "echo"}, seq(1, 10), "1 2 3\n4 5 6\n7 8 9\n10\n");
}

TEST(MaxChars, AloneItDoesNotPack) { expect_as_gnu({"-k", "-s", "20", "echo"}, seq(1, 3), "1\n2\n3\n"); }

TEST(MaxChars, ACommandThatCannotFitIsAnError) {
  // GNU: "Command line too long (6 >= 5) at input 0: 1", exit 255, after the jobs before it.
  expect_as_gnu({"-j1", "-k", "-s", "7", "-X", "echo"}, seq(1, 10), seq(1, 9), 255);
  const ran r = run_parmill({"-k", "-s", "6", "echo"}, seq(1, 3));
  EXPECT_EQ(r.status, 255);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("Command line too long (6 >= 6)"), std::string::npos) << r.err;
}

TEST(MaxChars, ABadSizeIsAUsageError) {
  const ran r = run_parmill({"-s", "x", "echo"}, "a\n");
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("max-chars"), std::string::npos) << r.err;
}

// --- --pipepart -----------------------------------------------------------------------------------

TEST(PipePart, SplitsTheFileAtRecordEndsAfterEachBlockSize) {
  scratch dir;
  std::ofstream(dir / "f") << seq(1, 20);
  const std::string wrap = "tr '\\n' ' '; echo ={#}";
  expect_as_gnu({"-k", "--pipepart", "-a", dir / "f", "--block", "10", wrap}, "",
                "1 2 3 4 5 6 =1\n7 8 9 10 11 =2\n12 13 14 15 =3\n16 17 18 19 =4\n20 =5\n");
  expect_as_gnu({"-k", "-j3", "--pipe-part", "-a", dir / "f", "--block", "-1", wrap}, "",
                "1 2 3 4 5 6 7 8 9 10 =1\n11 12 13 14 15 16 17 =2\n18 19 20 =3\n");
  expect_as_gnu({"-k", "-j2", "--pipepart", "-a", dir / "f", "--block", "-2", wrap}, "",
                "1 2 3 4 5 6 7 =1\n8 9 10 11 12 13 =2\n14 15 16 17 18 =3\n19 20 =4\n");
  // No --block: ten blocks per job slot.
  expect_as_gnu(
      {"-k", "-j2", "--pipepart", "-a", dir / "f", wrap}, "",
      "1 2 =1\n3 4 =2\n5 6 =3\n7 8 =4\n9 10 =5\n11 12 =6\n13 14 =7\n15 16 =8\n17 18 =9\n19 20 =10\n");
}

TEST(PipePart, EveryByteReachesExactlyOneJobWhateverTheBlock) {
  scratch dir;
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += std::string(static_cast<std::size_t>(i % 37), 'x') + std::to_string(i) + "\n";
  std::ofstream(dir / "f") << text;
  for (const std::string block : {"1", "100", "4k", "1M", "-3"}) {
    const ran r = run_parmill({"-j4", "-k", "--pipepart", "-a", dir / "f", "--block", block, "cat"}, "");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, text) << "--block " << block;
  }
}

TEST(PipePart, AFileWithoutARecordEndIsOnePartReadOnce) {
  // Each block size's search reads to the end and finds nothing: the later ones must not read it
  // again (16 MB searched 4000 times would be 32 GB of reads).
  scratch dir;
  std::ofstream(dir / "f") << std::string(16'000'000, 'x');
  const ran r =
      parmill_test::run_program({PARMILL_BINARY, "--pipepart", "-a", dir / "f", "--block", "4k", "wc -c"}, "",
                                {}, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "16000000\n");
}

TEST(PipePart, BlocksMayBeLargerThan2G) {
  scratch dir;
  std::ofstream(dir / "f") << "foo\n";
  expect_as_gnu({"--pipepart", "-a", dir / "f", "--block", "3G", "wc -c"}, "", "4\n");
}

TEST(PipePart, HeaderGoesToEveryPart) {
  scratch dir;
  std::ofstream(dir / "f") << "h\n" << seq(1, 6);
  expect_as_gnu(
      {"-k", "--pipepart", "--header", ":", "-a", dir / "f", "--block", "4", "tr '\\n' ' '; echo ="}, "",
      "h 1 2 3 =\nh 4 5 6 =\n");
}

TEST(PipePart, NeedsASeekableFile) {
  const ran r = run_parmill({"--pipepart", "cat"}, "a\n");
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("--pipepart"), std::string::npos) << r.err;
}

// --- --round-robin ------------------------------------------------------------------------------

TEST(RoundRobin, StartsOneJobPerSlotAndGivesThemEveryBlock) {
  const ran r = run_parmill({"--pipe", "--round-robin", "-j3", "--block", "10k", "wc -l"}, seq(1, 100000));
  EXPECT_EQ(r.status, 0) << r.err;
  const auto counts = sorted_lines(r.out);
  ASSERT_EQ(counts.size(), 3U) << r.out;
  long total = 0;
  for (const std::string& c : counts)
    total += std::stol(c);
  EXPECT_EQ(total, 100000);
}

TEST(RoundRobin, FewerBlocksThanSlotsStartFewerJobs) {
  expect_as_gnu({"--pipe", "--round-robin", "-j4", "cat; echo x{#}"}, "a\n", "a\nx1\n");
  expect_as_gnu({"--pipe", "--round-robin", "-j2", "echo x"}, "", "");
}

TEST(RoundRobin, WithoutPipeItChangesNothing) {
  expect_as_gnu({"-k", "--round-robin", "-j2", "echo"}, "a\nb\nc\n", "a\nb\nc\n");
}

TEST(RoundRobin, WithPipePartOneBlockPerSlot) {
  scratch dir;
  std::ofstream(dir / "f") << seq(1, 20);
  const ran r =
      run_parmill({"-j3", "--pipepart", "--round-robin", "-a", dir / "f", "--block", "5", "wc -l"}, "");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(sorted_lines(r.out), (std::vector<std::string>{"10", "3", "7"})) << r.out;
}

// --- --recstart / --recend / --remove-rec-sep / --regexp -----------------------------------------

TEST(RecordSeparators, RecstartSplitsBeforeIt) {
  const std::string show = "echo \"[$(cat)]\"";
  expect_as_gnu({"-k", "--pipe", "-N1", "--recstart", "R", show}, "Ra1\nRb1\nb2\nRc1\n",
                "[Ra1]\n[Rb1\nb2]\n[Rc1]\n");
  expect_as_gnu({"-k", "--pipe", "-N2", "--recstart", "R", show}, "xRa1\nRb1\nb2\nRc1\n",
                "[xRa1]\n[Rb1\nb2\nRc1]\n");
  expect_as_gnu({"-k", "--pipe", "-N1", "--recstart", "R", "--recend", "\\n", show}, "Ra1\nRb1\nb2\nRc1\n",
                "[Ra1]\n[Rb1\nb2]\n[Rc1]\n");
}

TEST(RecordSeparators, RecendSplitsAfterIt) {
  const std::string show = "echo \"[$(cat)]\"";
  expect_as_gnu({"-k", "--pipe", "-N1", "--recend", ";", show}, "a1;b1;b2;c1;",
                "[a1;]\n[b1;]\n[b2;]\n[c1;]\n");
  expect_as_gnu({"-k", "--pipe", "--block", "4", "--recend", ";", show}, "a1;b1;b2;c1;",
                "[a1;]\n[b1;]\n[b2;]\n[c1;]\n");
  expect_as_gnu({"-k", "--pipe", "-N1", "--recend", ";;", show}, "a1;;b1;b2;c1", "[a1;;]\n[b1;b2;c1]\n");
}

TEST(RecordSeparators, ASeparatorIsLookedForFromARecordsSecondByte) {
  const std::string show = "echo \"[$(cat)]\"";
  expect_as_gnu({"-k", "--pipe", "-N1", "--recstart", "4", "--recend", "5", show}, "54\n54\n",
                "[54\n5]\n[4]\n");
  expect_as_gnu({"-k", "--pipe", "-N1", "--recend", ";", show}, ";;a;", "[;;]\n[a;]\n");
}

TEST(RecordSeparators, DashNCountsRecordsWithPipe) {
  expect_as_gnu({"-k", "--pipe", "-n", "1", "cat; echo x"}, "1\n2\n3\n", "1\nx\n2\nx\n3\nx\n");
  expect_as_gnu({"-k", "--pipe", "--recend", "", "-n", "1", "cat; echo"}, "ab", "a\nb\n");
}

TEST(RecordSeparators, RemoveRecSepDropsThem) {
  const std::string show = "echo \"[$(cat)]\"";
  expect_as_gnu({"-k", "--pipe", "-N1", "--recend", ";", "--rrs", show}, "a1;b1;b2;c1;",
                "[a1]\n[b1]\n[b2]\n[c1]\n");
  expect_as_gnu({"-k", "--pipe", "-N1", "--recstart", "R", "--remove-rec-sep", show}, "Ra1\nRb1\nb2\nRc1\n",
                "[a1]\n[b1\nb2]\n[c1]\n");
}

TEST(RecordSeparators, RegexpMakesThemRegularExpressions) {
  const std::string show = "echo \"[$(cat)]\"";
  expect_as_gnu({"-k", "--pipe", "-N1", "--regexp", "--recend", "--|==", show}, "a1--b1==b2--c1",
                "[a1--]\n[b1==]\n[b2--]\n[c1]\n");
  expect_as_gnu({"-k", "--pipe", "-N1", "--regexp", "--recend", "--|==", "--rrs", show}, "a1--b1==b2--c1",
                "[a1]\n[b1]\n[b2]\n[c1]\n");
}

TEST(RecordSeparators, ABadRegexpIsAUsageError) {
  const ran r = run_parmill({"--pipe", "--regexp", "--recend", "(", "cat"}, "a\n");
  EXPECT_EQ(r.status, 255);
  EXPECT_NE(r.err.find("--recend"), std::string::npos) << r.err;
}

// --- --plus ---------------------------------------------------------------------------------------

TEST(Plus, PathStringsAndTheirOpposites) {
  expect_as_gnu({"--plus", "-k", "echo", "{+/}", "{+.}", "{+..}", "{+...}", "{..}", "{...}", "{/..}",
                 "{/...}", ":::", "a/b.c.d.e", "x", "a.b/c"},
                "", "a e d.e c.d.e a/b.c a/b b.c b\n    x x x x\na.b b/c   a.b/c a.b/c c c\n");
}

TEST(Plus, DefaultValueAndSubstrings) {
  expect_as_gnu(
      {"--plus", "-k", "echo", "{:-E}", "{:2}", "{1:1:2}", "{:1:100}", "{:9}", ":::", "aabb", "0", ""}, "",
      "aabb bb ab abb \nE    \nE    \n");
  expect_as_gnu({"--plus", "-k", "echo", "{1:-x}", "{-1..}", ":::", "0", "a.b.c"}, "", "x 0\na.b.c a\n");
}

TEST(Plus, PrefixAndSuffixRemoval) {
  expect_as_gnu({"--plus", "-k", "echo", "{#a*}", "{##a*}", "{%b*}", "{%%b*}", "{#a.}", "{%.b}",
                 ":::", "aabb", "abab.ab"},
                "", "aabb bb aabb aa bb aa\nabab.ab bab.ab abab.ab abab.a ab.ab abab.\n");
}

TEST(Plus, SubstitutionsAndCase) {
  expect_as_gnu({"--plus", "-k", "echo", "{/a/X}", "{//a/X}", "{/#a/X}", "{/%b/X}", "{^a}", "{^^b}", "{,A}",
                 "{,,B}", ":::", "aAbB", "ABAB"},
                "", "XAbB XAbB XAbB aAbB AAbB aABB aAbB aAbb\nABAB ABAB ABAB ABAB ABAB ABAB aBAB AbAb\n");
  expect_as_gnu({"--plus", "-k", "echo", "{/[ab]/_}", "{//[ab]/_}", ":::", "abab.ab"}, "",
                "_bab.ab ____.__\n");
}

TEST(Plus, TotalAndZeroPaddedNumbers) {
  std::vector<std::string> args{"--plus", "-k", "--dry-run", "echo", "{##}", "{0#}", ":::"};
  for (int i = 1; i <= 11; ++i)
    args.push_back(std::to_string(i));
  std::string expected;
  for (int i = 1; i <= 11; ++i)
    expected += "echo 11 " + std::string(i < 10 ? "0" : "") + std::to_string(i) + "\n";
  expect_as_gnu(args, "", expected);
  expect_as_gnu({"--plus", "-j1", "echo", "{0%}", "{slot}", ":::", "a"}, "", "1 1\n");
  expect_as_gnu({"--plus", "-j12", "--dry-run", "echo", "{0%}", "{#}", ":::", "a"}, "", "echo 01 1\n");
}

TEST(Plus, WithoutPlusTheStringsArePlainText) {
  expect_as_gnu({"-k", "echo", "{##}", "{+.}", "{:-x}", ":::", "a.b"}, "", "{##} {+.} {:-x} a.b\n");
}

// --- every spelling GNU parallel accepts for an option parmill supports ---------------------------

TEST(Aliases, EverySpellingOfASupportedOptionWorks) {
  const std::string abc = "a\nb\nc\n";
  expect_as_gnu({"--keeporder", "echo"}, abc, abc);
  for (const char* line_buffer : {"--line-buffered", "--linebuffer", "--linebuffered"})
    expect_as_gnu({"-k", line_buffer, "echo"}, abc, abc);
  expect_as_gnu({"-k", "--col-sep", ",", "echo", "{2}"}, "a,b\nc,d\n", "b\nd\n");
  expect_as_gnu({"-k", "--maxargs", "2", "echo"}, abc, "a b\nc\n");
  expect_as_gnu({"-k", "--maxreplaceargs", "2", "echo", "{2}"}, abc, "b\n\n");
  expect_as_gnu({"-k", "--maxlines", "2", "echo"}, abc, "a b\nc\n");
  expect_as_gnu({"-k", "-X", "--maxchars", "10", "echo"}, abc, "a b\nc\n");
  expect_as_gnu({"-k", "--maxprocs", "2", "echo"}, abc, abc);
  expect_as_gnu({"-k", "--norunifempty", "echo", "x"}, "\n\n", "");
  expect_as_gnu({"-k", "--dr", "echo"}, "a\n", "echo a\n");
  expect_as_gnu({"-k", "--pipe", "--blocksize", "2", "--roundrobin", "-j1", "wc", "-l"}, abc, "3\n");
  expect_as_gnu({"-k", "--pipe", "--recstart", "b.", "--regex", "-j1", "cat"}, "ab1b2", "ab1b2");
  const scratch dir;
  const std::string list = (dir.dir / "list").string();
  std::ofstream(list) << abc;
  expect_as_gnu({"-k", "--argfile", list, "echo"}, "", abc);
  // (An empty job log, the same for both runs: GNU's run must not find parmill's jobs done.)
  expect_as_gnu({"-k", "--joblog", "/dev/null", "--resumefailed", "echo"}, abc, abc);
}

TEST(Aliases, OptionsNamingWhatParmillAlwaysDoesAreAccepted) {
  // --gnu and --silent are GNU's defaults; --plain ignores profiles, which parmill never reads;
  // -x exits when -s is exceeded, as parmill always does.
  for (const char* always : {"--gnu", "--silent", "--plain"})
    expect_as_gnu({"-k", always, "echo"}, "a\nb\n", "a\nb\n");
  expect_as_gnu({"-k", "-x", "-s", "20", "echo"}, "a\nb\n", "a\nb\n");
  expect_as_gnu({"-k", "--exit", "-s", "20", "echo"}, "a\nb\n", "a\nb\n");
}
