// cli/halt.hpp: --halt's bookkeeping, as GNU parallel 20221122 keeps it.
#pragma once

#include <cstddef>

#include "job_runner.hpp"
#include "options.hpp"

namespace parmill::cli {

/// Counts finished jobs against a `halt_policy`: whether the run should stop, and the exit status
/// it then has. Not thread-safe (the caller holds a lock).
class halt_tracker {
public:
  /// `total` is the number of jobs of the run when known (0 otherwise); a percentage in the
  /// policy is a percentage of it.
  halt_tracker(const halt_policy& policy, std::size_t total) : policy_(policy), total_(total) {}

  /// Counts a finished job; true the first time the halt condition holds (never again after).
  bool count(const process_result& r);

  /// True when `r` counts toward the condition (a failure for fail=, a success for success=, any
  /// job for done=; nothing for `never`): GNU parallel names each such job on standard error.
  [[nodiscard]] bool relevant(const process_result& r) const noexcept;

  /// True once the condition has held.
  [[nodiscard]] bool halted() const noexcept { return halted_; }
  /// How many jobs counted so far failed.
  [[nodiscard]] std::size_t failed() const noexcept { return failed_; }

  /// The exit status GNU parallel gives this run: once halted, the status fixed then; with a
  /// percentage in --halt, the percentage of jobs that failed (rounded up), halted or not;
  /// otherwise the number of failed jobs, at most 101.
  [[nodiscard]] int exit_status() const;

private:
  /// How many jobs make the condition hold: the count, or the percentage of all jobs.
  [[nodiscard]] double needed() const;
  [[nodiscard]] int capped_failures() const;
  /// ceil(failed / of * 100), computed as GNU parallel computes it.
  [[nodiscard]] int failed_percent(std::size_t of) const;
  /// The status when the condition first holds, with `r` the job that made it hold.
  [[nodiscard]] int status_when_halted(const process_result& r) const;

  halt_policy policy_;
  std::size_t total_;
  std::size_t done_ = 0, failed_ = 0, succeeded_ = 0;
  int halted_status_ = 0;
  bool halted_ = false;
};

} // namespace parmill::cli
