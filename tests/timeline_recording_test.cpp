// `.trace` on map_options and pipeline_options: what a run records (lanes, spans, outcomes,
// items, stages), on every local backend and on processes with crashes, timeouts and retries;
// when the file is written (the end, an exception, leaving early); and the page made from it as
// headless Chromium shows it.
#include <gtest/gtest.h>

#include <parmill/parmill.hpp>
#include <parmill/timeline.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "helpers/headless_browser.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using parmill::span_outcome;

namespace {

class TimelineRecording : public ::testing::Test {
protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "parmill-trace-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    dir_ = name;
  }
  void TearDown() override { fs::remove_all(dir_); }

  [[nodiscard]] fs::path trace_file() const { return dir_ / "run.json"; }
  [[nodiscard]] parmill::timeline read_trace() const {
    std::ifstream in(trace_file(), std::ios::binary);
    EXPECT_TRUE(in) << "no trace at " << trace_file();
    return parmill::read_chrome_trace(in);
  }

  fs::path dir_;
};

/// Work long enough that no two items' spans are merged (merging stops at 100 us).
void work_a_while() { std::this_thread::sleep_for(300us); }

/// The spans of each item, in the order recorded on its lane (retried attempts first).
std::map<std::uint64_t, std::vector<span_outcome>> outcomes_by_item(const parmill::timeline& run) {
  std::map<std::uint64_t, std::vector<span_outcome>> by_item;
  for (const auto& span : run.spans)
    for (std::uint64_t i = 0; i < span.items; ++i)
      by_item[span.first_item + i].push_back(span.outcome);
  return by_item;
}

/// Checks what every trace promises: spans on known lanes, not overlapping on one lane, within the
/// wall time, and each item's final outcome counted once.
void expect_well_formed(const parmill::timeline& run, std::size_t lanes, std::uint64_t items) {
  ASSERT_EQ(run.lanes.size(), lanes);
  std::uint64_t counted = 0;
  std::vector<std::vector<const parmill::timeline_span*>> per_lane(lanes);
  for (const auto& span : run.spans) {
    ASSERT_LT(span.lane, lanes);
    EXPECT_GE(span.start.count(), 0);
    EXPECT_GE(span.duration.count(), 0);
    EXPECT_LE(span.start + span.duration, run.wall);
    if (span.outcome != span_outcome::retried) counted += span.items;
    per_lane[span.lane].push_back(&span);
  }
  EXPECT_EQ(counted, items);
  for (auto& spans : per_lane) {
    std::sort(spans.begin(), spans.end(), [](auto* a, auto* b) { return a->start < b->start; });
    for (std::size_t i = 1; i < spans.size(); ++i)
      EXPECT_LE(spans[i - 1]->start + spans[i - 1]->duration, spans[i]->start) << "spans overlap on a lane";
  }
}

struct local_case {
  const char* name;
  parmill::backend where;
};

class LocalBackends : public TimelineRecording, public ::testing::WithParamInterface<local_case> {};

TEST_P(LocalBackends, RecordFailuresRetriesAndEveryItemOnItsWorkersLane) {
  const parmill::backend where = GetParam().where;
  constexpr int items = 60;
  std::atomic<bool> thrown_once{false};
  std::size_t failures = 0;
  {
    auto run =
        parmill::map(where, std::views::iota(0, items),
                     [&](int x) {
                       work_a_while();
                       if (x == 7) throw std::runtime_error("always");
                       if (x == 13 && !thrown_once.exchange(true)) throw std::runtime_error("once");
                       return x;
                     },
                     {.chunk = 1, .on_error = parmill::on_error::yield, .retries = 1, .trace = trace_file()});
    for (auto& o : run)
      failures += !o.has_value();
    EXPECT_TRUE(fs::exists(trace_file())) << "written when the iteration ends, before the map is destroyed";
  }
  EXPECT_EQ(failures, 1u);
  const parmill::timeline run = read_trace();
  expect_well_formed(run, where.workers(), items);
  const auto by_item = outcomes_by_item(run);
  EXPECT_EQ(by_item.at(7), (std::vector{span_outcome::retried, span_outcome::failed}));
  EXPECT_EQ(by_item.at(13), (std::vector{span_outcome::retried, span_outcome::ok}));
  for (int x = 0; x < items; ++x)
    if (x != 7 && x != 13) {
      EXPECT_EQ(by_item.at(x), std::vector{span_outcome::ok}) << "item " << x;
    }
  for (const auto& span : run.spans) {
    EXPECT_TRUE(span.stage.empty());
    EXPECT_GE(span.duration, 250us) << "an item that took 300 us";
  }
  EXPECT_NE(run.title.find(std::string(parmill::to_string(where.kind()))), std::string::npos) << run.title;
}

