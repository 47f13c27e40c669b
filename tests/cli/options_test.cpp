// The command line's values: -j, sizes, --halt, --timeout, and malformed invocations.
#include <gtest/gtest.h>

#include "options.hpp"

using namespace parmill::cli;

namespace {
options parse(std::vector<std::string> args) { return parse_invocation(args, 4, 100).run_options; }
} // namespace

TEST(Options, JobsAcceptEveryFormGnuParallelDoes) {
  EXPECT_EQ(parse_jobs("3", 4, 100), 3U);
  EXPECT_EQ(parse_jobs("50%", 4, 100), 2U);
  EXPECT_EQ(parse_jobs("200%", 4, 100), 8U);
  EXPECT_EQ(parse_jobs("+2", 4, 100), 6U);
  EXPECT_EQ(parse_jobs("-1", 4, 100), 3U);
  EXPECT_EQ(parse_jobs("-9", 4, 100), 1U);
  EXPECT_EQ(parse_jobs("0", 4, 100), 100U);
  EXPECT_EQ(parse_jobs("1000", 4, 100), 100U);
  for (const char* bad : {"", "abc", "1x", "%", "+", "-x", "1.5"})
    EXPECT_THROW((void)parse_jobs(bad, 4, 100), usage_error) << bad;
}

TEST(Options, SizesUseLowerCaseForPowersOfTenAndUpperCaseForPowersOfTwo) {
  EXPECT_EQ(parse_size("100"), 100U);
  EXPECT_EQ(parse_size("1k"), 1000U);
  EXPECT_EQ(parse_size("1K"), 1024U);
  EXPECT_EQ(parse_size("2M"), 2U * 1024 * 1024);
  EXPECT_EQ(parse_size("1g"), 1000U * 1000 * 1000);
  EXPECT_EQ(parse_size("1.5k"), 1500U);
  EXPECT_THROW((void)parse_size("x"), usage_error);
  EXPECT_THROW((void)parse_size("0"), usage_error);
}

TEST(Options, HaltConditions) {
  auto h = parse_halt("now,fail=1");
  EXPECT_EQ(h.at, halt_policy::when::now);
  EXPECT_EQ(h.on, halt_policy::why::fail);
  EXPECT_EQ(h.threshold, 1);
  h = parse_halt("soon,success=30%");
  EXPECT_EQ(h.at, halt_policy::when::soon);
  EXPECT_EQ(h.on, halt_policy::why::success);
  EXPECT_TRUE(h.percent);
  EXPECT_EQ(h.threshold, 30);
  EXPECT_EQ(parse_halt("2").at, halt_policy::when::now);
  EXPECT_EQ(parse_halt("never").at, halt_policy::when::never);
  EXPECT_EQ(parse_halt("soon,done=3").on, halt_policy::why::done);
  EXPECT_TRUE(parse_halt("10%").percent); // the old form of soon,fail=10%
  for (const char* bad : {"bogus", "now", "now,fail", "later,fail=1", "now,fail=x", "now,oops=1",
                          "now,fail=0", "soon,fail=101%"})
    EXPECT_THROW((void)parse_halt(bad), usage_error) << bad;
}

TEST(Options, TimeoutsTakeSuffixesOrAPercentage) {
  EXPECT_DOUBLE_EQ(parse_timeout("2.5").fixed.count(), 2.5);
  EXPECT_DOUBLE_EQ(parse_timeout("3m").fixed.count(), 180);
  EXPECT_DOUBLE_EQ(parse_timeout("1h").fixed.count(), 3600);
  EXPECT_DOUBLE_EQ(parse_timeout("1d").fixed.count(), 86400);
  EXPECT_DOUBLE_EQ(parse_timeout("200%").percent_of_median, 200);
  for (const char* bad : {"", "x", "-1", "0", "5y", "%"})
    EXPECT_THROW((void)parse_timeout(bad), usage_error) << bad;
}

