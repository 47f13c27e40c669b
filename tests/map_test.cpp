// Conformance tests of parmill/map.hpp, each swept over backends (inline, threads) and worker
// counts (1, 2, 8).
#include <parmill/map.hpp>
#include <parmill/thread_pool.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace {

using parmill_test::where;

class Map : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
  std::size_t workers() const {
    return GetParam().kind == parmill::backend_kind::inline_ ? 1 : GetParam().workers;
  }
};

INSTANTIATE_TEST_SUITE_P(
    Backends, Map,
    ::testing::Values(where{parmill::backend_kind::inline_, 1}, where{parmill::backend_kind::threads, 1},
                      where{parmill::backend_kind::threads, 2}, where{parmill::backend_kind::threads, 8},
                      where{parmill::backend_kind::processes, 1}, where{parmill::backend_kind::processes, 2},
                      where{parmill::backend_kind::processes, 8}, where{parmill::backend_kind::mpi, 1},
                      where{parmill::backend_kind::mpi, 2}, where{parmill::backend_kind::mpi, 8}),
    parmill_test::sweep_name);

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST_P(Map, InputOrderYieldsEveryItemOnceInOrderWithItsIndex) {
  const auto input = iota_vector(20000);
  std::size_t expected = 0;
  for (auto& r : parmill::map(backend(), input, [](int x) { return x * 3; })) {
    ASSERT_EQ(r.index(), expected);
    ASSERT_EQ(*r, static_cast<int>(expected) * 3);
    ++expected;
  }
  EXPECT_EQ(expected, input.size());
}

