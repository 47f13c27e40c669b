// Conformance tests of parmill/pipeline.hpp. `Pipeline` tests observe only through results, so
// they are swept over inline, threads(1, 2, 8) and processes(2); `PipelineThreads` tests watch
// shared memory (objects alive, items read), so they are swept over threads(1, 2, 8).
#include <parmill/pipeline.hpp>
#include <parmill/thread_pool.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <latch>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <pty.h>
#include <signal.h>
#include <unistd.h>

namespace {

using parmill_test::where;
constexpr auto name_of = parmill_test::sweep_name;

class Pipeline : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
  bool on_processes() const { return GetParam().kind == parmill::backend_kind::processes; }
};

INSTANTIATE_TEST_SUITE_P(Backends, Pipeline,
                         ::testing::Values(where{parmill::backend_kind::inline_, 1},
                                           where{parmill::backend_kind::threads, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::threads, 8},
                                           where{parmill::backend_kind::processes, 2}),
                         name_of);

class PipelineThreads : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
  std::size_t workers() const { return GetParam().workers; }
};

INSTANTIATE_TEST_SUITE_P(Workers, PipelineThreads,
                         ::testing::Values(where{parmill::backend_kind::threads, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::threads, 8}),
                         name_of);

std::vector<int> iota_vector(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

/// The process's thread count, from /proc: a pipeline that is gone has left none behind. The
/// first call starts and joins a thread first, so that a sanitizer's own helper thread (started
/// with the first thread) is in every count.
int thread_count() {
  static const bool warmed = [] {
    std::thread([] {}).join();
    return true;
  }();
  (void)warmed;
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "Threads:") {
      int n = 0;
      status >> n;
      return n;
    }
  }
  return -1;
}

// ---- composition and order ------------------------------------------------------------------

TEST_P(Pipeline, StagesAreTypedAndComposeInInputOrder) {
  auto builder = parmill::pipeline_builder()
                     .source(iota_vector(3000))
                     .pipe([](int& x) { return std::to_string(x); }, {.name = "text"})
                     .pipe([](std::string& s) { return s.size(); }, {.name = "length"});
  static_assert(std::is_same_v<decltype(builder)::value_type, std::size_t>);
  auto p = std::move(builder).build(backend());
  std::size_t expected = 0;
  for (auto& r : p) {
    ASSERT_EQ(r.index(), expected);
    ASSERT_EQ(*r, std::to_string(expected).size());
    ++expected;
  }
  EXPECT_EQ(expected, 3000U);
}

TEST_P(Pipeline, EachStageKeepsItsOwnOrder) {
  // The first stage finishes items out of order (later items are cheaper); in input order the
  // second stage still sees and yields them in order; in completion order every item comes once.
  auto cost = [](int& x) {
    volatile long spin = 0;
    for (long i = 0; i < (200 - x % 200) * 50; ++i)
      spin = spin + i;
    return x;
  };
  for (const auto ordering : {parmill::order::input, parmill::order::completion}) {
    auto p = parmill::pipeline_builder()
                 .source(iota_vector(2000))
                 .pipe(cost, {.order = ordering, .name = "uneven"})
                 .pipe([](int& x) { return x * 2; }, {.name = "double"})
                 .build(backend());
    std::vector<int> seen;
    for (auto& r : p) {
      ASSERT_EQ(*r, static_cast<int>(r.index()) * 2);
      seen.push_back(*r / 2);
    }
    if (ordering == parmill::order::input) {
      EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    } else {
      std::sort(seen.begin(), seen.end());
    }
    EXPECT_EQ(seen, iota_vector(2000));
  }
}