TEST(Options, TheCommandEndsAtTheFirstInputSeparator) {
  const options o =
      parse({"-j2", "-k", "echo", "-n", "{}", ":::", "a", "b", "::::", "f1", "f2", ":::+", "x"});
  EXPECT_EQ(o.jobs, 2U);
  EXPECT_TRUE(o.keep_order);
  EXPECT_EQ(o.command, (std::vector<std::string>{"echo", "-n", "{}"}));
  ASSERT_EQ(o.sources.size(), 4U);
  EXPECT_EQ(o.sources[0].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.sources[1].path, "f1");
  EXPECT_EQ(o.sources[2].path, "f2");
  EXPECT_TRUE(o.sources[3].linked);
}

TEST(Options, MalformedInvocationsAreUsageErrors) {
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--bogus", "echo"},
                                             {"-j", "abc", "echo"},
                                             {"--halt", "soon", "echo"},
                                             {"--timeout", "x", "echo"},
                                             {"--resume", "echo"},
                                             {"-d", "", "echo"},
                                             {"echo", "::::+"},
                                             {"echo", "::::"},
                                             {"-n", "-1", "echo"},
                                             {"-u", "--line-buffer", "echo"},
                                             {"--header", "x", "echo"},
                                             {"-j"}})
    EXPECT_THROW((void)parse(bad), usage_error) << bad[0];
}

// --- bounds: every numeric option is range-checked, and its error names the option ----------

namespace {
/// The message of the usage_error `args` gives, or "" when they parse.
std::string usage_message(std::vector<std::string> args) {
  try {
    (void)parse(std::move(args));
  } catch (const usage_error& e) {
    return e.what();
  }
  return "";
}
} // namespace

TEST(OptionBounds, EveryOutOfRangeValueIsAUsageErrorNamingItsOption) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
      {{"--retries", "-1", "echo"}, "--retries"},
      {{"--retries", "x", "echo"}, "--retries"},
      {{"--retries", "99999999999999999999999", "echo"}, "--retries"},
      {{"--timeout", "1e300", "echo"}, "--timeout"},
      {{"--timeout", "99999999999999999999", "echo"}, "--timeout"},
      {{"--timeout", "100000000000%", "echo"}, "--timeout"},
      {{"--timeout", "nan", "echo"}, "--timeout"},
      {{"--timeout", "0x10", "echo"}, "--timeout"},
      {{"--delay", "-1", "echo"}, "--delay"},
      {{"--delay", "10%", "echo"}, "--delay"},
      {{"--delay", "1e300", "echo"}, "--delay"},
      {{"--delay", "x", "echo"}, "--delay"},
      {{"-j", "1e9", "echo"}, "-j"},
      {{"-j", "-1.5", "echo"}, "-j"},
      {{"-j", "+99999999999999999999999", "echo"}, "-j"},
      {{"-j", "1e400%", "echo"}, "-j"},
      {{"--block", "0", "--pipe", "cat"}, "--block"},
      {{"--block", "-1", "--pipe", "cat"}, "--block"},
      {{"--block", "3G", "--pipe", "cat"}, "--block"},
      {{"--block", "1P", "--pipe", "cat"}, "--block"},
      {{"--block", "1e300", "--pipe", "cat"}, "--block"},
      {{"-n", "-1", "echo"}, "-n"},
      {{"-n", "x", "echo"}, "-n"},
      {{"-n", "99999999999999999999999", "echo"}, "-n"},
      {{"-N", "-1", "echo"}, "-N"},
      {{"-N", "1.5", "echo"}, "-N"},
      {{"--halt", "now,fail=0", "echo"}, "--halt"},
      {{"--halt", "now,fail=-1", "echo"}, "--halt"},
      {{"--halt", "now,fail=1.5", "echo"}, "--halt"},
      {{"--halt", "now,fail=101%", "echo"}, "--halt"},
      {{"--halt", "now,fail=0%", "echo"}, "--halt"},
      {{"--halt", "now,fail=1e300", "echo"}, "--halt"},
      {{"--halt", "soon,done=99999999999999999999999", "echo"}, "--halt"},
      {{"-d", "", "echo"}, "-d"},
  };
  for (const auto& [args, option] : cases) {
    const std::string message = usage_message(args);
    EXPECT_NE(message, "") << args[0] << " " << args[1] << " was accepted";
    EXPECT_NE(message.find(option), std::string::npos) << args[0] << " " << args[1] << ": " << message;
    EXPECT_NE(message.find("'" + args[1] + "'"), std::string::npos)
        << args[0] << " " << args[1] << ": the message should quote the value: " << message;
  }
}