TEST_P(Map, CompletionOrderYieldsEveryItemExactlyOnce) {
  const auto input = iota_vector(20000);
  std::vector<int> seen(input.size(), 0);
  for (auto& r :
       parmill::map(backend(), input, [](int x) { return x; }, {.order = parmill::order::completion})) {
    ASSERT_EQ(*r, static_cast<int>(r.index()));
    ++seen[r.index()];
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
}

TEST(MapCompletionOrder, LetsAFastItemOvertakeASlowOne) {
  for (std::size_t workers : {2U, 8U}) {
    // Item 0 cannot finish until item 1 has been yielded: only completion order can do that.
    std::latch item1_yielded(1);
    std::vector<int> order;
    for (auto& r : parmill::map(parmill::threads(workers), iota_vector(2),
                                [&](int x) {
                                  if (x == 0) item1_yielded.wait();
                                  return x;
                                },
                                {.order = parmill::order::completion, .chunk = 1})) {
      order.push_back(*r);
      if (*r == 1) item1_yielded.count_down();
    }
    EXPECT_EQ(order, (std::vector<int>{1, 0})) << workers << " workers";
  }
}

// A thread that runs too long cannot be stopped safely, so a time limit is refused where items run
// on threads (inline, threads) before any item starts; the processes backend enforces it.
TEST_P(Map, ATimeoutIsRefusedBeforeAnyItemStartsOnInlineAndThreads) {
  std::atomic<int> calls{0};
  auto results = parmill::map(backend(), iota_vector(10),
                              [&calls](int x) {
                                ++calls;
                                return x;
                              },
                              {.timeout = std::chrono::seconds(30)});
  if (GetParam().crosses_processes()) { // processes and mpi enforce a time limit
    std::size_t n = 0;
    for (auto& r : results)
      n += r.has_value() ? 1 : 0;
    EXPECT_EQ(n, 10U);
    return;
  }
  EXPECT_THROW((void)results.begin(), std::invalid_argument);
  EXPECT_EQ(calls.load(), 0);
}

TEST_P(Map, TheWindowBoundsItemsInFlight) {
  constexpr std::size_t window = 16;
  std::atomic<std::size_t> read{0};
  std::size_t yielded = 0, most_in_flight = 0;
  auto counted = std::views::iota(0, 5000) | std::views::transform([&](int x) {
                   read.fetch_add(1);
                   return x;
                 });
  for (auto& r : parmill::map(backend(), counted, [](int x) { return x; }, {.window = window})) {
    ++yielded; // read.load() - yielded counts this one as in flight until now
    most_in_flight = std::max(most_in_flight, read.load() - (yielded - 1));
    (void)r;
  }
  EXPECT_EQ(yielded, 5000U);
  EXPECT_LE(most_in_flight, window);
}

TEST_P(Map, TheDefaultWindowIsBoundedForAnEndlessInput) {
  std::atomic<std::size_t> read{0};
  auto endless = std::views::iota(0) | std::views::transform([&](int x) {
                   read.fetch_add(1);
                   return x;
                 });
  std::size_t taken = 0;
  for (auto& r : parmill::map(backend(), endless, [](int x) { return x; })) {
    ASSERT_EQ(r.index(), taken);
    if (++taken == 100000) break;
  }
  // Four chunks of at most 16384 items per worker, never more.
  EXPECT_LE(read.load(), taken + workers() * 4 * 16384);
}

// The bound the test above relies on, exactly: on mpi the executor drives more workers than
// compute (each slot has requests queued ahead of it), and the window must follow those that
// compute, or an endless input is read twice as far ahead as the README says.
TEST_P(Map, TheDefaultWindowIsFourChunksPerWorker) {
  auto results = parmill::map(backend(), std::views::iota(0), [](int x) { return x; }, {.chunk = 3});
  std::size_t taken = 0;
  for (auto& r : results) {
    ASSERT_TRUE(r.has_value());
    if (++taken == 100) break;
  }
  EXPECT_EQ(results.window(), workers() * 4 * 3);
}

TEST_P(Map, AnEndlessGeneratorIsConsumedLazily) {
  std::atomic<long> read{0};
  auto endless = std::views::iota(0L) | std::views::transform([&](long x) {
                   read.fetch_add(1);
                   return x;
                 });
  auto squares = parmill::map(backend(), endless, [](long x) { return x * x; }, {.window = 8});
  EXPECT_EQ(read.load(), 0) << "nothing is read before iteration starts";
  long n = 0;
  for (auto& r : squares) {
    ASSERT_EQ(*r, n * n);
    if (++n == 100) break;
  }
  EXPECT_LE(read.load(), 100 + 8);
}

TEST_P(Map, ComposesWithStandardViews) {
  auto first_five = parmill::map(backend(), iota_vector(1000), [](int x) { return x + 1; }) |
                    std::views::take(5) | std::views::transform([](auto& r) { return *r; });
  std::vector<int> got;
  for (int x : first_five)
    got.push_back(x);
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST_P(Map, RaiseYieldsEverythingBeforeTheFailureThenThrowsIt) {
  std::vector<std::size_t> yielded;
  try {
    for (auto& r : parmill::map(backend(), iota_vector(10000), [](int x) {
           if (x == 5000) throw std::runtime_error("bad item");
           return x;
         }))
      yielded.push_back(r.index());
    FAIL() << "the failure must be thrown";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 5000U);
    EXPECT_EQ(e.error().kind, parmill::failure_kind::exception);
    EXPECT_EQ(e.error().message, "bad item");
    EXPECT_LT(e.error().worker, workers());
    EXPECT_THROW(std::rethrow_if_nested(e), std::runtime_error);
  }
  ASSERT_EQ(yielded.size(), 5000U);
  for (std::size_t i = 0; i < yielded.size(); ++i)
    ASSERT_EQ(yielded[i], i);
}

TEST_P(Map, RaiseStartsNoItemAfterTheFailure) {
  std::atomic<int> highest_started{-1};
  auto run = [&] {
    for (auto& r : parmill::map(backend(), iota_vector(100000), [&](int x) {
           int seen = highest_started.load();
           while (x > seen && !highest_started.compare_exchange_weak(seen, x)) {
           }
           if (x == 10) throw std::runtime_error("stop here");
           return x;
         }))
      (void)r;
  };
  EXPECT_THROW(run(), parmill::item_failed);
  // Items already handed out when item 10 failed may have started; nothing read later did.
  EXPECT_LT(highest_started.load(), 10 + static_cast<int>(workers() * 4 * 16384));
}

TEST_P(Map, YieldReportsEveryFailureAsAnOutcomeAndGoesOn) {
  std::size_t failures = 0, values = 0;
  for (auto& r : parmill::map(backend(), iota_vector(1000),
                              [](int x) {
                                if (x % 10 == 3) throw std::invalid_argument("item " + std::to_string(x));
                                return x;
                              },
                              {.on_error = parmill::on_error::yield})) {
    if (r) {
      ++values;
    } else {
      ++failures;
      EXPECT_EQ(r.index() % 10, 3U);
      EXPECT_EQ(r.error().message, "item " + std::to_string(r.index()));
      EXPECT_THROW((void)r.value(), parmill::item_failed);
    }
  }
  EXPECT_EQ(values, 900U);
  EXPECT_EQ(failures, 100U);
}

TEST_P(Map, MaxFailuresStopsAYieldingRunThatFailsTooOften) {
  std::size_t failures_yielded = 0, last_index = 0;
  try {
    for (auto& r : parmill::map(backend(), iota_vector(1000),
                                [](int x) {
                                  if (x % 100 == 50) throw std::runtime_error("bad");
                                  return x;
                                },
                                {.on_error = parmill::on_error::yield, .max_failures = 3})) {
      if (!r) ++failures_yielded;
      last_index = r.index();
    }
    FAIL() << "the fourth failure must stop the run";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 350U) << "input order: the failure that exceeds the budget";
  }
  EXPECT_EQ(failures_yielded, 3U);
  EXPECT_EQ(last_index, 349U);
}

