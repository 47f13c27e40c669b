// The trace recorder's own rules: how chunks become spans, when successful spans merge, how a
// lane stays within its share of spans, and how a chunk with failures and retries is split.
#include <gtest/gtest.h>

#include <parmill/detail/trace_recorder.hpp>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <vector>

using namespace std::chrono_literals;
using parmill::span_outcome;
using parmill::detail::chunk_report;
using parmill::detail::trace_limits;
using parmill::detail::trace_recorder;
using clock_type = trace_recorder::clock;

namespace {

std::vector<parmill::outcome<int>> successes(std::size_t first, std::size_t n) {
  std::vector<parmill::outcome<int>> out;
  for (std::size_t i = 0; i < n; ++i)
    out.emplace_back(first + i, 0);
  return out;
}

parmill::outcome<int> failure(std::size_t index, parmill::failure_kind kind) {
  parmill::item_error error;
  error.index = index;
  error.kind = kind;
  error.message = "x";
  return parmill::outcome<int>(std::move(error));
}

/// Records a successful chunk of `n` items from `first` at [start, start + duration) on `lane`.
void record_ok(trace_recorder& recorder, std::size_t lane, clock_type::time_point origin,
               std::chrono::nanoseconds start, std::chrono::nanoseconds duration, std::size_t first,
               std::size_t n) {
  recorder.record(lane, origin + start, origin + start + duration, first, n, chunk_report{},
                  successes(first, n));
}

class TraceRecorder : public ::testing::Test {
protected:
  trace_recorder recorder{"unused.json"};
  clock_type::time_point origin = clock_type::now();
  void SetUp() override {
    recorder.add_lanes(2);
    recorder.start_clock();
    origin = clock_type::now();
  }
};

TEST_F(TraceRecorder, ShortAdjacentSuccessfulChunksOfALaneMergeAndLongOnesDoNot) {
  for (std::size_t i = 0; i < 10; ++i)
    record_ok(recorder, 0, origin, std::chrono::microseconds(10 * i), 9us, i * 4, 4); // 100 us in all
  record_ok(recorder, 0, origin, 200us, 500us, 40, 1);                                // long: alone
  record_ok(recorder, 1, origin, 0us, 5us, 100, 1);
  record_ok(recorder, 1, origin, 300us, 5us, 101, 1); // idle 295 us before it: not merged
  const parmill::timeline run = recorder.to_timeline();
  ASSERT_EQ(run.spans.size(), 4u);
  EXPECT_EQ(run.spans[0].items, 40u);
  EXPECT_EQ(run.spans[0].first_item, 0u);
  EXPECT_EQ(run.spans[1].items, 1u);
  EXPECT_EQ(run.spans[1].duration, 500us);
  EXPECT_EQ(run.spans[2].lane, 1u);
  EXPECT_EQ(run.spans[3].lane, 1u);
  EXPECT_EQ(run.lanes, (std::vector<std::string>{"worker 0", "worker 1"}));
}

TEST_F(TraceRecorder, AChunkWithFailuresAndRetriesIsSplitInOrderAndItsTimeShared) {
  std::vector<parmill::outcome<int>> outcomes = successes(10, 2);
  outcomes.push_back(failure(12, parmill::failure_kind::exception));
  outcomes.push_back(failure(13, parmill::failure_kind::timed_out));
  outcomes.push_back(parmill::outcome<int>(14, 0));
  outcomes.push_back(failure(15, parmill::failure_kind::cancelled));
  const chunk_report report{.failed = 2, .cancelled = 1, .retried = 2};
  recorder.record(1, origin, origin + 800us, 10, outcomes.size(), report,
                  outcomes); // 8 attempts, 100 us each
  const parmill::timeline run = recorder.to_timeline();
  const std::vector<span_outcome> kinds{span_outcome::retried,   span_outcome::ok, span_outcome::failed,
                                        span_outcome::timed_out, span_outcome::ok, span_outcome::cancelled};
  ASSERT_EQ(run.spans.size(), kinds.size());
  const std::vector<std::uint64_t> firsts{10, 10, 12, 13, 14, 15}, counts{2, 2, 1, 1, 1, 1};
  std::chrono::nanoseconds at{run.spans[0].start};
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(run.spans[i].outcome, kinds[i]);
    EXPECT_EQ(run.spans[i].first_item, firsts[i]);
    EXPECT_EQ(run.spans[i].items, counts[i]);
    EXPECT_EQ(run.spans[i].start, at);
    EXPECT_NEAR(static_cast<double>(run.spans[i].duration.count()),
                100'000.0 * static_cast<double>(counts[i]), 2.0);
    at = run.spans[i].start + run.spans[i].duration;
  }
}

TEST_F(TraceRecorder, ALaneAtItsShareMergesHarderAndStaysBounded) {
  trace_recorder bounded("unused.json", trace_limits{.max_spans = 1000, .merge_below = 1us});
  bounded.add_lanes(4); // 250 spans each
  const auto start = clock_type::now();
  bounded.start_clock();
  constexpr std::size_t chunks = 100'000;
  for (std::size_t i = 0; i < chunks; ++i)
    bounded.record(0, start + std::chrono::microseconds(10 * i),
                   start + std::chrono::microseconds(10 * i + 8), i, 1, chunk_report{}, successes(i, 1));
  EXPECT_LE(bounded.spans_of(0), 250u);
  EXPECT_GE(bounded.spans_of(0), 100u) << "merged, not emptied";
  std::uint64_t items = 0;
  for (const auto& span : bounded.to_timeline().spans)
    items += span.items;
  EXPECT_EQ(items, chunks) << "merging loses no item";
}

TEST_F(TraceRecorder, FailuresBeyondTheShareAreCountedAndTheTraceSaysSo) {
  trace_recorder bounded("unused.json", trace_limits{.max_spans = 100, .merge_below = 1us});
  bounded.add_lanes(1);
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < 500; ++i) {
    std::vector<parmill::outcome<int>> one;
    one.push_back(failure(i, parmill::failure_kind::exception));
    bounded.record(0, start + std::chrono::microseconds(i), start + std::chrono::microseconds(i + 1), i, 1,
                   chunk_report{.failed = 1}, one);
  }
  EXPECT_LE(bounded.spans_of(0), 100u);
  const parmill::timeline run = bounded.to_timeline();
  ASSERT_FALSE(run.summary.empty());
  EXPECT_NE(
      run.summary.back().find("spans (" + std::to_string(500 - run.spans.size()) + " items) were not kept"),
      std::string::npos)
      << run.summary.back();
}

TEST_F(TraceRecorder, WritingNeverThrowsAndReportsAFailureOnStandardError) {
  trace_recorder nowhere(std::filesystem::path("/nonexistent-directory/run.json"));
  nowhere.add_lanes(1);
  ::testing::internal::CaptureStderr();
  EXPECT_FALSE(nowhere.write_once());
  EXPECT_TRUE(nowhere.write_once()) << "once: the second call does nothing";
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("parmill: the trace /nonexistent-directory/run.json was not written"), std::string::npos)
      << err;
}

} // namespace
