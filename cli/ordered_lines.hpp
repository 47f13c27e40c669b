// cli/ordered_lines.hpp: -k with --line-buffer, as GNU parallel does it: the first unfinished job's
// lines go out as they come; a later job's lines wait until every job before it has ended.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "output.hpp"

namespace parmill::cli {

/// Keeps jobs' lines in the output's order (the order the jobs were given, `job::position`) while
/// printing the first unfinished job's lines live. Guarantees: the lines of one job stay together
/// and in their order, jobs appear in position order, and nothing is lost. Not guaranteed: bounded
/// memory; a later job's lines are held in memory until its turn (GNU parallel holds them in files).
/// Thread-safe.
class ordered_lines {
public:
  explicit ordered_lines(output_writer& out) : out_(out) {}
  /// A line (or a job's unterminated last piece) from the job at `position`: written now when that
  /// job is the first unfinished one, else held.
  void write(std::size_t position, std::string_view line, bool is_error, const std::string* tag);
  /// Every job up to and including `position` has ended: the next job's held lines are written,
  /// and its later lines go straight out.
  void ended(std::size_t position);

private:
  struct held_line {
    std::string text;
    bool is_error = false;
    std::optional<std::string> tag;
  };
  output_writer& out_;
  std::mutex mutex_;
  std::size_t front_ = 0;                              // the first unfinished job; guarded by mutex_
  std::map<std::size_t, std::vector<held_line>> held_; // guarded by mutex_
};

} // namespace parmill::cli
