// cli/timeline_jobs.cpp
#include "timeline_jobs.hpp"

#include <algorithm>

namespace parmill::cli {
namespace {

/// True for a byte that continues a UTF-8 character (10xxxxxx).
bool continues_character(char byte) { return (static_cast<unsigned char>(byte) & 0xC0) == 0x80; }

/// The name of `lane`: "slot 2", or under MPI "HOST rank 1 slot 2".
std::string lane_name(const job_lane& lane) {
  const std::string slot = "slot " + std::to_string(lane.slot);
  return lane.host == ":" ? slot : lane.host + " rank " + std::to_string(lane.rank) + " " + slot;
}

} // namespace

std::string outcome_counts(const std::map<span_outcome, std::uint64_t>& counts) {
  std::string text;
  for (const auto& [outcome, count] : counts) {
    if (count == 0) continue;
    if (!text.empty()) text += ", ";
    text += std::to_string(count) + " " + std::string(to_string(outcome));
  }
  return text.empty() ? "none" : text;
}

namespace {

/// `later - earlier`, never negative.
std::chrono::nanoseconds since(std::chrono::system_clock::time_point earlier,
                               std::chrono::system_clock::time_point later) {
  return std::max(std::chrono::nanoseconds(0),
                  std::chrono::duration_cast<std::chrono::nanoseconds>(later - earlier));
}

} // namespace

span_outcome job_outcome_of(const process_result& result, bool stopped, bool retried) noexcept {
  if (retried) return span_outcome::retried;
  if (stopped) return span_outcome::cancelled;
  if (result.timed_out) return span_outcome::timed_out;
  if (result.signal != 0) return span_outcome::crashed;
  if (result.exit_value != 0) return span_outcome::failed;
  return span_outcome::ok;
}

std::string timeline_label(std::string_view text) {
  if (text.size() <= max_timeline_label) return std::string(text);
  std::size_t cut = max_timeline_label - 3;
  while (cut > 0 && continues_character(text[cut]))
    --cut;
  return std::string(text.substr(0, cut)) + "...";
}

timeline_recorder::timeline_recorder(std::string title, std::chrono::system_clock::time_point run_start,
                                     std::size_t max_spans)
    : title_(std::move(title)), run_start_(run_start), max_spans_(std::max<std::size_t>(1, max_spans)) {}

void timeline_recorder::record(std::uint64_t seq, const job_lane& lane, std::string_view command,
                               const process_result& result, span_outcome outcome) {
  kept_span bar{.lane = lane,
                .span = {.lane = 0,
                         .start = since(run_start_, result.started),
                         .duration = std::chrono::duration_cast<std::chrono::nanoseconds>(result.runtime),
                         .outcome = outcome,
                         .first_item = seq,
                         .items = 1,
                         .label = timeline_label(command),
                         .stage = {},
                         .exit_status = result.exit_value,
                         .signal = result.signal}};
  bar.span.duration = std::max(bar.span.duration, std::chrono::nanoseconds(0));
  std::lock_guard lock(mutex_);
  ++recorded_;
  ++counts_[outcome];
  lanes_.insert(bar.lane);
  last_end_ = std::max(last_end_, bar.span.start + bar.span.duration);
  keep(std::move(bar));
}

void timeline_recorder::keep(kept_span&& bar) {
  (bar.span.outcome == span_outcome::ok ? ok_ : not_ok_).push_back(std::move(bar));
  if (ok_.size() + not_ok_.size() <= max_spans_) return;
  std::deque<kept_span>& from = ok_.empty() ? not_ok_ : ok_;
  ++dropped_[from.front().span.outcome];
  from.pop_front();
}

std::vector<std::string> timeline_recorder::summary_lines() const {
  std::vector<std::string> lines{"job attempts: " + std::to_string(recorded_) + " (" +
                                 outcome_counts(counts_) + ")"};
  std::uint64_t dropped = 0;
  for (const auto& [outcome, count] : dropped_)
    dropped += count;
  if (dropped > 0)
    lines.push_back("not drawn: " + std::to_string(dropped) + " of the oldest (" + outcome_counts(dropped_) +
                    "): a timeline keeps at most " + std::to_string(max_spans_) +
                    " bars, the newest successful ones and the others first");
  return lines;
}

timeline timeline_recorder::snapshot() const {
  timeline run;
  run.title = title_;
  std::lock_guard lock(mutex_);
  std::map<job_lane, std::size_t> lane_of;
  for (const auto& lane : lanes_) {
    lane_of.emplace(lane, run.lanes.size());
    run.lanes.push_back(lane_name(lane));
  }
  run.spans.reserve(ok_.size() + not_ok_.size());
  for (const auto* kept : {&ok_, &not_ok_})
    for (const kept_span& bar : *kept) {
      run.spans.push_back(bar.span);
      run.spans.back().lane = lane_of.at(bar.lane);
    }
  run.wall = std::max(last_end_, since(run_start_, std::chrono::system_clock::now()));
  run.summary = summary_lines();
  return run;
}

std::uint64_t timeline_recorder::recorded() const {
  std::lock_guard lock(mutex_);
  return recorded_;
}

} // namespace parmill::cli
