// parmill/detail/trace_recorder.hpp: what `.trace` records while a map or pipeline runs: per
// worker (a lane), when each chunk ran, how many items it held and how they ended; written as a
// Chrome trace (parmill/timeline.hpp) when the run ends.
//
// Cost: one call per chunk (never per item) from the worker that ran it, into that worker's own
// lane, so no lock and no shared cache line; a chunk whose items all succeeded is one span, merged
// into the lane's previous span while that stays short. Memory is bounded: each lane keeps at most
// its share of `max_spans`; a lane that reaches it merges harder (its merge threshold grows four
// times and its spans are merged again), and if that cannot make room (a lane of failures, which
// are never merged) later spans of that lane are counted but not kept, and the trace says so.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "parmill/detail/executor.hpp"
#include "parmill/outcome.hpp"
#include "parmill/timeline.hpp"

namespace parmill::detail {

/// How much a recorder keeps.
struct trace_limits {
  /// Most spans kept in all (divided among the lanes; at least 64 per lane). The default keeps a
  /// trace under about 25 MB and its page under 10 MB.
  std::size_t max_spans = 100'000;
  /// Successful spans of a lane merge while the merged span stays this short and the idle gap
  /// between them is at most this long; grows when a lane runs out of room.
  std::chrono::nanoseconds merge_below = std::chrono::microseconds(100);
};

/// The span outcome of one item's outcome.
template <class Result>
[[nodiscard]] span_outcome span_outcome_of(const outcome<Result>& o) noexcept {
  if (o.has_value()) return span_outcome::ok;
  switch (o.error().kind) {
  case failure_kind::exception: return span_outcome::failed;
  case failure_kind::crashed: return span_outcome::crashed;
  case failure_kind::timed_out: return span_outcome::timed_out;
  case failure_kind::cancelled: return span_outcome::cancelled;
  }
  return span_outcome::failed;
}

/// Records the spans of a run's lanes and writes them as a trace file.
/// Thread-safety: `add_lanes`, `start_clock`, `set_title` and `set_summary` before the run's
/// workers start (or after they are joined); `record` for lane L only from the thread that runs
/// lane L's chunks; `to_timeline` and `write` once every lane's thread has stopped recording (the
/// caller provides that ordering).
class trace_recorder {
public:
  using clock = std::chrono::steady_clock;

  /// Records for the file `file` (written by `write`).
  explicit trace_recorder(std::filesystem::path file, trace_limits limits = {})
      : file_(std::move(file)), limits_(limits), origin_(clock::now()) {}

  trace_recorder(const trace_recorder&) = delete;
  trace_recorder& operator=(const trace_recorder&) = delete;

  /// Adds `count` lanes named "<prefix>worker <i>" whose spans belong to stage `stage` (empty for
  /// a map); returns the index of the first. Before any `record`.
  std::size_t add_lanes(std::size_t count, std::string_view stage = {}, std::string_view prefix = {}) {
    const std::size_t first = lanes_.size();
    for (std::size_t i = 0; i < count; ++i) {
      auto lane = std::make_unique<lane_spans>();
      lane->name = std::string(prefix) + "worker " + std::to_string(i);
      lane->stage = std::string(stage);
      lane->merge_below = limits_.merge_below;
      lanes_.push_back(std::move(lane));
    }
    return first;
  }

  /// The run begins now: span times count from here.
  void start_clock() noexcept { origin_ = clock::now(); }
  /// The page's title.
  void set_title(std::string title) { title_ = std::move(title); }
  /// Extra lines for the page's summary (a pipeline's report).
  void set_summary(std::vector<std::string> lines) { summary_ = std::move(lines); }
  /// The file this recorder writes.
  [[nodiscard]] const std::filesystem::path& file() const noexcept { return file_; }
  /// How many lanes there are.
  [[nodiscard]] std::size_t lanes() const noexcept { return lanes_.size(); }

