// The mpi backend's logic (parmill/detail/remote_executor.hpp: rank 0's proxies, the other ranks'
// worker slots) on a loopback transport: ranks as threads of this process, so that it is tested on
// every build, without MPI. tests/mpi/mpi_test.cpp runs the same backend under mpirun.
#include "helpers/loopback_transport.hpp"

#include <parmill/detail/remote_executor.hpp>
#include <parmill/map.hpp>
#include <parmill/mpi.hpp>
#include <parmill/workers.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using parmill_test::loopback_hub;
using parmill_test::on_loopback_ranks;

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(RemoteExecutor, InputOrderYieldsEveryItemOnceInOrderOnRankZeroOnly) {
  on_loopback_ranks(3, 2, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::size_t expected = 0;
    for (auto& r : parmill::map(b, iota_vector(5000), [](int x) { return x * 3; })) {
      ASSERT_EQ(r.index(), expected);
      ASSERT_EQ(*r, static_cast<int>(expected) * 3);
      ++expected;
    }
    EXPECT_EQ(expected, rank == 0 ? 5000U : 0U);
  });
}

TEST(RemoteExecutor, CompletionOrderYieldsEveryItemExactlyOnce) {
  on_loopback_ranks(4, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::multiset<std::size_t> seen;
    for (auto& r : parmill::map(b, iota_vector(3000), [](int x) { return std::to_string(x); },
                                {.order = parmill::order::completion}))
      seen.insert(r.index());
    if (rank != 0) return;
    ASSERT_EQ(seen.size(), 3000U);
    EXPECT_EQ(std::set<std::size_t>(seen.begin(), seen.end()).size(), 3000U);
  });
}

TEST(RemoteExecutor, AnExceptionOnAnotherRankIsTheItemsFailureWithItsTypeAndMessage) {
  on_loopback_ranks(2, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::size_t failures = 0;
    for (auto& r : parmill::map(b, iota_vector(100),
                                [](int x) {
                                  if (x % 10 == 3) throw std::invalid_argument("bad " + std::to_string(x));
                                  return x;
                                },
                                {.on_error = parmill::on_error::yield})) {
      if (r.has_value()) continue;
      ++failures;
      EXPECT_EQ(r.error().message, "bad " + std::to_string(r.index()));
      try {
        std::rethrow_exception(r.error().exception);
      } catch (const parmill::remote_error& e) {
        EXPECT_EQ(e.type(), "std::invalid_argument");
      }
    }
    EXPECT_EQ(failures, rank == 0 ? 10U : 0U);
  });
}

TEST(RemoteExecutor, RaiseYieldsTheItemsBeforeTheFailureThenThrowsIt) {
  on_loopback_ranks(3, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::size_t yielded = 0;
    auto run = [&] {
      for (auto& r : parmill::map(b, iota_vector(1000), [](int x) {
             if (x == 500) throw std::runtime_error("item 500");
             return x;
           }))
        yielded += r.has_value() ? 1 : 0;
    };
    if (rank == 0) {
      EXPECT_THROW(run(), parmill::item_failed);
      EXPECT_EQ(yielded, 500U);
    } else {
      run();
    }
  });
}

TEST(RemoteExecutor, APerWorkerObjectIsBuiltOnItsRankAndKnowsWhereItRuns) {
  struct where_am_i {
    std::string text;
    explicit where_am_i(const parmill::worker_context& c)
        : text(std::string(to_string(c.backend)) + " rank " + std::to_string(c.rank) + " on " + c.host) {}
    std::string operator()(int) const { return text; }
  };
  on_loopback_ranks(3, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::set<std::string> places;
    for (auto& r : parmill::map(b, iota_vector(200), parmill::per_worker<where_am_i>(), {.chunk = 1}))
      places.insert(*r);
    if (rank == 0) {
      EXPECT_TRUE(places.contains("mpi rank 1 on loopback") || places.contains("mpi rank 2 on loopback"));
      for (const auto& p : places)
        EXPECT_TRUE(p == "mpi rank 1 on loopback" || p == "mpi rank 2 on loopback") << p;
    }
  });
}

// A call taken over after its time limit goes on after the run has ended: the function it runs
// (here with a probe that notes its destruction on the worker rank) must live until it returns.
std::atomic<bool> worker_function_destroyed{false};
std::atomic<bool> hung_call_released{false};
std::atomic<bool> hung_call_saw_its_function_destroyed{false};
std::atomic<bool> hung_call_returned{false};

