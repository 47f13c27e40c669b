// cli/output.cpp: jobs' output to parmill's standard output and error, and --results.
#include "output.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#include "options.hpp"

namespace parmill::cli {

std::string tag_lines(std::string_view text, const std::string& tag) {
  std::string out;
  out.reserve(text.size() + tag.size() + 1);
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    end = end == std::string_view::npos ? text.size() : end + 1;
    out.append(tag).push_back('\t');
    out.append(text.substr(start, end - start));
    start = end;
  }
  return out;
}

void output_writer::write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (fd == 1) broken_ = true;
      return;
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

namespace {

/// True when descriptors `a` and `b` are the same terminal.
bool same_terminal(int a, int b) {
  struct stat sa {};
  struct stat sb {};
  return ::isatty(a) == 1 && ::isatty(b) == 1 && ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 &&
         sa.st_rdev == sb.st_rdev;
}

} // namespace

void output_writer::attach_bar(progress_bar& bar) {
  const bool shared = same_terminal(1, 2);
  std::lock_guard lock(mutex_);
  bar_ = &bar;
  stdout_on_bar_terminal_ = shared;
}

void output_writer::detach_bar() {
  std::lock_guard lock(mutex_);
  bar_ = nullptr;
}

void output_writer::write_pieces(std::initializer_list<piece> pieces) {
  const auto on_bar_terminal = [this](const piece& p) {
    return !p.second.empty() && (p.first == 2 || stdout_on_bar_terminal_);
  };
  const auto write = [&] {
    auto what = progress_bar::written::nothing;
    for (const piece& p : pieces) {
      write_all(p.first, p.second);
      if (on_bar_terminal(p))
        what = p.second.back() == '\n' ? progress_bar::written::whole_lines
                                       : progress_bar::written::part_of_a_line;
    }
    return what;
  };
  if (bar_ != nullptr && std::any_of(pieces.begin(), pieces.end(), on_bar_terminal))
    bar_->write_above(write);
  else
    (void)write();
}

void output_writer::write_job(const process_result& r, const std::string* tag) {
  std::lock_guard lock(mutex_);
  if (tag != nullptr) {
    const std::string out = tag_lines(r.out, *tag), err = tag_lines(r.err, *tag);
    write_pieces({{1, out}, {2, err}});
  } else {
    write_pieces({{1, r.out}, {2, r.err}});
  }
}

void output_writer::write_line(std::string_view line, bool is_error, const std::string* tag) {
  std::lock_guard lock(mutex_);
  const std::string tagged = tag != nullptr ? tag_lines(line, *tag) : std::string();
  write_pieces({{is_error ? 2 : 1, tag != nullptr ? std::string_view(tagged) : line}});
}

void output_writer::message(std::string_view text) {
  std::lock_guard lock(mutex_);
  write_pieces({{2, text}});
}

namespace {

/// Writes `text` to a new file (or over an old one) at `path`. Throws std::runtime_error naming it.
void write_file(const std::filesystem::path& path, const std::string& text) {
  const auto fail = [&](int error) {
    throw std::runtime_error("--results: cannot write '" + path.string() + "': " + std::strerror(error));
  };
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail(errno);
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = n < 0 ? errno : EIO;
      ::close(fd);
      fail(error);
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::close(fd) != 0) fail(errno);
}

} // namespace

namespace {

/// True when `text` ends in `suffix`, in any case.
bool ends_with_lower(const std::string& text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[text.size() - suffix.size() + i])) != suffix[i])
      return false;
  return true;
}

/// `text` as a JSON string's contents, as GNU parallel writes it: `\` and `"` escaped, control
/// characters as \u00XX.
std::string json_quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 32) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out;
}

std::string three_decimals(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

} // namespace

results_directory::~results_directory() {
  if (fd_ > 2) ::close(fd_);
}

results_directory::results_directory(std::string dir, const std::map<std::string, std::size_t>& column_names)
    : dir_(std::move(dir)) {
  format_ = ends_with_lower(dir_, ".json")  ? file_format::json
            : ends_with_lower(dir_, ".csv") ? file_format::csv
            : ends_with_lower(dir_, ".tsv") ? file_format::tsv
                                            : file_format::none;
  if (one_file()) {
    names_.resize(column_names.size());
    for (const auto& [name, column] : column_names)
      if (column < names_.size()) names_[column] = name;
    fd_ = dir_ == "-.json" || dir_ == "-.csv" || dir_ == "-.tsv"
              ? STDOUT_FILENO
              : ::open(dir_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) throw usage_error("--results: cannot write '" + dir_ + "': " + std::strerror(errno));
    return;
  }
  command_template path({dir_}, true, column_names, false, false);
  if (path.has_replacement()) {
    path_template_.emplace(std::move(path));
    return;
  }
  std::error_code error;
  if (std::filesystem::exists(dir_, error) && !std::filesystem::is_directory(dir_, error))
    throw usage_error("--results: '" + dir_ + "' exists and is not a directory");
  std::filesystem::create_directories(dir_, error);
  if (error) throw usage_error("--results: cannot make the directory '" + dir_ + "': " + error.message());
  // Making (and removing) a directory in it is the one sure test that jobs' directories can be made.
  std::string probe = dir_ + "/.parmill-results-XXXXXX";
  if (::mkdtemp(probe.data()) == nullptr)
    throw usage_error("--results: cannot make directories in '" + dir_ + "': " + std::strerror(errno));
  ::rmdir(probe.c_str());
  const long longest = ::pathconf(dir_.c_str(), _PC_NAME_MAX);
  longest_name_ = longest > 0 ? static_cast<std::size_t>(longest) : 255;
}

