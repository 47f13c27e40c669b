// Conformance tests of the mpi backend (parmill/mpi.hpp), run by CTest under mpirun with 2, 3 and
// 5 ranks. Every rank runs every test, as an MPI program does: rank 0 drives each map and checks
// its outcomes; the other ranks serve it (their map yields nothing) and check that.
#include <parmill/detail/remote_transport.hpp>
#include <parmill/mpi.hpp>
#include <parmill/parmill.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <numeric>
#include <optional>
#include <parmill/journal.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace {

parmill::mpi_session* session = nullptr;

bool root() { return session->is_root(); }
std::size_t worker_ranks() { return static_cast<std::size_t>(session->size() - 1); }

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(Mpi, TheBackendNamesTheOtherRanksAsWorkers) {
  const parmill::backend b = parmill::mpi(3);
  EXPECT_EQ(b.kind(), parmill::backend_kind::mpi);
  EXPECT_EQ(b.workers(), worker_ranks() * 3);
  EXPECT_EQ(b.slots_per_rank(), 3U);
}

TEST(Mpi, InputOrderYieldsEveryItemOnceInOrderOnRankZeroOnly) {
  std::size_t expected = 0;
  for (auto& r : parmill::map(parmill::mpi(), iota_vector(20000), [](int x) { return x * 3; })) {
    ASSERT_EQ(r.index(), expected);
    ASSERT_EQ(*r, static_cast<int>(expected) * 3);
    ++expected;
  }
  EXPECT_EQ(expected, root() ? 20000U : 0U);
}

TEST(Mpi, CompletionOrderYieldsEveryItemExactlyOnce) {
  std::vector<int> seen(5000, 0);
  std::size_t n = 0;
  for (auto& r : parmill::map(parmill::mpi(2), iota_vector(5000), [](int x) { return std::to_string(x); },
                              {.order = parmill::order::completion})) {
    ASSERT_EQ(*r, std::to_string(r.index()));
    ++seen[r.index()];
    ++n;
  }
  if (root()) {
    for (int count : seen)
      ASSERT_EQ(count, 1);
  }
  EXPECT_EQ(n, root() ? 5000U : 0U);
}

TEST(Mpi, ItemsAreBalancedOverTheRanksAndCarryTheirRankAndHost) {
  std::map<int, std::size_t> per_rank;
  for (auto& r : parmill::map(parmill::mpi(), iota_vector(4000),
                              parmill::per_worker([](const parmill::worker_context& c) {
                                return [rank = c.rank, host = c.host, index = c.index, count = c.count](int) {
                                  return std::tuple<int, std::string, std::size_t, std::size_t, long>{
                                      rank, host, index, count, static_cast<long>(::getpid())};
                                };
                              }))) {
    const auto& [rank, host, index, count, pid] = *r;
    EXPECT_EQ(rank, static_cast<int>(index) + 1) << "one slot per rank: worker i is rank i+1";
    EXPECT_EQ(count, worker_ranks());
    EXPECT_EQ(host, session->host()) << "every rank runs on this machine in the test";
    EXPECT_NE(pid, static_cast<long>(::getpid())) << "items ran on another rank";
    ++per_rank[rank];
  }
  if (root()) {
    EXPECT_EQ(per_rank.size(), worker_ranks()) << "every rank got work";
  }
}

TEST(Mpi, PerWorkerStateIsBuiltOncePerSlotOnItsRank) {
  struct model {
    int rank;
    std::size_t slot;
    long pid = ::getpid();
    int uses = 0;
    explicit model(const parmill::worker_context& c) : rank(c.rank), slot(c.index) {}
    std::tuple<int, std::size_t, long, int> operator()(int) { return {rank, slot, pid, ++uses}; }
  };
  std::map<std::size_t, std::set<long>> builders;
  std::map<std::size_t, std::set<int>> uses_by_slot;
  for (auto& r : parmill::map(parmill::mpi(2), iota_vector(3000), parmill::per_worker<model>())) {
    const auto& [rank, slot, pid, uses] = *r;
    EXPECT_EQ(rank, static_cast<int>(slot / 2) + 1) << "slots 2k and 2k+1 live on rank k+1";
    builders[slot].insert(pid);
    EXPECT_TRUE(uses_by_slot[slot].insert(uses).second) << "one object per slot, counting its uses";
  }
  for (const auto& [slot, pids] : builders)
    EXPECT_EQ(pids.size(), 1U) << "slot " << slot;
  for (const auto& [slot, uses] : uses_by_slot) // 1, 2, ... n: the same object served every item
    EXPECT_EQ(static_cast<std::size_t>(*uses.rbegin()), uses.size()) << "slot " << slot;
}