TEST_P(Pipeline, AFilterDropsTheItemsItReturnsEmptyFor) {
  auto p =
      parmill::pipeline_builder()
          .source(iota_vector(1000))
          .pipe([](int& x) -> std::optional<int> { return x % 3 == 0 ? std::optional(x) : std::nullopt; },
                {.name = "thirds"})
          .pipe([](int& x) { return x + 1; })
          .build(backend());
  std::vector<int> got;
  for (auto& r : p) {
    EXPECT_EQ(static_cast<int>(r.index()), *r - 1) << "an outcome's index is its source item's";
    got.push_back(*r - 1);
  }
  std::vector<int> expected;
  for (int x = 0; x < 1000; x += 3)
    expected.push_back(x);
  EXPECT_EQ(got, expected);
  const auto report = p.report();
  ASSERT_EQ(report.stages.size(), 2U);
  EXPECT_EQ(report.stages[0].name, "thirds");
  EXPECT_EQ(report.stages[0].items_in, 1000U);
  EXPECT_EQ(report.stages[0].filtered, 666U);
  EXPECT_EQ(report.stages[0].items_out, 334U);
  EXPECT_EQ(report.stages[1].name, "stage 2");
  EXPECT_EQ(report.stages[1].items_in, 334U);
  EXPECT_EQ(report.outputs, 334U);
}

TEST_P(Pipeline, BatchGroupsAndUnbatchFlattens) {
  auto batches = parmill::pipeline_builder()
                     .source(iota_vector(10))
                     .pipe([](int& x) { return x * 10; })
                     .batch(4)
                     .build(backend());
  std::vector<std::vector<int>> got;
  std::vector<std::size_t> indices;
  for (auto& b : batches) {
    got.push_back(*b);
    indices.push_back(b.index());
  }
  EXPECT_EQ(got, (std::vector<std::vector<int>>{{0, 10, 20, 30}, {40, 50, 60, 70}, {80, 90}}));
  EXPECT_EQ(indices, (std::vector<std::size_t>{0, 4, 8})) << "a batch's index is its first item's";

  auto flat = parmill::pipeline_builder()
                  .source(iota_vector(10))
                  .batch(3)
                  .pipe([](std::vector<int>& b) { return b; }, {.name = "per batch"})
                  .unbatch()
                  .pipe([](int& x) { return x + 1; })
                  .build(backend());
  std::vector<int> values;
  for (auto& r : flat)
    values.push_back(*r);
  EXPECT_EQ(values, (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_THROW((void)parmill::pipeline_builder().source(iota_vector(3)).batch(0), std::invalid_argument);
}

// The camera-frame graph: a detector whose output goes to a size estimator and a classifier
// running beside each other, both joined by an aggregator.
struct detection {
  int frame = 0;
  int boxes = 0;
  static constexpr auto parmill_fields = std::tuple{&detection::frame, &detection::boxes};
};

TEST_P(Pipeline, FanOutRunsBranchesBesideEachOtherAndJoinsThemPerItem) {
  auto p =
      parmill::pipeline_builder()
          .source(iota_vector(500))
          .pipe(
              [](int& frame) {
                return detection{frame, frame % 4};
              },
              {.name = "detect"})
          .fan_out(parmill::branch([](detection& d) { return d.boxes * 100; }, {.name = "size"}),
                   parmill::branch([](detection& d) { return std::string(d.boxes % 2 ? "odd" : "even"); },
                                   {.concurrency = 1, .name = "classify"}),
                   parmill::branch(
                       [](detection& d) -> std::optional<int> {
                         if (d.frame % 5 == 0) return std::nullopt; // a branch may drop the item
                         return d.frame;
                       },
                       {.name = "keep"}))
          .pipe(
              [](std::tuple<int, std::string, int>& joined) {
                const auto& [size, kind, frame] = joined;
                return std::to_string(frame) + ":" + std::to_string(size) + ":" + kind;
              },
              {.name = "aggregate"})
          .build(backend());
  std::size_t n = 0;
  for (auto& r : p) {
    const int frame = static_cast<int>(r.index());
    ASSERT_NE(frame % 5, 0) << "an item any branch drops is dropped";
    const int boxes = frame % 4;
    EXPECT_EQ(*r,
              std::to_string(frame) + ":" + std::to_string(boxes * 100) + ":" + (boxes % 2 ? "odd" : "even"));
    ++n;
  }
  EXPECT_EQ(n, 400U);
  const auto report = p.report();
  ASSERT_EQ(report.stages.size(), 5U);
  EXPECT_EQ(report.stages[1].name, "size");
  EXPECT_EQ(report.stages[2].name, "classify");
  EXPECT_EQ(report.stages[3].items_in, 500U);
  EXPECT_EQ(report.stages[3].filtered, 100U);
}

// ---- errors ---------------------------------------------------------------------------------

int fails_at_7(int& x) {
  if (x == 7) throw std::runtime_error("bad frame");
  return x;
}

TEST_P(Pipeline, RaiseStopsAtTheFirstFailureAndNamesTheStage) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(100000))
               .pipe(fails_at_7, {.name = "decode"})
               .pipe([](int& x) { return x; }, {.name = "after"})
               .build(backend());
  std::size_t yielded = 0;
  try {
    for (auto& r : p) {
      EXPECT_LT(r.index(), 100000U);
      ++yielded;
    }
    FAIL() << "the failure was not raised";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 7U);
    EXPECT_EQ(e.error().stage, "decode");
    EXPECT_NE(std::string(e.what()).find("in stage 'decode'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad frame"), std::string::npos) << e.what();
  }
  EXPECT_LT(yielded, 100000U) << "the run stopped";
  EXPECT_LT(p.report().stages[0].items_in, 100000U) << "no stage read on after the failure";
}