struct lifetime_probe {
  bool on_worker_rank;
  explicit lifetime_probe(bool worker_rank) : on_worker_rank(worker_rank) {}
  lifetime_probe(const lifetime_probe&) = default;
  lifetime_probe(lifetime_probe&& other) noexcept
      : on_worker_rank(std::exchange(other.on_worker_rank, false)) {}
  lifetime_probe& operator=(const lifetime_probe&) = delete;
  lifetime_probe& operator=(lifetime_probe&&) = delete;
  ~lifetime_probe() {
    if (on_worker_rank) worker_function_destroyed = true;
  }
};

bool wait_until(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(RemoteExecutor, AnAbandonedCallKeepsItsFunctionAliveAfterTheRunEnds) {
  on_loopback_ranks(2, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::size_t timed_out = 0;
    {
      auto results = parmill::map(
          b, iota_vector(4),
          [probe = lifetime_probe(rank == 1)](int x) {
            (void)probe;  // only its lifetime matters
            if (x == 2) { // hangs until the run has ended, then looks at its own function
              if (wait_until(hung_call_released))
                hung_call_saw_its_function_destroyed = worker_function_destroyed.load();
              hung_call_returned = true;
            }
            return x;
          },
          {.chunk = 1, .on_error = parmill::on_error::yield, .timeout = std::chrono::milliseconds(100)});
      for (auto& r : results)
        timed_out += r.has_value() ? 0 : 1;
    }
    if (rank == 0) {
      EXPECT_EQ(timed_out, 1U);
    }
    if (rank == 1) { // the run and its map are gone; the abandoned call goes on
      hung_call_released = true;
      ASSERT_TRUE(wait_until(hung_call_returned));
      EXPECT_FALSE(hung_call_saw_its_function_destroyed) << "the abandoned call ran on a destroyed function";
    }
  });
}

TEST(RemoteExecutor, ALateCallFailsAsTimedOutAndItsSlotGoesOn) {
  on_loopback_ranks(2, 1, [](const parmill::backend& b, int rank, loopback_hub&) {
    std::size_t timed_out = 0, ok = 0;
    for (auto& r : parmill::map(
             b, iota_vector(6),
             [](int x) {
               if (x == 2) std::this_thread::sleep_for(std::chrono::milliseconds(1500)); // a hung item
               return x;
             },
             {.chunk = 1, .on_error = parmill::on_error::yield, .timeout = std::chrono::milliseconds(200)})) {
      if (r.has_value()) {
        ++ok;
      } else {
        EXPECT_EQ(r.index(), 2U);
        EXPECT_EQ(r.error().kind, parmill::failure_kind::timed_out);
        EXPECT_NE(r.error().message.find("on rank 1; its thread was abandoned"), std::string::npos)
            << r.error().message;
        ++timed_out;
      }
    }
    if (rank == 0) {
      EXPECT_EQ(timed_out, 1U);
      EXPECT_EQ(ok, 5U);
    }
  });
}

TEST(RemoteExecutor, ARankThatStopsAnsweringEndsTheRunWithRankLostNamingIt) {
  on_loopback_ranks(2, 1, [](const parmill::backend& b, int rank, loopback_hub& hub) {
    if (rank == 1) hub.hang(1);
    auto run = [&] {
      for (auto& r : parmill::map(b, iota_vector(10), [](int x) { return x; },
                                  {.chunk = 1, .timeout = std::chrono::milliseconds(100)}))
        (void)r;
    };
    if (rank != 0) {
      run(); // serves nothing: it hangs until the job is shut down
      return;
    }
    try {
      run();
      ADD_FAILURE() << "the run ended without rank_lost";
    } catch (const parmill::rank_lost& e) {
      EXPECT_NE(std::string(e.what()).find("parmill: rank 1 stopped answering"), std::string::npos)
          << e.what();
      // Its two proxies held one item each; the message lists them in order, whichever was sent first.
      EXPECT_NE(std::string(e.what()).find("it held items 0 and 1."), std::string::npos) << e.what();
    }
    EXPECT_TRUE(hub.lost());
  });
}

TEST(RemoteExecutor, TheItemsALostRankHeldAreListedInAscendingOrder) {
  using parmill::detail::held_items_text;
  EXPECT_EQ(held_items_text({{6, 1}, {5, 1}}), "items 5 and 6");
  EXPECT_EQ(held_items_text({{40, 8}, {2, 1}, {10, 3}}), "items 2 and 10 to 12 and 40 to 47");
  EXPECT_EQ(held_items_text({{7, 2}}), "items 7 to 8");
}

} // namespace