TEST_P(Map, RetriesTryAFailedItemAgainBeforeItCounts) {
  // Attempts are counted by the worker that makes them (retries stay on the same worker), and
  // reported through results and messages, so the test holds on every backend.
  struct flaky {
    std::map<int, int> attempts;
    int operator()(int x) {
      const int n = ++attempts[x];
      if (x % 2 == 0 && n <= 2) throw std::runtime_error("transient");
      if (x == 99) throw std::runtime_error("permanent after " + std::to_string(n) + " attempts");
      return n;
    }
  };
  std::size_t ok = 0, failed = 0;
  for (auto& r : parmill::map(backend(), iota_vector(100),
                              parmill::per_worker([](const parmill::worker_context&) { return flaky{}; }),
                              {.on_error = parmill::on_error::yield, .retries = 2})) {
    if (!r) {
      ++failed;
      EXPECT_EQ(r.index(), 99U);
      EXPECT_EQ(r.error().message, "permanent after 3 attempts");
      continue;
    }
    ++ok;
    EXPECT_EQ(*r, r.index() % 2 == 0 ? 3 : 1) << "item " << r.index();
  }
  EXPECT_EQ(ok, 99U);
  EXPECT_EQ(failed, 1U);
}

namespace {
std::atomic<long> factory_calls{0}; // per process: the factory numbers each object it builds
} // namespace

TEST_P(Map, PerWorkerFactoryRunsOncePerWorkerInsideItWithItsIndex) {
  // Each result says which worker ran the item, which build of the worker's object did, and
  // whether that object is used on the thread that built it; so the test holds on every backend.
  struct model {
    std::size_t worker;
    long build;
    std::thread::id built_on;
    std::tuple<int, std::size_t, long, bool> operator()(int x) const {
      return {x, worker, build, std::this_thread::get_id() == built_on};
    }
  };
  const std::size_t expected_count = workers();
  const parmill::backend_kind expected_kind = GetParam().kind;
  auto factory = parmill::per_worker([=](const parmill::worker_context& context) {
    const bool right = context.count == expected_count && context.backend == expected_kind;
    return model{right ? context.index : 999, factory_calls.fetch_add(1) + 1, std::this_thread::get_id()};
  });
  std::map<std::size_t, std::set<long>> builds_by_worker;
  std::set<long> all_builds;
  for (auto& r : parmill::map(backend(), iota_vector(5000), factory)) {
    const auto& [value, worker, build, same_thread] = *r;
    EXPECT_EQ(value, static_cast<int>(r.index()));
    EXPECT_LT(worker, workers()) << "the context has the right count, backend and index";
    EXPECT_TRUE(same_thread) << "a worker's object is used on the thread that built it";
    builds_by_worker[worker].insert(build);
  }
  for (const auto& [worker, builds] : builds_by_worker)
    EXPECT_EQ(builds.size(), 1U) << "worker " << worker << " built its object once";
}

