// Whitebox tests of parmill/detail/striped_counter.hpp: the sum is exact once the adders stop,
// and threads are dealt different stripes.
#include <parmill/detail/striped_counter.hpp>

#include <gtest/gtest.h>

#include <cstddef>
#include <set>
#include <thread>
#include <vector>

namespace {

using parmill::detail::striped_counter;
using parmill::detail::this_thread_stripe;

TEST(StripedCounter, TheSumIsExactAfterManyThreadsAdd) {
  striped_counter counter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&counter, t] {
      for (int i = 0; i < 50'000; ++i)
        counter.add(static_cast<std::uint64_t>(t + 1));
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(counter.sum(), 50'000ULL * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8));
}

TEST(StripedCounter, AThreadKeepsItsStripeAndNewThreadsGetOthers) {
  const std::size_t mine = this_thread_stripe();
  EXPECT_EQ(this_thread_stripe(), mine);
  std::set<std::size_t> seen;
  for (int t = 0; t < 4; ++t) { // one after another: each asks once, as a new thread
    std::thread([&seen] { seen.insert(this_thread_stripe() % striped_counter::stripes); }).join();
  }
  EXPECT_EQ(seen.size(), 4U) << "threads are dealt stripes round robin";
}

TEST(StripedCounter, ANewCounterIsZero) {
  const striped_counter counter;
  EXPECT_EQ(counter.sum(), 0U);
}

} // namespace
