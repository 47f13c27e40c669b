// cli/ordered_lines.cpp: -k with --line-buffer (see ordered_lines.hpp).
#include "ordered_lines.hpp"

namespace parmill::cli {

void ordered_lines::write(std::size_t position, std::string_view line, bool is_error,
                          const std::string* tag) {
  std::lock_guard lock(mutex_);
  if (position <= front_) {
    out_.write_line(line, is_error, tag);
    return;
  }
  held_[position].push_back(held_line{
      .text = std::string(line), .is_error = is_error, .tag = tag ? std::optional(*tag) : std::nullopt});
}

void ordered_lines::ended(std::size_t position) {
  std::lock_guard lock(mutex_);
  if (position + 1 <= front_) return;
  front_ = position + 1;
  // Held lines of the jobs that have ended (none should be left) and of the new first job, in order.
  while (!held_.empty() && held_.begin()->first <= front_) {
    for (const held_line& line : held_.begin()->second)
      out_.write_line(line.text, line.is_error, line.tag ? &*line.tag : nullptr);
    held_.erase(held_.begin());
  }
}

} // namespace parmill::cli
