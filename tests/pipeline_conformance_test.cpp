// Conformance tests of the pipeline's documented guarantees that it shares with `map`: the error
// policies (every outcome before a halting failure is yielded, in every stage position, with and
// without `.sink`), the stop when the loop is left with the pipeline still in scope, and a report
// that can be streamed.
#include <parmill/pipeline.hpp>

#include <gtest/gtest.h>

#include "helpers/backend_sweep.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <numeric>
#include <optional>
#include <ostream>
#include <ranges>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace {

using parmill_test::where;

constexpr long items = 2000;
constexpr long failing_item = 50;
constexpr std::size_t stages = 3;

std::vector<long> iota_vector(long n) {
  std::vector<long> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0L);
  return v;
}

/// Where the run happens, which of the three stages fails, and whether a `.sink` ends it.
struct error_case {
  where backend;
  std::size_t failing_stage;
  bool sink;
};

std::string error_case_name(const ::testing::TestParamInfo<error_case>& info) {
  return std::string(to_string(info.param.backend.kind)) + "_" + std::to_string(info.param.backend.workers) +
         "_stage" + std::to_string(info.param.failing_stage + 1) + (info.param.sink ? "_sink" : "");
}

std::vector<error_case> every_error_case() {
  std::vector<error_case> cases;
  for (const where w : {where{parmill::backend_kind::inline_, 1}, where{parmill::backend_kind::threads, 1},
                        where{parmill::backend_kind::threads, 2}, where{parmill::backend_kind::threads, 8},
                        where{parmill::backend_kind::processes, 2}})
    for (std::size_t stage = 0; stage < stages; ++stage)
      for (const bool sink : {false, true})
        cases.push_back({w, stage, sink});
  return cases;
}

class PipelineErrors : public ::testing::TestWithParam<error_case> {
protected:
  parmill::backend backend() const { return GetParam().backend.make(); }
  /// The stage options of the README's shape: explicit concurrency, order and name.
  parmill::stage_options stage(std::size_t k) const {
    return {.concurrency = GetParam().backend.workers,
            .order = parmill::order::input,
            .name = "s" + std::to_string(k + 1)};
  }
  /// Three stages passing items on; stage `failing_stage` throws for items `fails(x)` says.
  template <class Fails>
  auto three_stages(Fails fails) const {
    const std::size_t bad = GetParam().failing_stage;
    auto step = [bad, fails](std::size_t me) {
      return [bad, fails, me](long& x) {
        if (me == bad && fails(x)) throw std::runtime_error("bad item " + std::to_string(x));
        return x;
      };
    };
    return parmill::pipeline_builder()
        .source(iota_vector(items))
        .pipe(step(0), stage(0))
        .pipe(step(1), stage(1))
        .pipe(step(2), stage(2));
  }
  /// Builds the pipeline (with `.sink(4)` when asked) and gives it to `consume`.
  template <class Builder, class Consume>
  void run(Builder builder, parmill::pipeline_options options, Consume consume) const {
    if (GetParam().sink) {
      auto p = std::move(builder).sink(4).build(backend(), options);
      consume(p);
    } else {
      auto p = std::move(builder).build(backend(), options);
      consume(p);
    }
  }
  std::string failing_stage_name() const { return "s" + std::to_string(GetParam().failing_stage + 1); }
};

INSTANTIATE_TEST_SUITE_P(Cases, PipelineErrors, ::testing::ValuesIn(every_error_case()), error_case_name);

// Issue 15, point 3: under `raise`, the loop yields every outcome before the failing item, in
// input order, then throws item_failed for it, whichever stage fails and with or without .sink.
TEST_P(PipelineErrors, RaiseYieldsEveryOutcomeBeforeTheFailureThenThrowsIt) {
  run(three_stages([](long x) { return x == failing_item; }), {}, [&](auto& p) {
    std::vector<long> yielded;
    try {
      for (auto& r : p)
        yielded.push_back(*r);
      FAIL() << "the failure was not raised";
    } catch (const parmill::item_failed& e) {
      EXPECT_EQ(e.error().index, static_cast<std::size_t>(failing_item));
      EXPECT_EQ(e.error().stage, failing_stage_name());
      EXPECT_EQ(e.error().message, "bad item 50");
    }
    EXPECT_EQ(yielded, iota_vector(failing_item)) << "every item before the failing one, in input order";
  });
}

