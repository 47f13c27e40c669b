// cli/output.hpp: writes jobs' output to parmill's standard output and error, whole or by line,
// tagged or not, and saves it under --results.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

#include "command_template.hpp"
#include "job_runner.hpp"

namespace parmill::cli {

/// Thread-safe writer: each call's text reaches the file in one piece, never mixed with another's.
class output_writer {
public:
  /// Writes a job's captured output: standard output, then standard error, each line prefixed
  /// with `tag` and a tab when `tag` is not empty.
  void write_job(const process_result& r, const std::string* tag);
  /// Writes one line (or the end of a job's output) of a job in --line-buffer mode.
  void write_line(std::string_view line, bool is_error, const std::string* tag);
  /// Writes text to standard error as it is.
  void message(std::string_view text);
  /// True once standard output has been closed by its reader (EPIPE).
  [[nodiscard]] bool broken() const noexcept { return broken_.load(); }

private:
  void write_all(int fd, std::string_view text);
  std::mutex mutex_;
  std::atomic<bool> broken_{false};
};

/// Prefixes every line of `text` with `tag` and a tab.
[[nodiscard]] std::string tag_lines(std::string_view text, const std::string& tag);

/// Saves a job's output as DIR/<column>/<value>/.../{stdout,stderr,seq}, as GNU parallel does.
/// Throws std::runtime_error naming what could not be written.
void save_results(const std::string& dir, const job_values& job, const process_result& r);

} // namespace parmill::cli