TEST_P(Pipeline, YieldPassesFailuresOnWithTheirStageAndGoesOn) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(20))
               .pipe(fails_at_7, {.name = "decode"})
               .pipe([](int& x) { return x * 2; }, {.name = "double"})
               .build(backend(), {.on_error = parmill::on_error::yield});
  std::size_t n = 0;
  for (auto& r : p) {
    EXPECT_EQ(r.index(), n);
    if (r.index() == 7) {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().stage, "decode") << "a failure keeps the stage it happened in";
      EXPECT_EQ(r.error().message, "bad frame");
      EXPECT_THROW((void)*r, parmill::item_failed);
    } else {
      EXPECT_EQ(*r, static_cast<int>(r.index()) * 2);
    }
    ++n;
  }
  EXPECT_EQ(n, 20U);
  EXPECT_EQ(p.report().stages[0].failures, 1U);
  EXPECT_EQ(p.report().stages[1].failures, 0U);
}

TEST_P(Pipeline, MaxFailuresHaltsAYieldingRunThatFailsTooOften) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(1000))
               .pipe(
                   [](int& x) {
                     if (x % 10 == 3) throw std::invalid_argument("item " + std::to_string(x));
                     return x;
                   },
                   {.name = "check"})
               .build(backend(), {.on_error = parmill::on_error::yield, .max_failures = 2});
  std::size_t failures = 0;
  auto run = [&] {
    for (auto& r : p)
      failures += r.has_value() ? 0 : 1;
  };
  EXPECT_THROW(run(), parmill::item_failed);
  EXPECT_EQ(failures, 2U);
}

TEST_P(Pipeline, RetriesTryAFailingItemAgainInItsStage) {
  // Fails the first time each worker sees item 5 (state kept in the worker's own object, so this
  // holds in worker processes too), then succeeds.
  struct flaky {
    std::set<int> seen;
    explicit flaky(const parmill::worker_context&) {}
    int operator()(int& x) {
      if (x == 5 && seen.insert(x).second) throw std::runtime_error("transient");
      return x;
    }
  };
  auto p = parmill::pipeline_builder()
               .source(iota_vector(10))
               .pipe(parmill::per_worker<flaky>(), {.name = "flaky", .retries = 1})
               .build(backend());
  std::vector<int> got;
  for (auto& r : p)
    got.push_back(*r);
  EXPECT_EQ(got, iota_vector(10));
}

TEST_P(Pipeline, TheSourcesOwnExceptionEndsTheRunAfterTheItemsBeforeIt) {
  auto failing = std::views::iota(0, 100) | std::views::transform([](int x) {
                   if (x == 60) throw std::length_error("source broke");
                   return x;
                 });
  auto p = parmill::pipeline_builder().source(failing).pipe([](int& x) { return x; }).build(backend());
  std::size_t n = 0;
  auto run = [&] {
    for (auto& r : p) {
      EXPECT_EQ(r.index(), n);
      ++n;
    }
  };
  EXPECT_THROW(run(), std::length_error);
  EXPECT_EQ(n, 60U);
}

