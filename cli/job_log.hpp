// cli/job_log.hpp: GNU parallel's --joblog format, and what --resume reads back from it.
#pragma once

#include <cstddef>
#include <set>
#include <string>

#include "job_runner.hpp"

namespace parmill::cli {

/// The sequence numbers a job log records as done: every job it lists, or with `failed_too`
/// false (--resume-failed) only those that succeeded. Throws `usage_error` if the file exists
/// but cannot be read.
[[nodiscard]] std::set<std::size_t> jobs_done(const std::string& path, bool failed_too);

/// Appends one line per job, written through to the file at once, so that nothing done is lost
/// if parmill is killed. Not thread-safe: the command writes it from one thread.
class job_log {
public:
  /// Opens `path`; `append` keeps what is there (--resume), otherwise it starts anew with the
  /// header. Throws `usage_error` naming a file that cannot be written.
  job_log(const std::string& path, bool append);
  ~job_log();
  job_log(const job_log&) = delete;
  job_log& operator=(const job_log&) = delete;

  /// Records one finished job: `Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`.
  void record(std::size_t seq, const std::string& host, const process_result& r, const std::string& command);

private:
  int fd_ = -1;
};

} // namespace parmill::cli
