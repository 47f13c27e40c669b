// cli/timeline_job_log.cpp
#include "timeline_job_log.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <queue>
#include <variant>

#include "job_log.hpp"
#include "job_log_lines.hpp"
#include "timeline_jobs.hpp"

namespace parmill::cli {

// --- lanes ---------------------------------------------------------------------------------------

std::vector<std::size_t> assign_lanes(const std::vector<lane_interval>& intervals,
                                      std::chrono::nanoseconds tolerance) {
  std::vector<std::size_t> order(intervals.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  // By start; at one start, empty intervals first: they free their lane at once, for the others.
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::pair(intervals[a].start, intervals[a].duration) <
           std::pair(intervals[b].start, intervals[b].duration);
  });
  using freed = std::pair<std::chrono::nanoseconds, std::size_t>; // when a lane becomes free, the lane
  std::priority_queue<freed, std::vector<freed>, std::greater<>> busy;
  std::vector<std::size_t> lane(intervals.size());
  std::size_t lanes = 0;
  for (const std::size_t i : order) {
    const lane_interval& interval = intervals[i];
    if (!busy.empty() && busy.top().first <= interval.start + tolerance) {
      lane[i] = busy.top().second;
      busy.pop();
    } else {
      lane[i] = lanes++;
    }
    busy.emplace(interval.start + interval.duration, lane[i]);
  }
  return lane;
}

namespace {

// --- reading lines -------------------------------------------------------------------------------

constexpr std::size_t max_hosts = 1024;
/// Bytes of a line's Command kept: a label's worth, and one more to know it was cut.
constexpr std::size_t kept_command_bytes = max_timeline_label + 1;
constexpr std::size_t max_warnings_per_log = 10;
constexpr std::int64_t max_start_seconds = 1'000'000'000'000; // 10^12 s: about the year 33658
constexpr std::int64_t max_runtime_seconds = 1'000'000'000;   // 10^9 s: about 31 years
constexpr std::int64_t max_spread_us = max_runtime_seconds * 1'000'000;

/// A non-negative decimal number of seconds below `max_seconds` (digits, optionally '.' and
/// digits; spaces first allowed), exactly, in microseconds (digits past the sixth decimal are
/// dropped).
std::optional<std::int64_t> parse_seconds(std::string_view s, std::int64_t max_seconds) {
  s.remove_prefix(std::min(s.find_first_not_of(' '), s.size()));
  const auto point = s.find('.');
  const std::string_view whole = s.substr(0, point);
  const std::string_view fraction = point == std::string_view::npos ? "" : s.substr(point + 1);
  if (!all_digits(whole) || (point != std::string_view::npos && !all_digits(fraction))) return std::nullopt;
  const auto seconds = parse_integer<std::int64_t>(whole.size() > 13 ? "x" : whole);
  if (!seconds || *seconds >= max_seconds) return std::nullopt;
  std::int64_t micros = 0;
  for (std::size_t i = 0; i < 6; ++i)
    micros = micros * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  return *seconds * 1'000'000 + micros;
}

/// The eight columns before Command, parsed; or what is wrong with them.
struct parsed_columns {
  job_log_timeline::row row;
  std::string host;
};

std::variant<parsed_columns, std::string> parse_columns(const job_log_line& line) {
  auto split = split_job_log_columns(line);
  if (auto* problem = std::get_if<std::string>(&split)) return std::move(*problem);
  const job_log_columns& column = std::get<job_log_columns>(split);
  const auto bad = [&](const char* name, std::size_t i, const char* what) {
    return column_problem(column, i, name, what);
  };
  parsed_columns parsed;
  job_log_timeline::row& r = parsed.row;
  const auto seq = parse_integer<std::uint64_t>(column[0]);
  if (!seq || *seq == 0) return bad("Seq", 0, "a positive integer");
  r.seq = *seq;
  if (column[1].empty()) return std::string("Host is empty");
  parsed.host = column[1];
  const auto start = parse_seconds(column[2], max_start_seconds);
  if (!start || column[2].starts_with(' '))
    return bad("Starttime", 2, "a decimal number of seconds from 0 to 10^12");
  r.start_us = *start;
  const auto runtime = parse_seconds(column[3], max_runtime_seconds);
  if (!runtime) return bad("JobRuntime", 3, "a decimal number of seconds from 0 to 10^9");
  r.runtime_us = *runtime;
  if (!parse_integer<std::uint64_t>(column[4])) return bad("Send", 4, "a non-negative integer");
  if (!parse_integer<std::uint64_t>(column[5])) return bad("Receive", 5, "a non-negative integer");
  const auto exit_value = parse_integer<int>(column[6]);
  if (!exit_value) return bad("Exitval", 6, "an integer");
  r.exit_value = *exit_value;
  const auto signal = parse_integer<int>(column[7]);
  if (!signal) return bad("Signal", 7, "an integer");
  r.signal = *signal;
  return parsed;
}

/// The outcome a job log line records (see job_log_timeline::take).
span_outcome outcome_of(const job_log_timeline::row& r, bool run_again) {
  if (r.exit_value == 0 && r.signal == 0) return span_outcome::ok;
  if (run_again) return span_outcome::retried;
  if (r.exit_value == -1 && r.signal != 0) return span_outcome::timed_out;
  if (r.signal != 0) return span_outcome::crashed;
  return span_outcome::failed;
}

/// The Command column as the command was: a NUL byte stands for a newline.
std::string command_of(std::string column) {
  std::replace(column.begin(), column.end(), '\0', '\n');
  return timeline_label(column);
}

/// Collects the warnings of one log: at most max_warnings_per_log described, then a count.
class warning_list {
public:
  warning_list(const std::string& name, std::vector<std::string>& into) : name_(name), into_(into) {}
  void add(std::size_t line_number, const std::string& what) {
    if (++count_ <= max_warnings_per_log)
      into_.push_back("job log '" + name_ + "' line " + std::to_string(line_number) + ": " + what +
                      "; that line is not drawn");
  }
  ~warning_list() {
    if (count_ > max_warnings_per_log)
      into_.push_back("job log '" + name_ + "': " + std::to_string(count_ - max_warnings_per_log) +
                      " more malformed lines, not drawn");
  }
  warning_list(const warning_list&) = delete;
  warning_list& operator=(const warning_list&) = delete;

private:
  const std::string& name_;
  std::vector<std::string>& into_;
  std::size_t count_ = 0;
};

/// Puts `value` in the ring buffer `ring` of at most `capacity` entries; `next` is where the
/// oldest is.
template <typename T>
void put_in_ring(std::vector<T>& ring, std::size_t& next, std::size_t capacity, T&& value) {
  if (ring.size() < capacity) {
    ring.push_back(std::move(value));
    return;
  }
  ring[next] = std::move(value);
  next = (next + 1) % capacity;
}

} // namespace