// Point 3 also covers max_failures: with `yield`, failures beyond the budget halt the run as
// `raise` does, counted in the order outcomes are yielded (deterministic in input order).
TEST_P(PipelineErrors, MaxFailuresYieldsTheBudgetThenHaltsAtTheNextFailure) {
  const auto fails = [](long x) { return x % 100 == 37; };
  run(three_stages(fails), {.on_error = parmill::on_error::yield, .max_failures = 2}, [&](auto& p) {
    std::vector<long> indices, failed;
    try {
      for (auto& r : p) {
        indices.push_back(static_cast<long>(r.index()));
        if (!r) {
          failed.push_back(static_cast<long>(r.index()));
          EXPECT_EQ(r.error().stage, failing_stage_name());
        }
      }
      FAIL() << "the third failure did not halt the run";
    } catch (const parmill::item_failed& e) {
      EXPECT_EQ(e.error().index, 237U);
      EXPECT_EQ(e.error().stage, failing_stage_name());
    }
    EXPECT_EQ(indices, iota_vector(237));
    EXPECT_EQ(failed, (std::vector<long>{37, 137}));
  });
}

// ---- batches and fan-out under raise ----------------------------------------------------------

class PipelineRaise : public ::testing::TestWithParam<where> {
protected:
  parmill::backend backend() const { return GetParam().make(); }
};

INSTANTIATE_TEST_SUITE_P(Backends, PipelineRaise,
                         ::testing::Values(where{parmill::backend_kind::inline_, 1},
                                           where{parmill::backend_kind::threads, 1},
                                           where{parmill::backend_kind::threads, 2},
                                           where{parmill::backend_kind::threads, 8},
                                           where{parmill::backend_kind::processes, 2}),
                         parmill_test::sweep_name);

long fails_at_50(long& x) {
  if (x == failing_item) throw std::runtime_error("bad item 50");
  return x;
}

TEST_P(PipelineRaise, ABatchBeingFilledIsYieldedBeforeTheFailureThatCutsItShort) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(items))
               .pipe(fails_at_50, {.name = "check"})
               .batch(8)
               .build(backend());
  std::vector<std::vector<long>> batches;
  try {
    for (auto& b : p)
      batches.push_back(*b);
    FAIL() << "the failure was not raised";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 50U);
  }
  std::vector<std::vector<long>> expected;
  for (long first = 0; first < 48; first += 8)
    expected.push_back({first, first + 1, first + 2, first + 3, first + 4, first + 5, first + 6, first + 7});
  expected.push_back({48, 49});
  EXPECT_EQ(batches, expected);
}

TEST_P(PipelineRaise, AFailingFanOutBranchYieldsTheItemsBeforeItThenThrows) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(items))
               .fan_out(parmill::branch([](long& x) { return x; }, {.name = "same"}),
                        parmill::branch(fails_at_50, {.name = "check"}))
               .build(backend());
  std::vector<long> yielded;
  try {
    for (auto& r : p)
      yielded.push_back(std::get<0>(*r));
    FAIL() << "the failure was not raised";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 50U);
    EXPECT_EQ(e.error().stage, "check");
  }
  EXPECT_EQ(yielded, iota_vector(failing_item));
}

// ---- leaving the loop with the pipeline still in scope ----------------------------------------

/// The calls two stages make, watched by the test. Stage "gated" blocks each call that begins a
/// chunk at or after `gate_from` until the test opens the gate, so that when the loop is left the
/// test knows a worker holds unstarted items of its chunk (an unfixed pipeline starts them once
/// the gate opens, a fixed one does not).
struct call_watch {
  static constexpr long chunk = 32;
  static constexpr long gate_from = 1024; // a chunk start

  std::mutex mutex;
  std::condition_variable changed;
  bool gate_open = false;
  bool loop_left = false;
  std::size_t blocked = 0;             // calls waiting at the gate now
  std::size_t calls_after_leaving = 0; // calls begun after the loop was left

  long call(long x, bool gated) {
    std::unique_lock lock(mutex);
    if (loop_left) ++calls_after_leaving;
    if (gated && x >= gate_from && x % chunk == 0 && !gate_open) {
      ++blocked;
      changed.notify_all();
      changed.wait(lock, [&] { return gate_open; });
      --blocked;
    }
    changed.notify_all();
    return x;
  }
};

class PipelineStop : public ::testing::TestWithParam<std::tuple<where, bool>> {
protected:
  parmill::backend backend() const { return std::get<0>(GetParam()).make(); }
  std::size_t workers() const { return std::get<0>(GetParam()).workers; }
  bool sink() const { return std::get<1>(GetParam()); }
};

INSTANTIATE_TEST_SUITE_P(Workers, PipelineStop,
                         ::testing::Combine(::testing::Values(where{parmill::backend_kind::threads, 1},
                                                              where{parmill::backend_kind::threads, 2},
                                                              where{parmill::backend_kind::threads, 8}),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<where, bool>>& info) {
                           const where w = std::get<0>(info.param);
                           return std::string(to_string(w.kind)) + "_" + std::to_string(w.workers) +
                                  (std::get<1>(info.param) ? "_sink" : "");
                         });

