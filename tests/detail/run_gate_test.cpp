// Whitebox tests of parmill/detail/run_gate.hpp: the failure budget and the run's stop.
#include <parmill/detail/run_gate.hpp>

#include <gtest/gtest.h>

#include <limits>

namespace {

using parmill::detail::failure_budget;
using parmill::detail::no_cutoff;
using parmill::detail::run_gate;
using parmill::detail::run_stop;

TEST(FailureBudget, AnUnlimitedBudgetNeverHalts) {
  failure_budget budget(std::numeric_limits<std::size_t>::max());
  for (std::size_t i = 0; i < 100; ++i)
    budget.record(i);
  EXPECT_FALSE(budget.halted());
  EXPECT_EQ(budget.cutoff(), no_cutoff);
  EXPECT_FALSE(budget.past(1'000'000));
  for (int i = 0; i < 100; ++i)
    EXPECT_TRUE(budget.yield_failure());
}

TEST(FailureBudget, NoFailuresAllowedHaltsAtTheFirst) {
  failure_budget budget(0);
  budget.record(7);
  EXPECT_TRUE(budget.halted());
  EXPECT_EQ(budget.cutoff(), 7U);
  EXPECT_FALSE(budget.past(7)); // the failure itself is yielded (as the one that halts)
  EXPECT_TRUE(budget.past(8));
  EXPECT_FALSE(budget.yield_failure()) << "the first failure is already beyond a budget of none";
}

TEST(FailureBudget, TheCutoffIsTheFailureBeyondTheBudgetInInputOrder) {
  failure_budget budget(2);
  budget.record(50);
  budget.record(10);
  EXPECT_FALSE(budget.halted()) << "two failures are within a budget of two";
  budget.record(30);
  EXPECT_EQ(budget.cutoff(), 50U) << "the third smallest of 10, 30, 50";
  budget.record(20); // found later, earlier in the input: lowers the cutoff
  EXPECT_EQ(budget.cutoff(), 30U);
  budget.record(90); // after the cutoff: changes nothing
  EXPECT_EQ(budget.cutoff(), 30U);
}

TEST(FailureBudget, TheConsumerYieldsFailuresUpToTheBudget) {
  failure_budget budget(2);
  EXPECT_TRUE(budget.yield_failure());
  EXPECT_TRUE(budget.yield_failure());
  EXPECT_FALSE(budget.yield_failure());
}

TEST(RunStop, AnAskIsPassedOnToTheTokenOnlyWhenAThreadOfTheRunNotices) {
  run_stop stop;
  EXPECT_FALSE(stop.stopping());
  stop.ask();
  EXPECT_TRUE(stop.asked());
  EXPECT_TRUE(stop.stopping());
  EXPECT_FALSE(stop.token().stop_requested()) << "asking must stay async-signal-safe: no token request";
  stop.pass_on();
  EXPECT_TRUE(stop.token().stop_requested());
}

TEST(RunStop, AStopFromInsideRequestsTheTokenWithoutCountingAsAnAsk) {
  run_stop stop;
  stop.pass_on(); // nothing asked: nothing passed on
  EXPECT_FALSE(stop.requested());
  stop.request();
  EXPECT_TRUE(stop.stopping());
  EXPECT_TRUE(stop.token().stop_requested());
  EXPECT_FALSE(stop.asked());
}

TEST(RunGate, AnItemIsClosedWhenTheRunStopsOrItComesAfterTheCutoff) {
  run_gate gate{.stop = {}, .failures = failure_budget(0)};
  EXPECT_FALSE(gate.closed_to(5));
  gate.failures.record(3);
  EXPECT_FALSE(gate.closed_to(3));
  EXPECT_TRUE(gate.closed_to(4));
  gate.stop.request();
  EXPECT_TRUE(gate.closed_to(0));
}

} // namespace