std::uint32_t job_log_timeline::host_index(const std::string& host, bool& too_many) {
  const auto found = std::find(hosts_.begin(), hosts_.end(), host);
  too_many = false;
  if (found != hosts_.end()) return static_cast<std::uint32_t>(found - hosts_.begin());
  if (hosts_.size() >= max_hosts) {
    too_many = true;
    return 0;
  }
  hosts_.push_back(host);
  return static_cast<std::uint32_t>(hosts_.size() - 1);
}

void job_log_timeline::add_row(row r, std::string&& command) {
  r.position = rows_.size();
  const bool ok = r.exit_value == 0 && r.signal == 0;
  put_in_ring(ok ? ok_labels_ : other_labels_, ok ? ok_next_ : other_next_, max_timeline_spans,
              label{r.position, command_of(std::move(command))});
  rows_.push_back(r);
}

void job_log_timeline::add(std::istream& in, const std::string& name) {
  std::streambuf& bytes = *in.rdbuf();
  const std::optional<job_log_line> first = read_job_log_line(bytes, kept_command_bytes);
  if (!first) return; // empty: the run was stopped before it wrote the header
  if (!is_job_log_header(*first))
    throw timeline_input_error("'" + name +
                               "' is not a job log: its first line is not the header (Seq Host Starttime "
                               "JobRuntime Send Receive Exitval Signal Command)");
  warning_list warnings(name, warnings_);
  std::size_t number = 1;
  while (std::optional<job_log_line> line = read_job_log_line(bytes, kept_command_bytes)) {
    ++number;
    if (is_job_log_header(*line)) continue; // an appended run's header
    auto parsed = parse_columns(*line);
    if (const auto* problem = std::get_if<std::string>(&parsed)) {
      warnings.add(number, line->complete ? *problem : *problem + " (the last line, without a newline)");
      continue;
    }
    auto& [r, host] = std::get<parsed_columns>(parsed);
    if (!have_first_) {
      first_start_us_ = r.start_us;
      have_first_ = true;
    }
    if (r.start_us > first_start_us_ + max_spread_us || r.start_us < first_start_us_ - max_spread_us) {
      warnings.add(number, "Starttime is more than 10^9 s from the first job's");
      continue;
    }
    bool too_many_hosts = false;
    r.host = host_index(host, too_many_hosts);
    if (too_many_hosts) {
      warnings.add(number, "a Host beyond the first 1024 different ones");
      continue;
    }
    add_row(r, std::move(line->command));
  }
}