INSTANTIATE_TEST_SUITE_P(Backends, LocalBackends,
                         ::testing::Values(local_case{"inline", parmill::inline_backend()},
                                           local_case{"threads1", parmill::threads(1)},
                                           local_case{"threads2", parmill::threads(2)},
                                           local_case{"threads8", parmill::threads(8)}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(TimelineRecording, TinyItemsAreMergedIntoFewSpansThatCountThemAll) {
  constexpr int items = 50'000;
  std::uint64_t sum = 0;
  for (auto& o : parmill::map(parmill::threads(2), std::views::iota(0, items), [](int x) { return x; },
                              {.chunk = 1, .trace = trace_file()}))
    sum += static_cast<std::uint64_t>(*o);
  EXPECT_EQ(sum, std::uint64_t{items} * (items - 1) / 2);
  const parmill::timeline run = read_trace();
  expect_well_formed(run, 2, items);
  // How many spans depends on how the machine ran them; the rule does not: two neighbours on a
  // lane stay apart only when together they would last over 100 us, or idled that long between.
  EXPECT_LE(run.spans.size(), std::size_t{items} / 2) << "one-item chunks, merged";
  std::vector<std::vector<parmill::timeline_span>> per_lane(2);
  for (const auto& span : run.spans)
    per_lane[span.lane].push_back(span);
  for (auto& spans : per_lane) {
    std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) { return a.start < b.start; });
    for (std::size_t i = 1; i < spans.size(); ++i) {
      const auto& a = spans[i - 1];
      const auto& b = spans[i];
      EXPECT_TRUE(b.start - (a.start + a.duration) > 100us || b.start + b.duration - a.start > 100us)
          << "neighbours left unmerged at " << a.start.count() << " and " << b.start.count();
    }
  }
}

TEST_F(TimelineRecording, ProcessesRecordCrashesAndTimeoutsWithTheirRetries) {
  constexpr int items = 12;
  std::map<std::size_t, parmill::failure_kind> failed;
  {
    auto run = parmill::map(parmill::processes(2), std::views::iota(0, items),
                            [](int x) {
                              // Over the recorder's 100 us merge threshold, so that each item keeps a
                              // span of its own: a merged span counts its items but names only its first.
                              work_a_while();
                              if (x == 3) throw std::runtime_error("three");
                              if (x == 5) std::abort();
                              if (x == 9) std::this_thread::sleep_for(30s); // killed at the time limit
                              return x;
                            },
                            {.chunk = 1,
                             .on_error = parmill::on_error::yield,
                             .retries = 1,
                             .timeout = 2s, // far above a trivial item's round trip, even under load
                             .trace = trace_file()});
    for (auto& o : run)
      if (!o.has_value()) failed[o.error().index] = o.error().kind;
  }
  ASSERT_EQ(failed.size(), 3u);
  const parmill::timeline run = read_trace();
  expect_well_formed(run, 2, items);
  const auto by_item = outcomes_by_item(run);
  // A worker process retries an exception itself: the parent sees only the failure.
  EXPECT_EQ(by_item.at(3), std::vector{span_outcome::failed});
  EXPECT_EQ(by_item.at(5), (std::vector{span_outcome::retried, span_outcome::crashed}));
  EXPECT_EQ(by_item.at(9), (std::vector{span_outcome::retried, span_outcome::timed_out}));
  for (const auto& span : run.spans)
    if (span.first_item == 9) {
      EXPECT_GE(span.duration, 1900ms) << "each attempt ran into the 2 s limit";
    }
  for (int x : {0, 1, 2, 4, 6, 7, 8, 10, 11})
    EXPECT_EQ(by_item.at(x), std::vector{span_outcome::ok}) << "item " << x;
}

TEST_F(TimelineRecording, AHaltingFailureStillWritesTheTraceWhenTheMapIsDestroyed) {
  EXPECT_THROW(
      {
        for (auto& o : parmill::map(parmill::threads(2), std::views::iota(0, 50),
                                    [](int x) {
                                      if (x == 20) throw std::runtime_error("halt");
                                      return x;
                                    },
                                    {.chunk = 1, .trace = trace_file()}))
          (void)o;
      },
      parmill::item_failed);
  // One failed span, item 20's, and only successful ones besides. (Not outcomes_by_item: a merged
  // span of quick items need not hold consecutive items, so it may seem to cover item 20 too.)
  std::size_t failed = 0;
  for (const auto& span : read_trace().spans)
    if (span.outcome == span_outcome::failed) {
      ++failed;
      EXPECT_EQ(span.first_item, 20u);
      EXPECT_EQ(span.items, 1u);
    } else {
      EXPECT_EQ(span.outcome, span_outcome::ok) << "item " << span.first_item;
    }
  EXPECT_EQ(failed, 1u);
}