  /// Lane `lane` ran the `count` items from `first` between `started` and `ended`; `report` and
  /// `outcomes` (one per item, in order) say how they ended. Only a chunk with failures,
  /// cancellations or retries looks at its outcomes; its time is shared among its attempts in
  /// proportion, the retried attempts drawn first (their items are not known: the span names the
  /// chunk's first item and counts the attempts).
  template <class Result>
  void record(std::size_t lane, clock::time_point started, clock::time_point ended, std::size_t first,
              std::size_t count, const chunk_report& report, const std::vector<outcome<Result>>& outcomes) {
    if (count == 0) return;
    lane_spans& l = *lanes_[lane];
    const std::int64_t start = (started - origin_).count(), end = std::max(start, (ended - origin_).count());
    if (report.failed == 0 && report.cancelled == 0 && report.retried == 0) {
      add_ok(l, start, end, first, count);
      return;
    }
    // Rare: split the chunk into runs of items with the same outcome, after its retried attempts.
    const std::uint64_t attempts = count + report.retried;
    const auto at = [&](std::uint64_t attempt) {
      return start + static_cast<std::int64_t>(static_cast<double>(end - start) *
                                               static_cast<double>(attempt) / static_cast<double>(attempts));
    };
    if (report.retried != 0)
      add(l, {start, at(report.retried) - start, first, report.retried, span_outcome::retried});
    const std::size_t n = std::min(count, outcomes.size());
    for (std::size_t run_from = 0, run_to = 0; run_from < n; run_from = run_to) {
      const span_outcome kind = span_outcome_of(outcomes[run_from]);
      for (run_to = run_from + 1; run_to < n && span_outcome_of(outcomes[run_to]) == kind;)
        ++run_to;
      const std::int64_t from = at(report.retried + run_from), to = at(report.retried + run_to);
      if (kind == span_outcome::ok)
        add_ok(l, from, to, first + run_from, run_to - run_from);
      else
        add(l, {from, to - from, first + run_from, run_to - run_from, kind});
    }
  }

  /// Everything recorded, as a timeline (wall: from `start_clock` to now, or the last span's end).
  [[nodiscard]] timeline to_timeline() const {
    timeline run{.title = title_, .wall = clock::now() - origin_, .summary = summary_};
    std::uint64_t dropped_spans = 0, dropped_items = 0;
    for (std::size_t lane = 0; lane < lanes_.size(); ++lane) {
      const lane_spans& l = *lanes_[lane];
      run.lanes.push_back(l.name);
      for (const recorded_span& s : l.spans)
        run.spans.push_back({.lane = lane,
                             .start = std::chrono::nanoseconds{s.start},
                             .duration = std::chrono::nanoseconds{s.duration},
                             .outcome = s.outcome,
                             .first_item = s.first,
                             .items = s.items,
                             .stage = l.stage});
      dropped_spans += l.dropped_spans;
      dropped_items += l.dropped_items;
      if (!l.spans.empty())
        run.wall =
            std::max(run.wall, std::chrono::nanoseconds{l.spans.back().start + l.spans.back().duration});
    }
    if (dropped_spans != 0)
      run.summary.push_back("trace: " + std::to_string(dropped_spans) + " spans (" +
                            std::to_string(dropped_items) +
                            " items) were not kept: a lane reached its share of the " +
                            std::to_string(limits_.max_spans) + " spans a trace keeps");
    return run;
  }