timeline job_log_timeline::take(std::string title) {
  timeline run;
  run.title = std::move(title);
  // Lanes: per host, by start time.
  std::map<std::pair<std::string, std::size_t>, std::size_t> lane_of; // (host, slot from 1) -> lane
  std::vector<std::size_t> slot(rows_.size());
  std::vector<std::vector<std::size_t>> by_host(hosts_.size());
  for (const row& r : rows_)
    by_host[r.host].push_back(r.position);
  for (std::uint32_t h = 0; h < hosts_.size(); ++h) {
    std::vector<lane_interval> intervals;
    intervals.reserve(by_host[h].size());
    for (const std::size_t position : by_host[h])
      // From the first job's start: every start is within 10^9 s of it, so this fits in nanoseconds
      // (a Starttime itself may be up to 10^12 s, which does not).
      intervals.push_back({std::chrono::microseconds(rows_[position].start_us - first_start_us_),
                           std::chrono::microseconds(rows_[position].runtime_us)});
    const std::vector<std::size_t> lanes = assign_lanes(intervals, job_log_resolution);
    for (std::size_t i = 0; i < by_host[h].size(); ++i) {
      slot[by_host[h][i]] = lanes[i] + 1;
      lane_of.emplace(std::pair{hosts_[h], lanes[i] + 1}, 0);
    }
  }
  for (auto& [lane, index] : lane_of) {
    index = run.lanes.size();
    run.lanes.push_back(lane.first == ":" ? "slot " + std::to_string(lane.second)
                                          : lane.first + " slot " + std::to_string(lane.second));
  }
  // A failed line whose Seq a later line has was run again.
  std::map<std::uint64_t, std::uint64_t> last_position_of_seq;
  for (const row& r : rows_)
    if (r.exit_value != 0 || r.signal != 0) last_position_of_seq[r.seq] = r.position;
  std::vector<bool> run_again(rows_.size(), false);
  for (const row& r : rows_) {
    const auto failed = last_position_of_seq.find(r.seq);
    if (failed != last_position_of_seq.end() && failed->second < r.position) run_again[failed->second] = true;
  }
  // The bars drawn: the newest other ones, then the newest successful ones, up to the limit.
  std::sort(other_labels_.begin(), other_labels_.end(),
            [](const label& a, const label& b) { return a.position > b.position; });
  std::sort(ok_labels_.begin(), ok_labels_.end(),
            [](const label& a, const label& b) { return a.position > b.position; });
  std::vector<label*> drawn;
  for (auto* kind : {&other_labels_, &ok_labels_})
    for (label& l : *kind)
      if (drawn.size() < max_timeline_spans) drawn.push_back(&l);
  std::int64_t origin = std::numeric_limits<std::int64_t>::max(), end = 0;
  for (const row& r : rows_)
    origin = std::min(origin, r.start_us);
  for (const row& r : rows_)
    end = std::max(end, r.start_us + r.runtime_us - origin);
  std::map<span_outcome, std::uint64_t> counts;
  for (const row& r : rows_)
    ++counts[outcome_of(r, run_again[r.position])];
  for (label* l : drawn) {
    const row& r = rows_[l->position];
    run.spans.push_back({.lane = lane_of.at({hosts_[r.host], slot[r.position]}),
                         .start = std::chrono::microseconds(r.start_us - origin),
                         .duration = std::chrono::microseconds(r.runtime_us),
                         .outcome = outcome_of(r, run_again[r.position]),
                         .first_item = r.seq,
                         .items = 1,
                         .label = std::move(l->text),
                         .stage = {},
                         .exit_status = r.exit_value,
                         .signal = r.signal});
  }
  run.wall = std::chrono::microseconds(end);
  run.summary.push_back("jobs in the log: " + std::to_string(rows_.size()) + " (" + outcome_counts(counts) +
                        ")");
  if (drawn.size() < rows_.size())
    run.summary.push_back("not drawn: " + std::to_string(rows_.size() - drawn.size()) +
                          " of the oldest jobs, successful ones first (a timeline keeps at most " +
                          std::to_string(max_timeline_spans) + " bars)");
  rows_.clear();
  ok_labels_.clear();
  other_labels_.clear();
  return run;
}

} // namespace parmill::cli
