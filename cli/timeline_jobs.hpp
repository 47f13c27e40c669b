// cli/timeline_jobs.hpp: the command's jobs as a parmill::timeline (parmill/timeline.hpp): one bar
// per attempt of a job, on the lane of its job slot, recorded as each attempt ends, in bounded
// memory. What --timeline draws; written to a page by timeline_page.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "job_runner.hpp"
#include "parmill/timeline.hpp"

namespace parmill::cli {

/// The most bars a timeline of the command keeps (the library's page stays under 10 MB and
/// renders in under two seconds with this many).
inline constexpr std::size_t max_timeline_spans = 100'000;

/// The longest label a bar keeps: a longer command line is cut (at a UTF-8 character boundary) and
/// ends with "...". The tooltip shows it; the whole command is in the job log.
inline constexpr std::size_t max_timeline_label = 160;

/// How one attempt of a job ended, as a bar shows it. `stopped`: parmill was stopping the run
/// (Ctrl-C, --halt now, a closed output) when it ended; `retried`: it failed and --retries runs it
/// again. In order of precedence: retried, cancelled (stopped), timed_out (killed by --timeout),
/// crashed (ended by a signal), failed (a non-zero exit status), ok.
[[nodiscard]] span_outcome job_outcome_of(const process_result& result, bool stopped, bool retried) noexcept;

/// `text` cut to at most `max_timeline_label` bytes, never inside a UTF-8 character, "..." last
/// when cut. Any bytes.
[[nodiscard]] std::string timeline_label(std::string_view text);

/// Where a job ran: its job slot, and under MPI its machine and rank (rank 0 runs no job; several
/// ranks may share a machine, each with slots from 1).
struct job_lane {
  std::string host = ":"; ///< the job log's Host: ":" for this machine (without MPI)
  int rank = 0;           ///< under MPI, the rank that ran it
  std::size_t slot = 1;   ///< `{%}`, from 1
  auto operator<=>(const job_lane&) const = default;
};

/// "3 ok, 1 failed": the non-zero counts of `counts`, in span_outcome's order; "none" if none.
[[nodiscard]] std::string outcome_counts(const std::map<span_outcome, std::uint64_t>& counts);

/// The bars of a run of the command, recorded as its jobs end. Thread-safe. Memory is bounded:
/// at most `max_spans` bars are kept; beyond, the oldest successful bar is dropped for each new
/// one (failures, retries, timeouts, crashes and cancellations are dropped only when every kept
/// bar is one of them, oldest first), and the counts of the whole run go in the summary lines.
class timeline_recorder {
public:
  /// A recorder for a run that began at `run_start` (the clock job starts are measured with),
  /// titled `title` (any bytes).
  timeline_recorder(std::string title, std::chrono::system_clock::time_point run_start,
                    std::size_t max_spans = max_timeline_spans);

  /// Records one attempt of job `seq` on `lane`, which ran `command` and ended as `result` says,
  /// with `outcome`.
  void record(std::uint64_t seq, const job_lane& lane, std::string_view command, const process_result& result,
              span_outcome outcome);

  /// The run so far: a lane per job slot seen ("slot 1", ...; under MPI "HOST rank R slot 1"),
  /// sorted by host, rank and slot; the bars kept; `wall` from the run's start to now (at least the last
  /// bar's end); and summary lines with the run's counts, saying which bars were left out, if any.
  [[nodiscard]] timeline snapshot() const;

  /// How many attempts have been recorded: changes whenever a bar is added.
  [[nodiscard]] std::uint64_t recorded() const;

private:
  /// A bar with its lane until a snapshot numbers the lanes.
  struct kept_span {
    job_lane lane;
    timeline_span span;
  };
  void keep(kept_span&& bar);
  [[nodiscard]] std::vector<std::string> summary_lines() const;

  const std::string title_;
  const std::chrono::system_clock::time_point run_start_;
  const std::size_t max_spans_;
  mutable std::mutex mutex_;
  std::deque<kept_span> ok_, not_ok_;             // the kept bars: successful ones, and the others
  std::set<job_lane> lanes_;                      // every lane seen: at most -j per rank
  std::map<span_outcome, std::uint64_t> counts_;  // every attempt recorded, by outcome
  std::map<span_outcome, std::uint64_t> dropped_; // those left out, by outcome
  std::chrono::nanoseconds last_end_{};           // the latest end of any bar
  std::uint64_t recorded_ = 0;
};

} // namespace parmill::cli