std::string results_directory::directory_name(const std::string& value) const {
  std::string name;
  name.reserve(value.size());
  for (char c : value) {
    switch (c) {
    case '\\': name += "\\\\"; break;
    case '\t': name += "\\t"; break;
    case '/': name += "\\_"; break;
    case '\0': name += "\\0"; break;
    default: name += c;
    }
  }
  if (name.empty() || name == "." || name == "..") name = '\\' + name;
  if (name.size() > longest_name_) name.resize(longest_name_); // GNU parallel cuts it there too
  return name;
}

void results_directory::save_at(const std::string& where, const job_values& job,
                                const process_result& r) const {
  const bool directory = !where.empty() && where.back() == '/';
  const std::filesystem::path path = where;
  const std::filesystem::path parent = directory ? path : path.parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) throw std::runtime_error("--results: cannot make '" + parent.string() + "': " + error.message());
  const std::string seq = std::to_string(job.seq); // no newline, as in GNU parallel
  if (directory) {
    write_file(path / "stdout", r.out);
    write_file(path / "stderr", r.err);
    write_file(path / "seq", seq);
  } else {
    write_file(path, r.out);
    write_file(where + ".err", r.err);
    write_file(where + ".seq", seq);
  }
}

void results_directory::save(const job_values& job, const process_result& r) const {
  if (path_template_) return save_at(path_template_->render_plain(job), job, r);
  std::filesystem::path path = dir_;
  std::size_t column = 0;
  for (const record& rec : job.records)
    for (const std::string& value : rec) {
      path /= std::to_string(++column);
      path /= directory_name(value);
    }
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) throw std::runtime_error("--results: cannot make '" + path.string() + "': " + error.message());
  write_file(path / "stdout", r.out);
  write_file(path / "stderr", r.err);
  write_file(path / "seq", std::to_string(job.seq)); // no newline, as in GNU parallel
}

} // namespace parmill::cli

namespace parmill::cli {

std::string results_directory::csv_row(const std::vector<std::string>& fields) const {
  const char separator = format_ == file_format::tsv ? '\t' : ',';
  std::string row;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) row += separator;
    const std::string& field = fields[i];
    const bool quoted =
        field.find_first_of(std::string(" \t\n\r\f\v\"\0", 8) + separator) != std::string::npos;
    if (!quoted) {
      row += field;
      continue;
    }
    row += '"';
    for (const char c : field)
      row += c == '"' ? std::string("\"\"") : std::string(1, c);
    row += '"';
  }
  return row + "\n";
}

void results_directory::write_record(const std::string& text) {
  std::string_view rest = text;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw std::runtime_error("--results: cannot write '" + dir_ +
                               "': " + std::strerror(n < 0 ? errno : EIO));
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

void results_directory::save_record(const job_values& job, const process_result& r,
                                    const std::string& command, const std::string& host) {
  std::vector<std::string> values;
  for (const record& rec : job.records)
    values.insert(values.end(), rec.begin(), rec.end());
  const std::string start =
      three_decimals(std::chrono::duration<double>(r.started.time_since_epoch()).count());
  const std::string runtime = three_decimals(r.runtime.count());
  std::lock_guard lock(file_mutex_);
  if (format_ == file_format::json) {
    std::string v;
    for (const std::string& value : values)
      v += (v.empty() ? "\"" : ",\"") + json_quoted(value) + "\"";
    write_record("{ \"Seq\": " + std::to_string(job.seq) + ", \"Host\": \"" + json_quoted(host) +
                 "\", \"Starttime\": " + start + ", \"JobRuntime\": " + runtime +
                 ", \"Send\": " + std::to_string(r.sent) + ", \"Receive\": " + std::to_string(r.received) +
                 ", \"Exitval\": " + std::to_string(r.exit_value) +
                 ", \"Signal\": " + std::to_string(r.signal) + ", \"Command\": \"" + json_quoted(command) +
                 "\", \"V\": [ " + v + " ], \"Stdout\": \"" + json_quoted(r.out) + "\", \"Stderr\": \"" +
                 json_quoted(r.err) + "\" }\n");
    return;
  }
  if (!header_written_) { // the value columns are named after the first job's, as in GNU parallel
    std::vector<std::string> header{"Seq",     "Host",    "Starttime", "JobRuntime", "Send",
                                    "Receive", "Exitval", "Signal",    "Command"};
    for (std::size_t i = 0; i < values.size(); ++i)
      header.push_back(i < names_.size() && !names_[i].empty()
                           ? names_[i]
                           : std::string("V").append(std::to_string(i + 1)));
    header.emplace_back("Stdout");
    header.emplace_back("Stderr");
    write_record(csv_row(header));
    header_written_ = true;
  }
  std::vector<std::string> row{std::to_string(job.seq),
                               host,
                               start,
                               runtime,
                               std::to_string(r.sent),
                               std::to_string(r.received),
                               std::to_string(r.exit_value),
                               std::to_string(r.signal),
                               command};
  row.insert(row.end(), values.begin(), values.end());
  row.push_back(r.out);
  row.push_back(r.err);
  write_record(csv_row(row));
}

} // namespace parmill::cli
