// --halt's bookkeeping on its own (cli/halt.hpp): when the run stops and the exit status it then
// has, as GNU parallel 20221122 computes them.
#include <gtest/gtest.h>

#include <vector>

#include "halt.hpp"

using namespace parmill::cli;

namespace {

process_result ended(int exit_value, int signal = 0) {
  process_result r;
  r.exit_value = exit_value;
  r.signal = signal;
  return r;
}

const process_result success = ended(0);

/// Counts `results` in order; the position (from 0) of the first that made the condition hold, or -1.
int halts_at(halt_tracker& h, const std::vector<process_result>& results) {
  int at = -1;
  for (std::size_t i = 0; i < results.size(); ++i)
    if (h.count(results[i]) && at < 0) at = static_cast<int>(i);
  return at;
}

} // namespace

TEST(Halt, NeverStopsAndTheStatusIsTheNumberOfFailuresUpTo101) {
  halt_tracker h(parse_halt("never"), 0);
  EXPECT_FALSE(h.relevant(ended(1)));
  for (int i = 0; i < 150; ++i)
    EXPECT_FALSE(h.count(ended(1)));
  EXPECT_FALSE(h.halted());
  EXPECT_EQ(h.failed(), 150U);
  EXPECT_EQ(h.exit_status(), 101);
  halt_tracker few(halt_policy{}, 0);
  (void)halts_at(few, {ended(3), success, ended(0, 9)});
  EXPECT_EQ(few.exit_status(), 2);
}

TEST(Halt, FailOneStopsAtTheFirstFailureWithThatJobsOwnStatus) {
  halt_tracker h(parse_halt("now,fail=1"), 0);
  EXPECT_EQ(halts_at(h, {success, success, ended(7), ended(9)}), 2);
  EXPECT_TRUE(h.halted());
  EXPECT_EQ(h.exit_status(), 7);
  halt_tracker killed(parse_halt("soon,fail=1"), 0);
  EXPECT_EQ(halts_at(killed, {ended(0, 15)}), 0);
  EXPECT_EQ(killed.exit_status(), 128 + 15);
}

TEST(Halt, ACountAboveOneStopsAtThatFailureWithTheNumberOfFailures) {
  halt_tracker h(parse_halt("soon,fail=3"), 0);
  EXPECT_EQ(halts_at(h, {ended(1), success, ended(2), success, ended(4), ended(5)}), 4);
  EXPECT_EQ(h.exit_status(), 3); // fixed when it halted, whatever comes after
  EXPECT_EQ(h.failed(), 4U);
}

TEST(Halt, TheConditionHoldsOnlyOnce) {
  halt_tracker h(parse_halt("now,fail=1"), 0);
  EXPECT_TRUE(h.count(ended(1)));
  EXPECT_FALSE(h.count(ended(2)));
  EXPECT_EQ(h.exit_status(), 1);
}

TEST(Halt, SuccessCountsSuccessesAndExitsZero) {
  halt_tracker h(parse_halt("now,success=2"), 0);
  EXPECT_FALSE(h.relevant(ended(1)));
  EXPECT_TRUE(h.relevant(success));
  EXPECT_EQ(halts_at(h, {ended(1), success, ended(1), success}), 3);
  EXPECT_EQ(h.exit_status(), 0);
}

TEST(Halt, DoneCountsEveryJob) {
  halt_tracker h(parse_halt("soon,done=3"), 0);
  EXPECT_TRUE(h.relevant(success));
  EXPECT_TRUE(h.relevant(ended(1)));
  EXPECT_EQ(halts_at(h, {ended(1), success, success}), 2);
  EXPECT_EQ(h.exit_status(), 1);
  halt_tracker first(parse_halt("soon,done=1"), 0);
  EXPECT_EQ(halts_at(first, {success}), 0);
  EXPECT_EQ(first.exit_status(), 0); // done=1: the job's own status
}

TEST(Halt, APercentageIsOfAllJobsAndTheStatusIsThePercentageThatFailed) {
  halt_tracker h(parse_halt("soon,fail=50%"), 4);
  EXPECT_EQ(halts_at(h, {ended(1), success, ended(1), ended(1)}), 2);
  EXPECT_EQ(h.exit_status(), 50); // ceil(2 / 4 * 100), fixed when it halted
  halt_tracker not_reached(parse_halt("soon,fail=50%"), 10);
  EXPECT_EQ(halts_at(not_reached, {ended(1), success, success}), -1);
  EXPECT_EQ(not_reached.exit_status(), 34); // ceil(1 / 3 * 100): of the jobs done
}