// ---- per-worker state and backends ----------------------------------------------------------

TEST_P(Pipeline, PerWorkerStateIsBuiltOncePerWorkerOfAStage) {
  struct model {
    std::size_t worker;
    pid_t built_in;
    std::thread::id built_on;
    int uses = 0;
    explicit model(const parmill::worker_context& c)
        : worker(c.index), built_in(::getpid()), built_on(std::this_thread::get_id()) {}
    std::tuple<std::size_t, long, bool, int> operator()(int&) {
      return {worker, static_cast<long>(built_in), built_on == std::this_thread::get_id(), ++uses};
    }
  };
  const std::size_t concurrency = GetParam().kind == parmill::backend_kind::inline_ ? 1 : 3;
  auto p = parmill::pipeline_builder()
               .source(iota_vector(3000))
               .pipe(parmill::per_worker<model>(), {.concurrency = 3, .name = "model"})
               .build(backend());
  std::map<std::size_t, std::set<long>> builders; // worker -> processes that built its object
  std::map<std::size_t, int> last_use;
  for (auto& r : p) {
    const auto& [worker, pid, same_thread, uses] = *r;
    ASSERT_LT(worker, concurrency);
    EXPECT_TRUE(same_thread) << "an object is used on the thread that built it";
    builders[worker].insert(pid);
    EXPECT_GT(uses, last_use[worker]) << "one object per worker, used again and again";
    last_use[worker] = uses;
  }
  for (const auto& [worker, pids] : builders)
    EXPECT_EQ(pids.size(), 1U) << "worker " << worker;
  if (on_processes()) {
    EXPECT_EQ(builders.begin()->second.count(static_cast<long>(::getpid())), 0U)
        << "built in a worker process";
  }
}

TEST_P(Pipeline, AStageCanRunOnABackendOfItsOwn) {
  // The middle stage runs in worker processes whatever the pipeline's backend; the others do not.
  auto p = parmill::pipeline_builder()
               .source(iota_vector(300))
               .pipe(
                   [](int& x) {
                     return std::pair<int, long>{x, static_cast<long>(::getpid())};
                   },
                   {.name = "here"})
               .pipe(
                   [](std::pair<int, long>& v) {
                     return std::tuple<int, long, long>{v.first, v.second, ::getpid()};
                   },
                   {.concurrency = 2, .name = "isolated", .backend = parmill::processes(2)})
               .build(backend());
  for (auto& r : p) {
    const auto& [x, first_pid, second_pid] = *r;
    EXPECT_EQ(x, static_cast<int>(r.index()));
    EXPECT_NE(second_pid, static_cast<long>(::getpid())) << "the isolated stage ran in another process";
    EXPECT_NE(second_pid, first_pid);
    if (!on_processes()) {
      EXPECT_EQ(first_pid, static_cast<long>(::getpid()));
    }
  }
  const auto report = p.report();
  EXPECT_EQ(report.stages[1].backend, parmill::backend_kind::processes);
  EXPECT_EQ(report.stages[1].items_out, 300U);
  EXPECT_GT(report.stages[1].busy_seconds, 0.0) << "worker processes' times are counted too";
}

TEST_P(Pipeline, ACrashInAProcessStageFailsItsItemNamingTheStage) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(50))
               .pipe([](int& x) -> std::optional<int> { return x % 2 ? std::optional(x) : std::nullopt; })
               .pipe(
                   [](int& x) {
                     if (x == 21) ::raise(SIGSEGV);
                     return x;
                   },
                   {.concurrency = 2, .name = "fragile", .backend = parmill::processes(2)})
               .build(backend(), {.on_error = parmill::on_error::yield});
  std::size_t n = 0;
  for (auto& r : p) {
    if (r.index() == 21) {
      ASSERT_FALSE(r.has_value());
      EXPECT_EQ(r.error().kind, parmill::failure_kind::crashed);
      EXPECT_EQ(r.error().stage, "fragile");
    } else {
      EXPECT_EQ(*r, static_cast<int>(r.index()));
    }
    ++n;
  }
  EXPECT_EQ(n, 25U) << "the odd items, the crashed one included";
}