struct scaled_worker {
  int factor;
  scaled_worker(const parmill::worker_context& /*context*/, int base) : factor(base) {}
  int operator()(int x) const { return x * factor; }
};

TEST_P(Map, PerWorkerOfATypeBuildsItFromTheContextAndArguments) {
  std::size_t n = 0;
  for (auto& r : parmill::map(backend(), iota_vector(100), parmill::per_worker<scaled_worker>(7))) {
    EXPECT_EQ(*r, static_cast<int>(r.index()) * 7);
    ++n;
  }
  EXPECT_EQ(n, 100U);
}

TEST_P(Map, PerWorkerObjectsLiveUntilTheMapEnds) {
  auto alive = std::make_shared<std::atomic<int>>(0);
  struct tracked {
    std::shared_ptr<std::atomic<int>> alive;
    explicit tracked(std::shared_ptr<std::atomic<int>> a) : alive(std::move(a)) { alive->fetch_add(1); }
    tracked(const tracked&) = delete;
    ~tracked() { alive->fetch_sub(1); }
    int operator()(int x) const { return x; }
  };
  {
    auto m =
        parmill::map(backend(), iota_vector(1000),
                     parmill::per_worker([alive](const parmill::worker_context&) { return tracked(alive); }));
    for (auto& r : m)
      (void)r;
  }
  EXPECT_EQ(alive->load(), 0);
}

namespace {
/// Counts calls in progress and per-worker objects alive, so a test can tell that a map joined
/// its workers: once the map is gone, no call may be running and every object must be destroyed.
struct liveness {
  std::atomic<long> calls{0}, running{0}, alive{0}, built{0};
};
struct counted_worker {
  liveness* live;
  explicit counted_worker(liveness* l) : live(l) {
    live->alive.fetch_add(1);
    live->built.fetch_add(1);
  }
  counted_worker(const counted_worker&) = delete;
  ~counted_worker() { live->alive.fetch_sub(1); }
  std::pair<long, long> operator()(long x) const {
    live->running.fetch_add(1);
    live->calls.fetch_add(1);
    live->running.fetch_sub(1);
    return {x, static_cast<long>(::getpid())};
  }
};

/// After a map is gone: on processes, none of its worker processes may exist any more (not even
/// as a zombie); elsewhere, no call may be running and every per-worker object must be destroyed.
void expect_joined(parmill::backend_kind kind, const liveness& live, const std::set<long>& pids) {
  if (kind == parmill::backend_kind::processes) {
    EXPECT_FALSE(pids.empty());
    for (long pid : pids) {
      EXPECT_NE(pid, static_cast<long>(::getpid())) << "items ran in worker processes";
      EXPECT_EQ(::kill(static_cast<pid_t>(pid), 0), -1) << "worker process " << pid << " outlived the map";
    }
    return;
  }
  EXPECT_GE(live.built.load(), 1);
  EXPECT_EQ(live.alive.load(), 0) << "every worker's object is destroyed once the map is";
  EXPECT_EQ(live.running.load(), 0) << "no call runs once the map is destroyed";
}
} // namespace

TEST_P(Map, BreakingOutEarlyStopsAndJoinsPromptly) {
  liveness live;
  std::set<long> pids;
  {
    auto endless = std::views::iota(0L);
    for (auto& r : parmill::map(backend(), endless, parmill::per_worker([&](const parmill::worker_context&) {
                                  return counted_worker(&live);
                                }))) {
      pids.insert(r->second);
      if (r.index() == 10) break;
    }
  }
  EXPECT_LE(live.calls.load(), 11 + static_cast<long>(workers() * 4 * 16384));
  expect_joined(GetParam().kind, live, pids);
}

TEST_P(Map, AConsumerThatThrowsStopsTheWork) {
  liveness live;
  std::set<long> pids;
  auto run = [&] {
    for (auto& r : parmill::map(
             backend(), std::views::iota(0L),
             parmill::per_worker([&](const parmill::worker_context&) { return counted_worker(&live); }))) {
      pids.insert(r->second);
      if (r.index() == 100) throw std::domain_error("consumer gave up");
    }
  };
  EXPECT_THROW(run(), std::domain_error);
  expect_joined(GetParam().kind, live, pids);
}