TEST(OptionBounds, ValuesAtTheEdgesOfTheirRangesAreAccepted) {
  EXPECT_EQ(parse({"--retries", "0", "echo"}).retries, 0U);
  EXPECT_EQ(parse({"--retries", "1000000", "echo"}).retries, 1000000U);
  EXPECT_DOUBLE_EQ(parse({"--delay", "0", "echo"}).delay_seconds, 0);
  EXPECT_DOUBLE_EQ(parse({"--delay", "0.5", "echo"}).delay_seconds, 0.5);
  EXPECT_DOUBLE_EQ(parse({"--delay", "2m", "echo"}).delay_seconds, 120);
  EXPECT_DOUBLE_EQ(parse({"--timeout", "1000000000", "echo"}).timeout.fixed.count(), 1e9);
  EXPECT_EQ(parse({"--block", "2047M", "--pipe", "cat"}).block_bytes, 2047U * 1024 * 1024);
  EXPECT_EQ(parse({"--block", "1", "--pipe", "cat"}).block_bytes, 1U);
  EXPECT_EQ(parse({"-N", "0", "echo"}).exact_args, 0U);
  EXPECT_EQ(parse({"-n", "1000000", "echo"}).max_args, 1000000U);
  EXPECT_EQ(parse({"-j", "99999999999", "echo"}).jobs, 100U); // clamped to what -j 0 means
  EXPECT_DOUBLE_EQ(parse({"--halt", "now,fail=100%", "echo"}).halt.threshold, 100);
  EXPECT_DOUBLE_EQ(parse({"--halt", "now,fail=0.5%", "echo"}).halt.threshold, 0.5);
}

// --- GNU parallel's options: no-ops, unsupported, unknown -----------------------------------

TEST(GnuOptions, CitationOptionsParseAndChangeNothing) {
  const options plain = parse({"-k", "echo", ":::", "a"});
  for (const char* option : {"--will-cite", "--willcite", "--nn", "--nonotice", "--no-notice"}) {
    const options o = parse({option, "-k", "echo", ":::", "a"});
    EXPECT_EQ(o.command, plain.command) << option;
    EXPECT_TRUE(o.keep_order) << option;
  }
}

TEST(GnuOptions, UnsupportedOnesNameThemselvesAndTheReason) {
  EXPECT_EQ(
      usage_message({"--tmux", "echo"}),
      "--tmux is not supported by parmill (no tmux windows; output is printed, or saved with --results)");
  EXPECT_EQ(usage_message({"--sshlogin=a,b", "echo"}).rfind("--sshlogin is not supported by parmill (", 0),
            0U);
  EXPECT_EQ(usage_message({"-Sa,b", "echo"}).rfind("-S is not supported by parmill (", 0), 0U);
  EXPECT_EQ(usage_message({"-k", "--load", "80%", "echo"}).rfind("--load is not supported by parmill (", 0),
            0U);
  EXPECT_EQ(usage_message({"--no-such", "echo"}), "unknown option: --no-such");
  EXPECT_EQ(usage_message({"--sshloginx", "echo"}), "unknown option: --sshloginx");
}
