// The command line's values: -j, sizes, --halt, --timeout, and malformed invocations.
#include <gtest/gtest.h>

#include "options.hpp"

using namespace parmill::cli;

namespace {
options parse(std::vector<std::string> args) {
  action what = action::run;
  return parse_options(args, what, 4, 100);
}
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
                                             {"-d", "ab", "echo"},
                                             {"echo", ":::+", "a"},
                                             {"echo", "::::"},
                                             {"-n", "0", "echo"},
                                             {"-u", "--line-buffer", "echo"},
                                             {"--header", "x", "echo"},
                                             {"-j"}})
    EXPECT_THROW((void)parse(bad), usage_error) << bad[0];
}