TEST(Mpi, AnExceptionComesBackWithItsTypeAndMessage) {
  std::size_t failures = 0;
  for (auto& r : parmill::map(parmill::mpi(), iota_vector(100),
                              [](int x) {
                                if (x % 10 == 3) throw std::invalid_argument("bad " + std::to_string(x));
                                return x;
                              },
                              {.on_error = parmill::on_error::yield})) {
    if (r.index() % 10 == 3) {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().message, "bad " + std::to_string(r.index()));
      try {
        std::rethrow_exception(r.error().exception);
      } catch (const parmill::remote_error& e) {
        EXPECT_EQ(e.type(), "std::invalid_argument");
      }
      ++failures;
    } else {
      EXPECT_EQ(*r, static_cast<int>(r.index()));
    }
  }
  EXPECT_EQ(failures, root() ? 10U : 0U);
}

TEST(Mpi, RaiseYieldsEverythingBeforeTheFailureThenThrowsIt) {
  std::size_t yielded = 0;
  auto run = [&] {
    for (auto& r : parmill::map(parmill::mpi(), iota_vector(10000), [](int x) {
           if (x == 777) throw std::runtime_error("seven");
           return x;
         })) {
      EXPECT_EQ(r.index(), yielded);
      ++yielded;
    }
  };
  if (root()) {
    EXPECT_THROW(run(), parmill::item_failed);
    EXPECT_EQ(yielded, 777U);
  } else {
    EXPECT_NO_THROW(run());
  }
}

TEST(Mpi, BreakingOutOfAnEndlessInputEndsTheRunOnEveryRank) {
  // Later breaks leave large chunks (and answers too big to be sent before they are received) in
  // flight: rank 0 must take every answer still coming, in whatever order the ranks send them.
  for (const std::size_t stop_at : {10UL, 1000UL, 30000UL, 200000UL}) {
    std::size_t n = 0;
    for (auto& r : parmill::map(parmill::mpi(), std::views::iota(0L), [](long x) { return x; })) {
      ASSERT_EQ(*r, static_cast<long>(n));
      if (++n == stop_at) break;
    }
    EXPECT_EQ(n, root() ? stop_at : 0U);
  } // each next map only starts once every rank has left the one before
}

TEST(Mpi, TheWindowBoundsItemsReadOnRankZero) {
  std::atomic<std::size_t> read{0};
  auto counted = std::views::iota(0) | std::views::transform([&](int x) {
                   read.fetch_add(1);
                   return x;
                 });
  std::size_t consumed = 0, most = 0;
  for (auto& r : parmill::map(parmill::mpi(), counted, [](int x) { return x; }, {.window = 32})) {
    ++consumed;
    most = std::max(most, read.load() - (consumed - 1));
    (void)r;
    if (consumed == 3000) break;
  }
  EXPECT_LE(most, 32U);
}

TEST(Mpi, APipelineStageCanRunOnTheRanks) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(2000))
               .pipe([](int& x) { return x + 1; }, {.name = "here"})
               .pipe(
                   [](int& x) {
                     return std::pair<int, long>{x * 2, static_cast<long>(::getpid())};
                   },
                   {.name = "ranks", .backend = parmill::mpi()})
               .build(parmill::threads(2));
  std::size_t n = 0;
  for (auto& r : p) {
    EXPECT_EQ(r->first, (static_cast<int>(r.index()) + 1) * 2);
    EXPECT_NE(r->second, static_cast<long>(::getpid()));
    ++n;
  }
  EXPECT_EQ(n, root() ? 2000U : 0U);
}

double cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

TEST(Mpi, IdleRanksDoNotSpinTheCpu) {
  // Rank 0 is slow to consume (20 ms per outcome): the window fills and every other rank waits for
  // it most of the run. Waiting must cost little CPU on every rank, rank 0's proxies included.
  const auto wall_start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_seconds();
  for (auto& r : parmill::map(parmill::mpi(), iota_vector(30), [](int x) { return x; }, {.window = 2})) {
    (void)r;
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // the consumer's own (slow) work
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  const double cpu = cpu_seconds() - cpu_start;
  EXPECT_GT(wall, 0.5);
  EXPECT_LT(cpu / wall, 0.2) << "rank " << session->rank() << " used " << cpu << " s of CPU in " << wall
                             << " s";
}

TEST(Mpi, ASendDoesNotWaitForItsReceiver) {
  // A rank whose large answer rank 0 has not taken yet must go on working: rank 1 sends 4 MiB under
  // tag 1, then a small message under tag 2, and rank 0 takes tag 2 first. A send that waited for
  // its receiver (a blocking MPI_Send) would never let the small message leave.
  const parmill::backend b = parmill::mpi();
  auto channel = b.remote()->open(); // collective: every rank opens it
  const std::atomic<bool> never{false};
  using parmill::detail::receive_status;
  if (session->rank() == 1) {
    const std::vector<std::byte> payload(std::size_t{4} << 20, std::byte{7});
    parmill::writer large;
    large.bytes(payload.data(), payload.size());
    channel->send(0, 1, large);
    parmill::writer small;
    small.raw(std::uint8_t{2});
    channel->send(0, 2, small);
  } else if (root()) {
    std::vector<std::byte> bytes;
    int tag = 2;
    const receive_status small_first = channel->receive(
        1, 2, 1, tag, bytes, never, {}, std::chrono::steady_clock::now() + std::chrono::seconds(20));
    EXPECT_EQ(small_first, receive_status::ok)
        << "the small message did not come before the large one was taken";
    tag = 1;
    ASSERT_EQ(channel->receive(1, 1, 1, tag, bytes, never, {}, std::nullopt), receive_status::ok);
    EXPECT_EQ(bytes.size(), std::size_t{4} << 20);
    if (small_first != receive_status::ok) {
      tag = 2;
      channel->receive(1, 2, 1, tag, bytes, never, {}, std::nullopt);
    }
  }
  channel.reset(); // delivers what is still posted, then frees the communicator
}

TEST(Mpi, RankZeroJournalsOutcomesAndAResumedRunDoesOnlyTheRest) {
  const std::string path = "/tmp/parmill-mpi-journal-" + std::to_string(session->size()) + ".bin";
  if (root()) std::remove(path.c_str());
  std::size_t first = 0;
  for (auto& r :
       parmill::map(parmill::mpi(), iota_vector(500), [](int x) { return x + 1; }, {.journal = path})) {
    (void)r;
    if (++first == 200) break; // as if the job had died here
  }
  std::size_t second = 0;
  for (auto& r : parmill::map(parmill::mpi(), iota_vector(500), [](int x) { return x + 1; },
                              {.journal = path, .resume = true})) {
    EXPECT_GE(r.index(), 200U) << "input order: the first 200 are done";
    ++second;
  }
  if (root()) {
    EXPECT_EQ(second, 300U);
    const auto all = parmill::read_journal<int>(path);
    ASSERT_EQ(all.size(), 500U);
    for (const auto& o : all)
      EXPECT_EQ(*o, static_cast<int>(o.index()) + 1);
    std::remove(path.c_str());
  }
}

// A call that never returns by itself, until `release_late_calls`, which also waits until every
// late call of this rank has returned, so that the abandoned threads go back into the finished run
// (where their results must be dropped) while this test still runs, not during a later one.
std::atomic<bool> late_calls_released{false};
std::atomic<int> late_calls_started{0};
std::atomic<int> late_calls_returned{0};
void hang_until_released() {
  ++late_calls_started;
  late_calls_released.wait(false);
  ++late_calls_returned;
  late_calls_returned.notify_all();
}
void release_late_calls() {
  late_calls_released = true;
  late_calls_released.notify_all();
  for (int returned = late_calls_returned; returned != late_calls_started; returned = late_calls_returned)
    late_calls_returned.wait(returned);
}

TEST(Mpi, ACallPastTheTimeLimitFailsAsTimedOutAndTheRunGoesOn) {
  late_calls_released = false;
  std::vector<bool> seen(30, false);
  std::size_t n = 0;
  for (auto& r :
       parmill::map(parmill::mpi(), iota_vector(30),
                    [](int x) {
                      if (x == 7) hang_until_released();
                      return x * 2;
                    },
                    {.on_error = parmill::on_error::yield, .timeout = std::chrono::milliseconds(300)})) {
    seen[r.index()] = true;
    ++n;
    if (r.index() == 7) {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().kind, parmill::failure_kind::timed_out);
      EXPECT_NE(r.error().message.find("time limit of 0.3"), std::string::npos) << r.error().message;
    } else {
      ASSERT_TRUE(r.has_value()) << r.error().describe();
      EXPECT_EQ(*r, static_cast<int>(r.index()) * 2);
    }
  }
  release_late_calls(); // the abandoned call returns into a finished run: its result is dropped
  EXPECT_EQ(n, root() ? 30U : 0U);
}