TEST_P(Map, AnInputThatThrowsEndsTheRunWithItsExceptionAfterTheItemsBeforeIt) {
  auto failing = std::views::iota(0, 1000) | std::views::transform([](int x) {
                   if (x == 600) throw std::length_error("input broke");
                   return x;
                 });
  std::size_t n = 0;
  auto run = [&] {
    for (auto& r : parmill::map(backend(), failing, [](int x) { return x; })) {
      EXPECT_EQ(r.index(), n);
      ++n;
    }
  };
  EXPECT_THROW(run(), std::length_error);
  EXPECT_EQ(n, 600U);
}

TEST_P(Map, VoidWorkersYieldAnOutcomePerItem) {
  std::set<std::size_t> indices;
  for (auto& r : parmill::map(backend(), iota_vector(100), [](int x) {
         if (x < 0) throw std::logic_error("unreachable");
       })) {
    EXPECT_TRUE(r.has_value());
    indices.insert(r.index());
  }
  EXPECT_EQ(indices.size(), 100U);
  EXPECT_EQ(*indices.rbegin(), 99U);
}

TEST_P(Map, MoveOnlyItemsAndResultsMoveThrough) {
  std::vector<std::unique_ptr<int>> input;
  for (int i = 0; i < 100; ++i)
    input.push_back(std::make_unique<int>(i));
  int sum = 0;
  auto run = [&] {
    for (auto& r :
         parmill::map(backend(), std::move(input), [](std::unique_ptr<int>& p) { return std::move(p); }))
      sum += *r.value();
  };
  if (GetParam().crosses_processes()) {
    // A unique_ptr cannot cross a process boundary: a clear error, not a crash.
    EXPECT_THROW(run(), std::logic_error);
    return;
  }
  run();
  EXPECT_EQ(sum, 4950);
}

TEST_P(Map, AnEmptyInputYieldsNothing) {
  std::vector<int> empty;
  for (auto& r : parmill::map(backend(), empty, [](int x) { return x; }))
    FAIL() << r.index();
}

TEST_P(Map, IsSinglePass) {
  auto m = parmill::map(backend(), iota_vector(3), [](int x) { return x; });
  for (auto& r : m)
    (void)r;
  EXPECT_THROW((void)m.begin(), std::logic_error);
}

TEST(MapOnAPool, RunsOnTheCallersPoolAndRefusesToRunFromInsideIt) {
  parmill::thread_pool pool(2);
  long sum = 0;
  for (auto& r : parmill::map(pool, iota_vector(1000), [](int x) { return long{x}; }))
    sum += *r;
  EXPECT_EQ(sum, 499500);
  auto inside = pool.submit([&pool] {
    for (auto& r : parmill::map(pool, iota_vector(10), [](int x) { return x; }))
      (void)r;
  });
  EXPECT_THROW(inside.get(), std::logic_error);
}

TEST(MapInline, RunsInTheCallersThreadInInputOrder) {
  const auto caller = std::this_thread::get_id();
  std::vector<int> calls;
  for (auto& r : parmill::map(parmill::inline_backend(), iota_vector(50), [&](int x) {
         EXPECT_EQ(std::this_thread::get_id(), caller);
         calls.push_back(x);
         return x;
       })) {
    EXPECT_EQ(calls.back(), static_cast<int>(r.index())) << "inline runs each item just before yielding it";
  }
  EXPECT_EQ(calls, iota_vector(50));
}

} // namespace

// Regression: the consumer once spun, gave up, and slept just after the last worker closed the
// input and left, so nobody woke it (a hang about one run in three of the window test). Many short
// runs, each ending while the consumer waits, make that window likely to be hit again if it reopens.
TEST_P(Map, ManyShortRunsAllFinish) {
  for (int run = 0; run < 200; ++run) {
    std::size_t n = 0;
    for (auto& r : parmill::map(backend(), std::views::iota(0, 40), [](int x) { return x; }, {.window = 4}))
      n += r.has_value();
    ASSERT_EQ(n, 40U) << "run " << run;
  }
}
