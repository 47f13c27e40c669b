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

#include "options.hpp"

namespace parmill::cli {
namespace {

constexpr std::size_t columns_before_command = 8;
/// The first eight columns of a line GNU parallel or parmill writes are short (numbers and a host
/// name); a line whose first eight columns are longer than this is malformed.
constexpr std::size_t max_columns_bytes = 4096;

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

/// One line of a job log, read in constant memory.
struct log_line {
  std::string head;       ///< the line up to its eighth tab and at most 8 bytes more (or 4 KiB)
  std::size_t length = 0; ///< the whole line's length, without its newline
  std::size_t tabs = 0;   ///< tabs in `head` (at most eight)
  bool complete = false;  ///< ended by a newline
  bool all_nul = true;    ///< every byte is NUL (true for an empty line)
  bool too_long = false;  ///< the first eight columns are longer than max_columns_bytes
};

/// The next line of `in`, or nothing at its end.
std::optional<log_line> read_line(std::streambuf& in) {
  using traits = std::char_traits<char>;
  log_line line;
  std::size_t after_eighth_tab = 0;
  for (int c = in.sbumpc(); !traits::eq_int_type(c, traits::eof()); c = in.sbumpc()) {
    const char byte = traits::to_char_type(c);
    if (byte == '\n') {
      line.complete = true;
      return line;
    }
    ++line.length;
    line.all_nul = line.all_nul && byte == '\0';
    if (line.tabs == columns_before_command) {
      if (after_eighth_tab++ < 8) line.head.push_back(byte); // enough to tell a header copy
    } else if (line.head.size() < max_columns_bytes) {
      line.head.push_back(byte);
      if (byte == '\t') ++line.tabs;
    } else {
      line.too_long = true;
    }
  }
  if (line.length == 0) return std::nullopt;
  return line;
}

bool only_nul(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

/// True when `bytes` (a whole file without a newline) is what a run stopped, or a machine that lost
/// power, before the header was complete on disk can leave: a start of the header, or NUL bytes.
bool is_unfinished_header(std::string_view bytes) {
  return job_log_header.starts_with(bytes) || only_nul(bytes);
}

/// True when `line`, the first of a file and without a newline, is an unfinished header.
bool is_unfinished_header(const log_line& line) {
  return line.all_nul || (line.length <= job_log_header.size() && is_unfinished_header(line.head));
}

bool is_header(const log_line& line) {
  return line.length == job_log_header.size() && line.head == job_log_header;
}

/// `value` quoted for a message: at most 40 bytes, anything unprintable as \xNN.
std::string shown(std::string_view value) {
  std::string text = "'";
  for (const char c : value.substr(0, 40)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '\'') {
      text.push_back(c);
    } else {
      text += formatted("\\x%02x", static_cast<unsigned>(byte));
    }
  }
  if (value.size() > 40) text += "...";
  return text + "'";
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// An integer of type T with nothing around it (an optional '-' first when T is signed).
template <typename T>
std::optional<T> parse_integer(std::string_view s) {
  const std::string_view digits = std::is_signed_v<T> && s.starts_with('-') ? s.substr(1) : s;
  if (!all_digits(digits)) return std::nullopt;
  T value{};
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
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
std::variant<row, std::string> parse_row(const log_line& line) {
  if (line.too_long) return "its first eight columns are longer than 4096 bytes";
  if (line.tabs < columns_before_command)
    return "it has " + std::to_string(line.tabs + 1) + (line.tabs == 0 ? " column" : " columns") +
           ", not 9 or more";
  std::string_view rest = line.head;
  std::string_view column[columns_before_command];
  for (auto& c : column) {
    const auto tab = rest.find('\t');
    c = rest.substr(0, tab);
    rest.remove_prefix(tab + 1);
  }
  const auto bad = [&](const char* name, std::size_t i, const char* what) {
    return std::string(name) + " " + shown(column[i]) + " is not " + what;
  };
  const auto seq = parse_integer<std::size_t>(column[0]);
  if (!seq || *seq == 0) return bad("Seq", 0, "a positive integer");
  if (column[1].empty()) return std::string("Host is empty");
  if (!is_decimal(column[2], false)) return bad("Starttime", 2, "a decimal number");
  if (!is_decimal(column[3], true)) return bad("JobRuntime", 3, "a decimal number");
  if (!parse_integer<std::size_t>(column[4])) return bad("Send", 4, "a non-negative integer");
  if (!parse_integer<std::size_t>(column[5])) return bad("Receive", 5, "a non-negative integer");
  const auto exit_value = parse_integer<int>(column[6]);
  if (!exit_value) return bad("Exitval", 6, "an integer");
  const auto signal = parse_integer<int>(column[7]);
  if (!signal) return bad("Signal", 7, "an integer");
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
  const std::optional<log_line> first = read_line(bytes);
  if (!first) return reading;
  if (!first->complete) {
    if (!is_unfinished_header(*first)) throw usage_error(not_a_job_log(name));
    reading.warnings.push_back("job log '" + name +
                               "' line 1: an unfinished header and nothing else (the run writing it "
                               "was stopped); the log holds no jobs");
    return reading;
  }
  if (!is_header(*first)) throw usage_error(not_a_job_log(name));
  warning_list warnings(name, reading.warnings);
  std::size_t number = 1;
  while (const std::optional<log_line> line = read_line(bytes)) {
    ++number;
    if (!line->complete) {
      warnings.add(number, "the last line has no newline (the run writing it was stopped)");
      break;
    }
    if (is_header(*line)) continue;
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
