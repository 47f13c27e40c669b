// cli/timeline_job_log.hpp: a GNU-format job log (parmill's --joblog, or GNU parallel's) as a
// parmill::timeline, for parmill-timeline. A job log has no job slot column, so lanes are given by
// start time: interval partitioning, which uses exactly as many lanes as jobs ran at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <stdexcept>
#include <string>
#include <vector>

#include "parmill/timeline.hpp"

namespace parmill::cli {

/// A time interval to put on a lane: [start, start + duration).
struct lane_interval {
  std::chrono::nanoseconds start{};
  std::chrono::nanoseconds duration{};
};

/// The lane of each interval (in the order given), from 0, such that no two intervals on one lane
/// overlap by more than `tolerance`, using the fewest lanes: as many as intervals overlap (by more
/// than `tolerance`) at once. An interval that ends at `t` and one that starts at `t` may share a
/// lane; so may an empty interval at `t` and one that starts at `t`. Intervals are placed by start time, each
/// on the lane that became free earliest (the lowest-numbered of those freed at the same time). O(n log n)
/// time, O(n) memory.
[[nodiscard]] std::vector<std::size_t> assign_lanes(const std::vector<lane_interval>& intervals,
                                                    std::chrono::nanoseconds tolerance = {});

/// How far a job log's times may be off: Starttime and JobRuntime have three decimals, so an end
/// computed from them is off by up to a millisecond, and jobs that met within it may share a lane.
inline constexpr std::chrono::nanoseconds job_log_resolution = std::chrono::milliseconds(1);

/// Input that is not what parmill-timeline reads; the message names the file and the line or
/// byte offset.
struct timeline_input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Collects job log lines into a timeline, in bounded memory: about 48 bytes per job, plus at most
/// `2 * max_timeline_spans` labels. Add one or several job logs, then take the timeline.
class job_log_timeline {
public:
  /// Reads the job log `in`, named `name` in messages: its first line must be the header
  /// (`Seq Host Starttime ...`); lines are read in constant memory whatever their length. A line
  /// whose columns do not parse strictly (Seq a positive integer, Host not empty, Starttime and
  /// JobRuntime non-negative decimal numbers, less than 10^12 and 10^9 seconds, Send and Receive
  /// non-negative integers, Exitval and Signal integers, a Command column; a Starttime at most
  /// 10^9 s from the first job's) is skipped and described in `warnings()` ("NAME line N: ...", at
  /// most 10 per log, then a count). Copies of the header are skipped; a last line without a
  /// newline is read if its columns parse (the log was being written). An empty log, or a header
  /// alone, holds no jobs. Throws `timeline_input_error` when the first line is not the header.
  void add(std::istream& in, const std::string& name);

  /// The timeline of every job read: on each Host, lanes given by `assign_lanes` with
  /// `job_log_resolution` ("slot 1", ...; "HOST slot 1" for another host than ":"), times from the
  /// earliest start. A bar's outcome: failed (Exitval not 0), crashed (Signal not 0), timed_out
  /// (Exitval -1 with a Signal: killed by GNU parallel or parmill, as --timeout does), retried (a
  /// failed line whose Seq a later line has: an appended log's run again, --resume-failed).
  /// At most `max_timeline_spans` bars are drawn: the newest successful ones are dropped last,
  /// the others kept first; summary lines say how many jobs and how many are not drawn.
  [[nodiscard]] timeline take(std::string title);

  /// What was wrong in the logs read, one line each, without a "Warning: " prefix.
  [[nodiscard]] const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  /// How many jobs (lines) were read.
  [[nodiscard]] std::size_t jobs() const noexcept { return rows_.size(); }

  /// What one job line says, kept for every job.
  struct row {
    std::int64_t start_us = 0;   ///< Starttime, in microseconds since the epoch
    std::int64_t runtime_us = 0; ///< JobRuntime, in microseconds
    std::uint64_t seq = 0;
    std::uint64_t position = 0; ///< its place among all lines read, from 0
    int exit_value = 0;
    int signal = 0;
    std::uint32_t host = 0; ///< index into hosts_
  };

private:
  /// A job's label, kept for the newest jobs that may be drawn.
  struct label {
    std::uint64_t position = 0;
    std::string text;
  };
  void add_row(row r, std::string&& command);
  std::uint32_t host_index(const std::string& host, bool& too_many);

  std::vector<row> rows_;
  std::vector<std::string> hosts_;
  std::vector<label> ok_labels_, other_labels_; // ring buffers of the newest labels of each kind
  std::size_t ok_next_ = 0, other_next_ = 0;
  std::vector<std::string> warnings_;
  std::int64_t first_start_us_ = 0;
  bool have_first_ = false;
};

} // namespace parmill::cli