TEST(Mpi, ARetryAfterATimeoutRunsOnANewPerWorkerObject) {
  late_calls_released = false;
  static std::atomic<int> built{0};        // per-worker objects built in this process
  static std::atomic<int> item_7_tries{0}; // in this process
  built = 0;
  item_7_tries = 0;
  std::size_t n = 0;
  // One slot per rank, so the objects built in the rank that runs item 7 are its first (for the
  // call that hangs) and one for the retry.
  for (auto& r :
       parmill::map(parmill::mpi(1), iota_vector(20), parmill::per_worker([](const parmill::worker_context&) {
                      return [serial = ++built](int x) {
                        if (x == 7 && item_7_tries++ == 0) hang_until_released();
                        return serial;
                      };
                    }),
                    {.retries = 1, .timeout = std::chrono::milliseconds(300)})) {
    ASSERT_TRUE(r.has_value()) << r.error().describe();
    if (r.index() == 7) EXPECT_EQ(*r, 2) << "the retry ran on the object of the call that hung";
    ++n;
  }
  release_late_calls();
  EXPECT_EQ(n, root() ? 20U : 0U);
}

TEST(Mpi, SameCodeOnEveryBackend) {
  // The example's point: this function does not know where it runs.
  const auto total = [](parmill::backend where) {
    long sum = 0;
    for (auto& r : parmill::map(where, iota_vector(1000), [](int x) { return 2L * x; }))
      sum += *r;
    return sum;
  };
  EXPECT_EQ(total(parmill::threads(2)), 999000L);
  EXPECT_EQ(total(parmill::processes(2)), 999000L);
  EXPECT_EQ(total(parmill::mpi()), root() ? 999000L : 0L);
}

/// Prints a failed assertion on a rank other than 0, naming the rank.
class failure_printer : public ::testing::EmptyTestEventListener {
public:
  explicit failure_printer(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (result.failed())
      std::fprintf(stderr, "rank %d: %s:%d: %s\n", rank_, result.file_name() ? result.file_name() : "?",
                   result.line_number(), result.summary());
  }

private:
  int rank_;
};

} // namespace

int main(int argc, char** argv) {
  parmill::mpi_session mpi(argc, argv);
  session = &mpi;
  ::testing::InitGoogleTest(&argc, argv);
  if (!mpi.is_root()) { // one full report: rank 0's; the others print only their failures
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new failure_printer(mpi.rank()));
  }
  return RUN_ALL_TESTS();
}