  /// Writes the trace file, replacing it (through a temporary file and a rename). Never throws:
  /// a failure is reported on standard error, as the library reports other problems it cannot
  /// throw for, and the run's outcome is not changed. Returns true when the file was written.
  bool write() noexcept {
    try {
      std::filesystem::path temporary = file_;
      temporary += ".tmp";
      {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out) throw std::runtime_error("cannot open " + temporary.string() + " for writing");
        write_chrome_trace(out, to_timeline());
        out.close();
        if (!out) throw std::runtime_error("writing " + temporary.string() + " failed");
      }
      std::filesystem::rename(temporary, file_);
      return true;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "parmill: the trace %s was not written: %s\n", file_.c_str(), error.what());
    } catch (...) {
      std::fprintf(stderr, "parmill: the trace %s was not written\n", file_.c_str());
    }
    return false;
  }

  /// `write()` unless it was done already (by this or another caller); true when it is written.
  bool write_once() noexcept {
    if (written_.exchange(true)) return true;
    return write();
  }

  /// The spans lane `lane` keeps now (whitebox tests).
  [[nodiscard]] std::size_t spans_of(std::size_t lane) const noexcept { return lanes_[lane]->spans.size(); }

private:
  struct recorded_span {
    std::int64_t start = 0, duration = 0;
    std::uint64_t first = 0, items = 0;
    span_outcome outcome = span_outcome::ok;
  };
  // Written by one thread; aligned so that lanes written by different threads share no cache line.
  struct alignas(64) lane_spans {
    std::vector<recorded_span> spans;
    std::string name, stage;
    std::chrono::nanoseconds merge_below{};
    std::uint64_t dropped_spans = 0, dropped_items = 0;
    bool full = false; // merging harder cannot make room any more
  };

  [[nodiscard]] std::size_t lane_capacity() const noexcept {
    return std::max<std::size_t>(64, limits_.max_spans / std::max<std::size_t>(1, lanes_.size()));
  }

  /// True when `next` (successful) may be merged into `last` under `threshold`.
  static bool mergeable(const recorded_span& last, std::int64_t start, std::int64_t end,
                        std::int64_t threshold) noexcept {
    const std::int64_t last_end = last.start + last.duration;
    return last.outcome == span_outcome::ok && start >= last.start && start - last_end <= threshold &&
           end - last.start <= threshold;
  }

  void add_ok(lane_spans& l, std::int64_t start, std::int64_t end, std::uint64_t first, std::uint64_t count) {
    if (!l.spans.empty() && mergeable(l.spans.back(), start, end, l.merge_below.count())) {
      recorded_span& last = l.spans.back();
      last.duration = std::max(last.duration, end - last.start);
      last.items += count;
      return;
    }
    add(l, {start, end - start, first, count, span_outcome::ok});
  }

  void add(lane_spans& l, const recorded_span& span) {
    if (l.spans.size() >= lane_capacity()) make_room(l);
    if (l.full) {
      ++l.dropped_spans;
      l.dropped_items += span.items;
      return;
    }
    if (l.spans.capacity() == 0) l.spans.reserve(std::min<std::size_t>(lane_capacity(), 1024));
    l.spans.push_back(span);
  }

  /// Merges the lane's successful spans again under a four times larger threshold, until a quarter
  /// of its room is free; marks it full when even merging everything mergeable cannot.
  void make_room(lane_spans& l) {
    constexpr std::chrono::hours beyond_any_run{24 * 365};
    while (l.spans.size() > lane_capacity() * 3 / 4) {
      if (l.merge_below > beyond_any_run) {
        l.full = true;
        return;
      }
      l.merge_below *= 4;
      std::size_t kept = 0;
      for (std::size_t i = 0; i < l.spans.size(); ++i) {
        const recorded_span& s = l.spans[i];
        if (kept != 0 && s.outcome == span_outcome::ok &&
            mergeable(l.spans[kept - 1], s.start, s.start + s.duration, l.merge_below.count())) {
          recorded_span& last = l.spans[kept - 1];
          last.duration = std::max(last.duration, s.start + s.duration - last.start);
          last.items += s.items;
        } else {
          l.spans[kept++] = s;
        }
      }
      l.spans.resize(kept);
    }
  }

  std::filesystem::path file_;
  trace_limits limits_;
  clock::time_point origin_;
  std::string title_;
  std::vector<std::string> summary_;
  std::vector<std::unique_ptr<lane_spans>> lanes_;
  std::atomic<bool> written_{false};
};

} // namespace parmill::detail
