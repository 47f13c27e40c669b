// Conformance tests of parmill/thread_pool.hpp, each swept over 1, 2 and 8 threads.
#include <parmill/thread_pool.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace {

class ThreadPool : public ::testing::TestWithParam<std::size_t> {
protected:
  std::size_t threads() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Threads, ThreadPool, ::testing::Values(1, 2, 8),
                         [](const auto& info) { return std::to_string(info.param) + "_threads"; });

/// Blocks every thread of `pool` in a task until `release()`; returns once all are blocked.
class pool_blocker {
public:
  explicit pool_blocker(parmill::thread_pool& pool) : started_(static_cast<std::ptrdiff_t>(pool.size())) {
    for (std::size_t i = 0; i < pool.size(); ++i)
      done_.push_back(pool.submit([this] {
        started_.count_down();
        gate_.wait();
      }));
    started_.wait();
  }
  void release() { gate_.count_down(); }
  void join() {
    for (auto& f : done_)
      f.get();
  }

private:
  std::latch started_;
  std::latch gate_{1};
  std::vector<parmill::future<void>> done_;
};

/// Waits (without sleeping) until `pool` refuses new work, i.e. shutdown() has begun.
void wait_until_closed(parmill::thread_pool& pool, std::atomic<int>& probes_run) {
  for (;;) {
    try {
      pool.post([&probes_run] { probes_run.fetch_add(1); });
    } catch (const std::logic_error&) {
      return;
    }
    std::this_thread::yield();
  }
}

TEST_P(ThreadPool, SubmitReturnsTheResultWithArgumentsBound) {
  parmill::thread_pool pool(threads());
  EXPECT_EQ(pool.size(), threads());
  auto sum = pool.submit([](int a, int b) { return a + b; }, 2, 40);
  auto text = pool.submit([](std::unique_ptr<std::string> s) { return *s + "!"; },
                          std::make_unique<std::string>("moved"));
  EXPECT_EQ(sum.get(), 42);
  EXPECT_EQ(text.get(), "moved!");
  EXPECT_FALSE(sum.valid());
}

TEST_P(ThreadPool, ExceptionsTravelThroughFuturesWithTheirType) {
  parmill::thread_pool pool(threads());
  auto f = pool.submit([]() -> int { throw std::out_of_range("no such frame"); });
  try {
    (void)f.get();
    FAIL() << "get() must rethrow the task's exception";
  } catch (const std::out_of_range& e) {
    EXPECT_STREQ(e.what(), "no such frame");
  }
}

TEST_P(ThreadPool, PostThenWaitRunsEveryTaskExactlyOnce) {
  parmill::thread_pool pool(threads());
  constexpr int n = 20000;
  std::vector<std::atomic<int>> runs(n);
  for (int i = 0; i < n; ++i)
    pool.post([&runs, i] { runs[i].fetch_add(1); });
  pool.wait();
  for (int i = 0; i < n; ++i)
    ASSERT_EQ(runs[i].load(), 1) << "task " << i;
  pool.wait(); // nothing pending: returns at once
}

TEST_P(ThreadPool, WaitRethrowsAPostedExceptionOnceAndKeepsRunningTheRest) {
  parmill::thread_pool pool(threads());
  std::atomic<int> ran{0};
  for (int i = 0; i < 100; ++i)
    pool.post([&ran, i] {
      ran.fetch_add(1);
      if (i == 37) throw std::runtime_error("item 37 broke");
    });
  EXPECT_THROW(pool.wait(), std::runtime_error);
  EXPECT_EQ(ran.load(), 100);
  EXPECT_NO_THROW(pool.wait()) << "an exception is rethrown by one wait() only";
}

TEST_P(ThreadPool, NestedSubmitAndWaitFromInsideAWorkerDoesNotDeadlock) {
  parmill::thread_pool pool(threads());
  // A recursive fan-out deeper than the pool is wide: each task waits for its children.
  std::function<long(int)> tree = [&](int depth) -> long {
    if (depth == 0) return 1;
    auto left = pool.submit(tree, depth - 1);
    auto right = pool.submit(tree, depth - 1);
    return left.get() + right.get();
  };
  EXPECT_EQ(pool.submit(tree, 10).get(), 1024);
}

TEST_P(ThreadPool, NestedPostsAreWaitedForByTheOuterWait) {
  parmill::thread_pool pool(threads());
  std::atomic<int> leaves{0};
  for (int i = 0; i < 50; ++i)
    pool.post([&] {
      for (int j = 0; j < 20; ++j)
        pool.post([&leaves] { leaves.fetch_add(1); });
    });
  pool.wait();
  EXPECT_EQ(leaves.load(), 1000);
}