TEST_F(TimelineRecording, LeavingTheLoopEarlyWritesWhatRan) {
  {
    auto run = parmill::map(parmill::threads(2), std::views::iota(0, 1'000'000), [](int x) { return x; },
                            {.trace = trace_file()});
    for (auto& o : run)
      if (*o == 1000) break;
    EXPECT_FALSE(fs::exists(trace_file())) << "not before the map is destroyed";
  }
  const parmill::timeline run = read_trace();
  ASSERT_EQ(run.lanes.size(), 2u);
  EXPECT_FALSE(run.spans.empty());
}

TEST_F(TimelineRecording, AFileThatCannotBeWrittenIsReportedAndTheRunGoesOn) {
  ::testing::internal::CaptureStderr();
  int count = 0;
  for (auto& o : parmill::map(parmill::threads(2), std::views::iota(0, 100), [](int x) { return x; },
                              {.trace = dir_ / "no such directory" / "run.json"}))
    count += o.has_value();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count, 100);
  EXPECT_NE(err.find("parmill: the trace"), std::string::npos) << err;
  EXPECT_NE(err.find("no such directory"), std::string::npos) << err;
}

TEST_F(TimelineRecording, WithoutATraceNothingIsWritten) {
  for (auto& o : parmill::map(parmill::threads(2), std::views::iota(0, 100), [](int x) { return x; }))
    (void)o;
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(TimelineRecording, APipelineRecordsEveryStagesWorkersAndItsReport) {
  auto pipeline =
      parmill::pipeline_builder()
          .source(std::views::iota(0, 40))
          .pipe(
              [](int x) {
                work_a_while();
                return x;
              },
              {.concurrency = 2, .name = "parse"})
          .pipe(
              [](int x) {
                work_a_while();
                if (x == 17) throw std::runtime_error("bad");
                return x;
              },
              {.concurrency = 1, .name = "load"})
          .build(parmill::threads(2), {.on_error = parmill::on_error::yield, .trace = trace_file()});
  std::size_t outputs = 0;
  for (auto& o : pipeline)
    outputs += o.has_value();
  EXPECT_EQ(outputs, 39u);
  ASSERT_TRUE(fs::exists(trace_file())) << "written when the iteration ends";
  const parmill::timeline run = read_trace();
  EXPECT_EQ(run.lanes, (std::vector<std::string>{"parse: worker 0", "parse: worker 1", "load: worker 0"}));
  std::map<std::string, std::uint64_t> items_per_stage;
  for (const auto& span : run.spans) {
    EXPECT_EQ(span.stage, span.lane < 2 ? "parse" : "load");
    items_per_stage[span.stage] += span.items;
    if (span.outcome == span_outcome::failed) {
      EXPECT_EQ(span.stage, "load");
      EXPECT_EQ(span.first_item, 17u)
          << "the stage's own count of its items (here, in input order, the source's)";
    }
  }
  EXPECT_EQ(items_per_stage["parse"], 40u);
  EXPECT_EQ(items_per_stage["load"], 40u);
  EXPECT_EQ(run.title, "parmill::pipeline: parse -> load");
  ASSERT_FALSE(run.summary.empty());
  const std::string report = pipeline.report().to_string();
  for (const auto& line : run.summary)
    EXPECT_NE(report.find(line.substr(0, 12)), std::string::npos) << line;
}

TEST_F(TimelineRecording, ThePageOfARunShowsItsWorkersSpansAndFailures) {
  for (auto& o : parmill::map(parmill::threads(2), std::views::iota(0, 30),
                              [](int x) {
                                work_a_while();
                                if (x % 10 == 3) throw std::runtime_error("x3");
                                return x;
                              },
                              {.chunk = 1, .on_error = parmill::on_error::yield, .trace = trace_file()}))
    (void)o;
  const parmill::timeline run = read_trace();
  std::size_t failed = 0;
  for (const auto& span : run.spans)
    failed += span.outcome == span_outcome::failed;
  ASSERT_EQ(failed, 3u);
  const fs::path page = dir_ / "run.html";
  parmill::write_timeline_html(trace_file(), page);
  const auto browser = parmill_test::dump_dom(page, dir_ / "browser");
  ASSERT_TRUE(browser.ok()) << browser.log.substr(0, 3000);
  const auto attribute = [&](const std::string& name) {
    return parmill_test::element_attribute(browser.dom, "timeline", name).value_or("(missing)");
  };
  EXPECT_EQ(parmill_test::count_of(browser.dom, "class=\"lane-name\""), 2u);
  EXPECT_EQ(attribute("data-bars-drawn"), std::to_string(run.spans.size()));
  EXPECT_EQ(attribute("data-drawn-failed"), "3");
  EXPECT_NE(browser.dom.find("data-key=\"items\">30<"), std::string::npos);
  EXPECT_NE(browser.dom.find("data-key=\"failed-items\">3<"), std::string::npos);
}

} // namespace