TEST(PipelineBackends, AThreadPoolIsRefusedWithAClearMessage) {
  parmill::thread_pool pool(2);
  try {
    auto p = parmill::pipeline_builder()
                 .source(iota_vector(3))
                 .pipe([](int& x) { return x; }, {.name = "s"})
                 .build(parmill::backend(pool));
    FAIL() << "a thread_pool was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("thread_pool"), std::string::npos);
  }
}

// ---- bounds and stopping --------------------------------------------------------------------

TEST_P(PipelineThreads, QueuesBoundTheItemsInFlightOfAnEndlessSource) {
  constexpr std::size_t queue = 16;
  std::atomic<std::size_t> read{0};
  auto endless = std::views::iota(0) | std::views::transform([&](int x) {
                   read.fetch_add(1);
                   return x;
                 });
  auto p = parmill::pipeline_builder()
               .source(endless)
               .pipe([](int& x) { return x + 1; }, {.name = "a", .queue = queue})
               .pipe([](int& x) { return x * 2; },
                     {.order = parmill::order::completion, .name = "b", .queue = queue})
               .build(backend());
  std::size_t consumed = 0, most = 0;
  for (auto& r : p) {
    ++consumed;
    most = std::max(most, read.load() - (consumed - 1));
    (void)r;
    if (consumed == 20000) break;
  }
  // Each stage holds at most its queue; between them, one item waits in the hand-over.
  EXPECT_LE(most, 2 * queue + 2);
}

TEST_P(PipelineThreads, LeavingTheLoopStopsAndJoinsEverything) {
  const int threads_before = thread_count();
  auto alive = std::make_shared<std::atomic<int>>(0);
  struct tracked {
    std::shared_ptr<std::atomic<int>> alive;
    explicit tracked(const parmill::worker_context&, std::shared_ptr<std::atomic<int>> a)
        : alive(std::move(a)) {
      alive->fetch_add(1);
    }
    tracked(const tracked&) = delete;
    ~tracked() { alive->fetch_sub(1); }
    long operator()(long& x) const { return x; }
  };
  {
    auto p = parmill::pipeline_builder()
                 .source(std::views::iota(0L))
                 .pipe(parmill::per_worker<tracked>(alive), {.name = "first"})
                 .pipe(parmill::per_worker<tracked>(alive), {.name = "second"})
                 .sink(4)
                 .build(backend(), {.report_every = std::chrono::hours(1)});
    for (auto& r : p)
      if (r.index() == 500) break;
    EXPECT_GE(alive->load(), 2);
  }
  EXPECT_EQ(alive->load(), 0) << "every worker's object is destroyed with the pipeline";
  EXPECT_EQ(thread_count(), threads_before) << "no thread outlives the pipeline";
}

TEST_P(PipelineThreads, AConsumerThatThrowsStopsTheWork) {
  const int threads_before = thread_count();
  auto run = [&] {
    auto p = parmill::pipeline_builder()
                 .source(std::views::iota(0L))
                 .pipe([](long& x) { return x; })
                 .pipe([](long& x) { return x; })
                 .build(backend());
    for (auto& r : p)
      if (r.index() == 100) throw std::domain_error("consumer gave up");
  };
  EXPECT_THROW(run(), std::domain_error);
  EXPECT_EQ(thread_count(), threads_before);
}

TEST_P(PipelineThreads, StopFromAnotherThreadEndsAnEndlessRunWithoutAnError) {
  std::latch started(1);
  auto p = parmill::pipeline_builder()
               .source(std::views::iota(0L))
               .pipe([](long& x) { return x; }, {.name = "work"})
               .build(backend());
  std::thread stopper([&] {
    started.wait();
    p.stop();
  });
  std::size_t n = 0;
  for (auto& r : p) {
    (void)r;
    if (++n == 10) started.count_down(); // the stop comes while the run is in full flow
  }
  stopper.join();
  EXPECT_GE(n, 10U);
  const auto report = p.report();
  EXPECT_EQ(report.stages[0].items_in, report.stages[0].items_out + report.stages[0].in_flight)
      << "every item read is accounted for";
}