TEST_P(ThreadPool, WaitFromInsideAWorkerFailsClearlyInsteadOfDeadlocking) {
  parmill::thread_pool pool(threads());
  auto f = pool.submit([&pool] { pool.wait(); });
  try {
    f.get();
    FAIL() << "wait() from a worker must throw";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("its own threads"), std::string::npos) << e.what();
  }
}

TEST_P(ThreadPool, ShutdownWithoutCancelRunsEverythingQueued) {
  parmill::thread_pool pool(threads());
  pool_blocker blocker(pool);
  std::atomic<int> ran{0};
  std::vector<parmill::future<int>> results;
  for (int i = 0; i < 500; ++i)
    results.push_back(pool.submit([&ran, i] { return ran.fetch_add(1), i; }));
  std::atomic<int> probes{0};
  std::thread releaser([&] {
    wait_until_closed(pool, probes);
    blocker.release();
  });
  pool.shutdown(false);
  releaser.join();
  blocker.join();
  EXPECT_EQ(ran.load(), 500);
  for (int i = 0; i < 500; ++i)
    EXPECT_EQ(results[i].get(), i);
  EXPECT_THROW(pool.post([] {}), std::logic_error);
  pool.shutdown(false); // idempotent
}

TEST_P(ThreadPool, ShutdownWithCancelDropsQueuedWorkAndRequestsStop) {
  parmill::thread_pool pool(threads());
  std::latch started(static_cast<std::ptrdiff_t>(threads()));
  std::vector<parmill::future<bool>> running;
  for (std::size_t i = 0; i < threads(); ++i)
    running.push_back(pool.submit([&] {
      started.count_down();
      std::latch stopped(1);
      std::stop_callback on_stop(pool.stop_token(), [&] { stopped.count_down(); });
      stopped.wait(); // ends only when shutdown(true) requests stop
      return true;
    }));
  started.wait();
  std::atomic<int> ran{0};
  std::vector<parmill::future<void>> queued;
  for (int i = 0; i < 100; ++i)
    queued.push_back(pool.submit([&ran] { ran.fetch_add(1); }));
  pool.shutdown(true);
  EXPECT_TRUE(pool.stop_token().stop_requested());
  for (auto& f : running)
    EXPECT_TRUE(f.get()) << "running tasks finish normally";
  EXPECT_EQ(ran.load(), 0);
  for (auto& f : queued)
    EXPECT_THROW(f.get(), parmill::task_cancelled);
}

TEST_P(ThreadPool, DestructionWithWorkInFlightRunsItAndJoins) {
  std::atomic<int> ran{0};
  auto weak = std::weak_ptr<int>();
  {
    parmill::thread_pool pool(threads());
    auto shared = std::make_shared<int>(1);
    weak = shared;
    for (int i = 0; i < 5000; ++i)
      pool.post([&ran, shared] { ran.fetch_add(*shared); });
  }
  EXPECT_EQ(ran.load(), 5000);
  EXPECT_TRUE(weak.expired()) << "every task's captures are destroyed";
}

TEST_P(ThreadPool, TasksKnowWhichPoolThreadRunsThem) {
  parmill::thread_pool pool(threads());
  EXPECT_FALSE(pool.current_thread_index().has_value());
  std::mutex m;
  std::set<std::size_t> seen;
  for (int i = 0; i < 1000; ++i)
    pool.post([&] {
      auto index = pool.current_thread_index();
      std::lock_guard g(m);
      seen.insert(index.value_or(threads())); // a helping waiter reports no index
    });
  pool.wait();
  for (std::size_t index : seen)
    EXPECT_LE(index, threads());
}

TEST_P(ThreadPool, FuturesFromOutsideAPoolBlockUntilReady) {
  parmill::thread_pool pool(threads());
  std::latch gate(1);
  auto f = pool.submit([&gate] {
    gate.wait();
    return 5;
  });
  EXPECT_FALSE(f.ready());
  gate.count_down();
  f.wait();
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.get(), 5);
  EXPECT_THROW(f.wait(), std::logic_error) << "an emptied future says so";
}

TEST(ThreadPoolSize, ZeroMeansOneThreadPerHardwareThread) {
  parmill::thread_pool pool(0);
  EXPECT_EQ(pool.size(), std::max(1U, std::thread::hardware_concurrency()));
}

} // namespace
