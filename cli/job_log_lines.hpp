// cli/job_log_lines.hpp: reading GNU-format job log lines (Seq Host Starttime JobRuntime Send
// Receive Exitval Signal Command, tab-separated), for both readers: --resume's (job_log.cpp) and
// the timeline converter's (timeline_job_log.cpp). Any bytes are safe: a line is read in constant
// memory, and what is wrong with it is said in words.
#pragma once

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace parmill::cli {

/// Columns before Command.
inline constexpr std::size_t job_log_columns_before_command = 8;
/// The first eight columns of a line GNU parallel or parmill writes are short (numbers and a host
/// name); a line whose first eight columns are longer than this is malformed.
inline constexpr std::size_t job_log_max_columns_bytes = 4096;

/// One line of a job log, read in constant memory.
struct job_log_line {
  std::string head;       ///< the first eight columns and their tabs (at most 4096 bytes)
  std::string command;    ///< the start of the Command column (as many bytes as the reader keeps)
  std::size_t length = 0; ///< the whole line's length, without its newline
  std::size_t tabs = 0;   ///< tabs in `head` (at most eight)
  bool complete = false;  ///< ended by a newline
  bool all_nul = true;    ///< every byte is NUL (true for an empty line)
  bool too_long = false;  ///< the first eight columns are longer than job_log_max_columns_bytes
};

/// The next line of `in` keeping at most `command_bytes` of its Command column, or nothing at
/// the end of `in`.
[[nodiscard]] std::optional<job_log_line> read_job_log_line(std::streambuf& in, std::size_t command_bytes);

/// True when `line` is the header line (with at least 8 bytes of Command kept).
[[nodiscard]] bool is_job_log_header(const job_log_line& line);

/// `value` quoted for a message: at most 40 bytes, anything unprintable as \xNN.
[[nodiscard]] std::string shown(std::string_view value);

/// True when `s` is one or more ASCII digits.
[[nodiscard]] inline bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// An integer of type T with nothing around it (an optional '-' first when T is signed).
template <typename T>
[[nodiscard]] std::optional<T> parse_integer(std::string_view s) {
  const std::string_view digits = std::is_signed_v<T> && s.starts_with('-') ? s.substr(1) : s;
  if (!all_digits(digits)) return std::nullopt;
  T value{};
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

/// The eight columns before Command.
using job_log_columns = std::array<std::string_view, job_log_columns_before_command>;

/// `line`'s eight columns before Command (views into `line.head`), or what is wrong with them:
/// too long, or too few columns.
[[nodiscard]] std::variant<job_log_columns, std::string> split_job_log_columns(const job_log_line& line);

/// "Seq '0' is not a positive integer": column `name` of `columns`, numbered `i`, is not `what`.
[[nodiscard]] std::string column_problem(const job_log_columns& columns, std::size_t i, const char* name,
                                         const char* what);

} // namespace parmill::cli