// Issue 15, point 4: after `break`, with the pipeline still in scope, no stage starts a new call
// (each worker may start at most the one call it was starting as the loop was left), although
// the stages' workers are free again, hold unstarted items and have room in their queues.
TEST_P(PipelineStop, LeavingTheLoopStartsNoNewCallInAnyStage) {
  call_watch watch;
  const std::size_t n = workers();
  auto builder = parmill::pipeline_builder()
                     .source(std::views::iota(0L))
                     .pipe([&watch](long& x) { return watch.call(x, true); },
                           {.concurrency = n, .name = "gated", .chunk = call_watch::chunk})
                     .pipe([&watch](long& x) { return watch.call(x, false); },
                           {.concurrency = n, .name = "after", .chunk = call_watch::chunk});
  auto leave_and_watch = [&](auto& p) {
    bool reached = false;
    for (auto& r : p) {
      if (r.index() < 900) continue;
      // The stages read ahead of the consumer (a stage's reader even pulls one item past the
      // chunk it reads, so the consumer stops two chunks before the gate), so one of the gated
      // stage's workers reaches the gate, holding the rest of its chunk, without the consumer
      // reading on.
      std::unique_lock lock(watch.mutex);
      reached = watch.changed.wait_for(lock, std::chrono::seconds(10), [&] { return watch.blocked > 0; });
      break;
    }
    std::unique_lock lock(watch.mutex);
    EXPECT_TRUE(reached) << "no worker reached the gate";
    watch.loop_left = true;
    watch.gate_open = true;
    watch.changed.notify_all();
    // A worker that was starting a call as the loop was left may still start it: one per worker.
    const std::size_t allowed = 2 * n;
    const bool grew = watch.changed.wait_for(lock, std::chrono::milliseconds(300),
                                             [&] { return watch.calls_after_leaving > allowed; });
    EXPECT_FALSE(grew) << watch.calls_after_leaving << " calls began after the loop was left (at most "
                       << allowed << " may)";
  };
  if (sink()) {
    auto p = std::move(builder).sink(4).build(backend());
    leave_and_watch(p);
  } else {
    auto p = std::move(builder).build(backend());
    leave_and_watch(p);
  }
}

// ---- the report -------------------------------------------------------------------------------

template <class T>
concept streamable = requires(std::ostream& os, const T& t) {
  os << t;
};

/// What `out << report` prints, or nothing when it does not compile.
template <class Report>
std::optional<std::string> streamed(const Report& report) {
  if constexpr (streamable<Report>) {
    std::ostringstream out;
    out << report;
    return out.str();
  } else {
    return std::nullopt;
  }
}

// Issue 15, point 6: `std::cout << p.report()` prints what `to_string()` prints.
TEST(PipelineReportStream, AReportCanBeStreamedAndPrintsItsTable) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(10))
               .pipe([](long& x) { return x; }, {.name = "copy"})
               .build(parmill::threads(2));
  for (auto& r : p)
    (void)r;
  const parmill::pipeline_report report = p.report();
  const std::optional<std::string> text = streamed(report);
  ASSERT_TRUE(text.has_value()) << "std::ostream << parmill::pipeline_report does not compile";
  EXPECT_EQ(*text, report.to_string());
  EXPECT_NE(text->find("copy"), std::string::npos);
}

} // namespace

namespace {

// ---- .sink with a consumer slower than the hand-over ------------------------------------------

/// Busy for about `us` microseconds (a consumer with work of its own; not a synchronisation).
void busy_for_microseconds(long us) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A slow loop body makes the sink's own thread pull (the buffer pays); a failure under `raise`
// and the source's own exception still come after every item before them, in order.
TEST_P(PipelineRaise, ASlowConsumerBehindASinkGetsEveryItemBeforeAFailure) {
  auto p = parmill::pipeline_builder()
               .source(iota_vector(400))
               .pipe(
                   [](long& x) {
                     if (x == 300) throw std::runtime_error("bad item 300");
                     return x;
                   },
                   {.name = "check"})
               .sink(8)
               .build(backend());
  std::vector<long> yielded;
  try {
    for (auto& r : p) {
      busy_for_microseconds(50);
      yielded.push_back(*r);
    }
    FAIL() << "the failure was not raised";
  } catch (const parmill::item_failed& e) {
    EXPECT_EQ(e.error().index, 300U);
  }
  EXPECT_EQ(yielded, iota_vector(300));

  auto failing = std::views::iota(0L, 400L) | std::views::transform([](long x) {
                   if (x == 250) throw std::length_error("source broke");
                   return x;
                 });
  auto q =
      parmill::pipeline_builder().source(failing).pipe([](long& x) { return x; }).sink(8).build(backend());
  yielded.clear();
  EXPECT_THROW(
      {
        for (auto& r : q) {
          busy_for_microseconds(50);
          yielded.push_back(*r);
        }
      },
      std::length_error);
  EXPECT_EQ(yielded, iota_vector(250));
}

} // namespace