TEST_P(PipelineThreads, ABackgroundRunCanBeWaitedOnAndStopped) {
  std::atomic<long> sum{0};
  auto done = parmill::run_in_background(
      parmill::pipeline_builder().source(iota_vector(1000)).pipe([](int& x) { return x; }).build(backend()),
      [&](parmill::outcome<int>& r) { sum += *r; });
  done.wait();
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);

  std::latch running(1);
  std::atomic<bool> signalled{false};
  auto endless = parmill::run_in_background(parmill::pipeline_builder()
                                                .source(std::views::iota(0L))
                                                .pipe([](long& x) { return x; })
                                                .build(backend()),
                                            [&](parmill::outcome<long>&) {
                                              if (!signalled.exchange(true)) running.count_down();
                                            });
  running.wait();
  endless.stop();
  endless.wait(); // returns: the endless run stopped

  auto failing = parmill::run_in_background(
      parmill::pipeline_builder().source(iota_vector(100)).pipe(fails_at_7, {.name = "f"}).build(backend()),
      [](parmill::outcome<int>&) {});
  EXPECT_THROW(failing.wait(), parmill::item_failed);
}

TEST_P(PipelineThreads, APeriodicReportGoesToStandardError) {
  ::testing::internal::CaptureStderr();
  {
    auto p = parmill::pipeline_builder()
                 .source(iota_vector(100))
                 .pipe([](int& x) { return x; }, {.name = "loader"})
                 .build(backend(), {.progress = true});
    for (auto& r : p)
      (void)r;
  }
  const std::string text = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(text.find("pipeline: 100 outputs"), std::string::npos) << text;
  EXPECT_NE(text.find("loader"), std::string::npos) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos) << "no carriage return where it is not a terminal";
}

TEST(PipelineReport, OnATerminalDrawsALinePerStageInPlace) {
  int master = -1, slave = -1;
  winsize size{.ws_row = 24, .ws_col = 200, .ws_xpixel = 0, .ws_ypixel = 0};
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &size), 0);
  {
    parmill::detail::pipeline_stats stats;
    stats.add("download", parmill::backend_kind::threads, 8).count_in();
    stats.add("decode", parmill::backend_kind::processes, 2);
    stats.start_display(slave, true, std::chrono::hours(1));
    stats.stop_display(); // draws the last state
  }
  ::close(slave);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(master);
  EXPECT_EQ(out.rfind("\r\x1b[2Kdownload", 0), 0U) << "each line is cleared and redrawn: " << out;
  EXPECT_NE(out.find("\r\x1b[2Kdecode       processes x2"), std::string::npos) << out;
  EXPECT_NE(out.find("in 1 "), std::string::npos) << out;
}

TEST(PipelineReport, FormatsALinePerStageWithItsNumbers) {
  parmill::pipeline_report r;
  r.elapsed_seconds = 2;
  r.outputs = 10;
  r.stages.push_back({.name = "decode",
                      .backend = parmill::backend_kind::threads,
                      .concurrency = 2,
                      .items_in = 12,
                      .items_out = 10,
                      .failures = 1,
                      .filtered = 0,
                      .in_flight = 1,
                      .capacity = 8,
                      .busy_seconds = 1,
                      .mean_seconds = 0.1,
                      .p50_seconds = 0.002,
                      .p99_seconds = 0.5});
  const std::string text = r.to_string();
  EXPECT_NE(text.find("pipeline: 10 outputs in 2.00s"), std::string::npos) << text;
  EXPECT_NE(text.find("decode"), std::string::npos);
  EXPECT_NE(text.find("in 12"), std::string::npos);
  EXPECT_NE(text.find("fail 1"), std::string::npos);
  EXPECT_NE(text.find("queue    1/8"), std::string::npos) << text;
  EXPECT_NE(text.find("busy  25%"), std::string::npos) << text;
  EXPECT_NE(text.find("p50 2.0ms"), std::string::npos) << text;
}

} // namespace
