// Whitebox tests of parmill/detail/spin.hpp: the spinlock excludes, and adaptive_spin spins only
// after short waits, only when a core is free for it, and never past its limit.
#include <parmill/detail/spin.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using parmill::detail::adaptive_spin;
using parmill::detail::spinlock;

TEST(Spinlock, ThreadsIncrementingUnderItLoseNoUpdate) {
  spinlock lock;
  long counter = 0; // plain: only the lock protects it (ThreadSanitizer checks that it does)
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 20'000; ++i) {
        std::lock_guard guard(lock);
        ++counter;
      }
    });
  for (auto& t : threads)
    t.join();
  EXPECT_EQ(counter, 8 * 20'000);
}

TEST(Spinlock, TryLockFailsWhileHeldAndSucceedsAfterUnlock) {
  spinlock lock;
  ASSERT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock());
  std::thread other([&] { EXPECT_FALSE(lock.try_lock()); });
  other.join();
  lock.unlock();
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(AdaptiveSpin, ItDoesNotSpinBeforeAShortWaitHasBeenSeen) {
  adaptive_spin spin(0);
  int asked = 0;
  EXPECT_FALSE(spin.spin([&] { return ++asked, true; }));
  EXPECT_EQ(asked, 0) << "no spin at all until a wait has been short";
}

TEST(AdaptiveSpin, AfterAShortWaitItSpinsUntilReady) {
  adaptive_spin spin(0); // no busy thread: a core is free
  spin.record(std::chrono::microseconds(5));
  int asked = 0;
  EXPECT_TRUE(spin.spin([&] { return ++asked == 3; }));
  EXPECT_EQ(asked, 3);
}

TEST(AdaptiveSpin, ALongWaitTurnsSpinningOff) {
  adaptive_spin spin(0);
  spin.record(std::chrono::microseconds(5));
  spin.record(adaptive_spin::limit * 2);
  int asked = 0;
  EXPECT_FALSE(spin.spin([&] { return ++asked, true; }));
  EXPECT_EQ(asked, 0);
}

TEST(AdaptiveSpin, ItNeverSpinsWhenTheRunsWorkersCanUseEveryCore) {
  adaptive_spin spin(std::max(1U, std::thread::hardware_concurrency()));
  spin.record(std::chrono::microseconds(5));
  int asked = 0;
  EXPECT_FALSE(spin.spin([&] { return ++asked, true; }));
  EXPECT_EQ(asked, 0);
}

TEST(AdaptiveSpin, ASpinThatNeverBecomesReadyEndsAfterItsLimit) {
  adaptive_spin spin(0);
  spin.record(std::chrono::microseconds(5));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(spin.spin([] { return false; }));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, adaptive_spin::limit);
  EXPECT_LT(took, std::chrono::seconds(5)) << "bounded (generous: a loaded machine may preempt it)";
}

} // namespace
