// cli/job_log.cpp
#include "job_log.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>
#include <variant>

#include "job_log_lines.hpp"
#include "options.hpp"

namespace parmill::cli {
namespace {

/// Bytes of the Command column kept: enough to tell a copy of the header ("Command") from a job.
constexpr std::size_t header_command_bytes = 8;

// --- writing -------------------------------------------------------------------------------------

/// Writes all of `text` to `fd`, the job log at `path`. Throws `std::runtime_error` naming it.
void write_all(int fd, std::string_view text, const std::string& path) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("--joblog: cannot write '" + path + "': " + std::strerror(errno));
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

/// `value` printed with printf's `format` (one number).
template <typename Number>
std::string formatted(const char* format, Number value) {
  char text[64];
  const int n = std::snprintf(text, sizeof text, format, value);
  return std::string(text, static_cast<std::size_t>(std::clamp(n, 0, static_cast<int>(sizeof text) - 1)));
}

/// The Host column: never empty, and never a tab or newline that would break the line's columns.
std::string host_column(const std::string& host) {
  if (host.empty()) return ":";
  std::string column = host;
  std::replace_if(
      column.begin(), column.end(), [](char c) { return c == '\t' || c == '\n'; }, ' ');
  return column;
}

// --- reading -------------------------------------------------------------------------------------

bool only_nul(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

/// True when `bytes` (a whole file without a newline) is what a run stopped, or a machine that lost
/// power, before the header was complete on disk can leave: a start of the header, or NUL bytes.
bool is_unfinished_header(std::string_view bytes) {
  return job_log_header.starts_with(bytes) || only_nul(bytes);
}

/// True when `line`, the first of a file and without a newline, is an unfinished header.
bool is_unfinished_header(const job_log_line& line) {
  return line.all_nul ||
         (line.length <= job_log_header.size() && is_unfinished_header(line.head + line.command));
}

/// A decimal number as GNU parallel writes Starttime and JobRuntime: an optional '-', digits, and
/// optionally '.' and digits; with `padded`, spaces may come first (JobRuntime is "%10.3f").
bool is_decimal(std::string_view s, bool padded) {
  if (padded) s.remove_prefix(std::min(s.find_first_not_of(' '), s.size()));
  if (s.starts_with('-')) s.remove_prefix(1);
  const auto point = s.find('.');
  if (point == std::string_view::npos) return all_digits(s);
  return all_digits(s.substr(0, point)) && all_digits(s.substr(point + 1));
}

/// A job's row, parsed.
struct row {
  std::size_t seq = 0;
  bool succeeded = false;
};

/// Parses a complete line's first eight columns, or says what is wrong with them.
std::variant<row, std::string> parse_row(const job_log_line& line) {
  auto split = split_job_log_columns(line);
  if (auto* problem = std::get_if<std::string>(&split)) return std::move(*problem);
  const job_log_columns& column = std::get<job_log_columns>(split);
  const auto bad = [&](std::size_t i, const char* name, const char* what) {
    return column_problem(column, i, name, what);
  };
  const auto seq = parse_integer<std::size_t>(column[0]);
  if (!seq || *seq == 0) return bad(0, "Seq", "a positive integer");
  if (column[1].empty()) return std::string("Host is empty");
  if (!is_decimal(column[2], false)) return bad(2, "Starttime", "a decimal number");
  if (!is_decimal(column[3], true)) return bad(3, "JobRuntime", "a decimal number");
  if (!parse_integer<std::size_t>(column[4])) return bad(4, "Send", "a non-negative integer");
  if (!parse_integer<std::size_t>(column[5])) return bad(5, "Receive", "a non-negative integer");
  const auto exit_value = parse_integer<int>(column[6]);
  if (!exit_value) return bad(6, "Exitval", "an integer");
  const auto signal = parse_integer<int>(column[7]);
  if (!signal) return bad(7, "Signal", "an integer");
  return row{*seq, *exit_value == 0 && *signal == 0};
}

std::string not_a_job_log(const std::string& name) {
  return "--joblog: '" + name +
         "' is not a job log: its first line is not the header (Seq Host Starttime ...); it is left as it is";
}

/// Collects the warnings of a reading, at most `max_warnings` of them one by one.
class warning_list {
public:
  warning_list(const std::string& name, std::vector<std::string>& into) : name_(name), into_(into) {}
  void add(std::size_t line_number, const std::string& what) {
    if (++count_ <= job_log_reading::max_warnings)
      into_.push_back("job log '" + name_ + "' line " + std::to_string(line_number) + ": " + what +
                      "; that line does not count as a job done");
  }
  void finish() {
    if (count_ > job_log_reading::max_warnings)
      into_.push_back("job log '" + name_ + "': " + std::to_string(count_ - job_log_reading::max_warnings) +
                      " more malformed lines, which do not count as jobs done");
  }

private:
  const std::string& name_;
  std::vector<std::string>& into_;
  std::size_t count_ = 0;
};

} // namespace

job_log_reading read_job_log(std::istream& in, const std::string& name, bool failed_too) {
  job_log_reading reading;
  std::streambuf& bytes = *in.rdbuf();
  const std::optional<job_log_line> first = read_job_log_line(bytes, header_command_bytes);
  if (!first) return reading;
  if (!first->complete) {
    if (!is_unfinished_header(*first)) throw usage_error(not_a_job_log(name));
    reading.warnings.push_back("job log '" + name +
                               "' line 1: an unfinished header and nothing else (the run writing it "
                               "was stopped); the log holds no jobs");
    return reading;
  }
  if (!is_job_log_header(*first)) throw usage_error(not_a_job_log(name));
  warning_list warnings(name, reading.warnings);
  std::size_t number = 1;
  while (const std::optional<job_log_line> line = read_job_log_line(bytes, header_command_bytes)) {
    ++number;
    if (!line->complete) {
      warnings.add(number, "the last line has no newline (the run writing it was stopped)");
      break;
    }
    if (is_job_log_header(*line)) continue;
    const auto parsed = parse_row(*line);
    if (const auto* problem = std::get_if<std::string>(&parsed)) {
      warnings.add(number, *problem);
      continue;
    }
    const row& r = std::get<row>(parsed);
    if (failed_too || r.succeeded) reading.done.insert(r.seq);
  }
  warnings.finish();
  return reading;
}

std::set<std::size_t> jobs_done(const std::string& path, bool failed_too) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    if (error == ENOENT) return {}; // no log yet: nothing done
    throw usage_error("--joblog: cannot read '" + path + "': " + std::strerror(error));
  }
  job_log_reading reading;
  try {
    reading = read_job_log(in, path, failed_too);
  } catch (const std::ios_base::failure&) { // a read error (libstdc++ throws it whatever the mask)
    const int error = errno;
    throw usage_error("--joblog: cannot read '" + path + "': " + std::strerror(error));
  }
  for (const std::string& warning : reading.warnings)
    std::fprintf(stderr, "parmill: Warning: %s\n", warning.c_str());
  return std::move(reading.done);
}

std::string job_log_command(std::string_view command) {
  std::string column(command);
  std::replace(column.begin(), column.end(), '\n', '\0');
  return column;
}

namespace {

/// What is in a job log that --resume appends to.
enum class log_state {
  complete,   ///< the header, and every line ends in a newline
  torn,       ///< the header, but the last line has no newline
  empty,      ///< nothing (or not a regular file)
  unfinished, ///< only an unfinished header (see is_unfinished_header)
  not_a_log   ///< anything else
};

/// Reads what `fd` (open for reading) holds, in constant memory.
log_state state_of(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    throw usage_error("--joblog: cannot read '" + path + "': " + std::strerror(errno));
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) return log_state::empty;
  std::string start(std::min(size, job_log_header.size() + 1), '\0');
  if (::pread(fd, start.data(), start.size(), 0) != static_cast<ssize_t>(start.size()))
    return log_state::not_a_log;
  if (start == std::string(job_log_header) + "\n") {
    char last = '\n';
    if (::pread(fd, &last, 1, static_cast<off_t>(size - 1)) != 1) return log_state::not_a_log;
    return last == '\n' ? log_state::complete : log_state::torn;
  }
  if (size <= job_log_header.size())
    return is_unfinished_header(start) ? log_state::unfinished : log_state::not_a_log;
  char chunk[64 * 1024]; // a longer file is an unfinished header only if it is all NUL bytes
  for (std::size_t at = 0; at < size;) {
    const ssize_t n = ::pread(fd, chunk, sizeof chunk, static_cast<off_t>(at));
    if (n <= 0 || !only_nul(std::string_view(chunk, static_cast<std::size_t>(n))))
      return log_state::not_a_log;
    at += static_cast<std::size_t>(n);
  }
  return log_state::unfinished;
}

} // namespace

job_log::job_log(const std::string& path, bool append) : path_(path) {
  if (path == "-") { // standard output, as GNU parallel's --joblog -
    fd_ = ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd_ < 0)
      throw usage_error(std::string("--joblog: cannot write to standard output: ") + std::strerror(errno));
    write_all(fd_, std::string(job_log_header) + "\n", path_);
    return;
  }
  fd_ = ::open(path.c_str(), (append ? O_RDWR | O_APPEND : O_WRONLY | O_TRUNC) | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw usage_error("--joblog: cannot write '" + path + "': " + std::strerror(errno));
  try {
    const log_state state = append ? state_of(fd_, path) : log_state::empty; // O_TRUNC emptied it
    if (state == log_state::not_a_log) throw usage_error(not_a_job_log(path));
    if (state == log_state::unfinished && ::ftruncate(fd_, 0) != 0)
      throw usage_error("--joblog: cannot write '" + path + "': " + std::strerror(errno));
    if (state == log_state::empty || state == log_state::unfinished)
      write_all(fd_, std::string(job_log_header) + "\n", path_);
    if (state == log_state::torn) write_all(fd_, "\n", path_);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

job_log::~job_log() {
  if (fd_ >= 0) ::close(fd_);
}

void job_log::record(std::size_t seq, const std::string& host, const process_result& r,
                     const std::string& command) {
  const double start = std::chrono::duration<double>(r.started.time_since_epoch()).count();
  std::string line = std::to_string(seq);
  for (const std::string& column :
       {host_column(host), formatted("%.3f", start), formatted("%10.3f", r.runtime.count()),
        std::to_string(r.sent), std::to_string(r.received), std::to_string(r.exit_value),
        std::to_string(r.signal), job_log_command(command)})
    (line += '\t') += column;
  line += '\n';
  std::lock_guard lock(mutex_);
  write_all(fd_, line, path_);
}

} // namespace parmill::cli
