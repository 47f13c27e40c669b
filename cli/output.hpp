// cli/output.hpp: writes jobs' output to parmill's standard output and error, whole or by line,
// tagged or not, and saves it under --results.
#pragma once

#include <atomic>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "command_template.hpp"
#include "job_runner.hpp"
#include "parmill/progress.hpp"

namespace parmill::cli {

/// Thread-safe writer: each call's text reaches the file in one piece, never mixed with another's.
/// While a progress bar is attached, the text goes above it (progress_bar::write_above): on a
/// terminal the bar's line is cleared first and the bar drawn again below, so that no output lands
/// on the bar's line; off a terminal the bytes are exactly what they are without a bar.
class output_writer {
public:
  /// Writes everything above `bar` from now on, until `detach_bar()`. The bar draws on standard
  /// error; standard output counts as its terminal when it is the same terminal device.
  void attach_bar(progress_bar& bar);
  /// Writes as if there were no bar, from now on: call it before the bar is finished or destroyed.
  void detach_bar();
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
  /// One piece of text and the descriptor it goes to.
  using piece = std::pair<int, std::string_view>;
  /// Writes `pieces` in order, above the bar if one is attached. Under mutex_.
  void write_pieces(std::initializer_list<piece> pieces);
  void write_all(int fd, std::string_view text);
  std::mutex mutex_;
  std::atomic<bool> broken_{false};
  progress_bar* bar_ = nullptr;         // guarded by mutex_
  bool stdout_on_bar_terminal_ = false; // standard output shows on the bar's terminal
};

/// Prefixes every line of `text` with `tag` and a tab.
[[nodiscard]] std::string tag_lines(std::string_view text, const std::string& tag);

/// --results DIR: where each job's output is saved, as GNU parallel 20221122 saves it:
/// DIR/1/<value>/2/<value>/.../{stdout,stderr,seq}, one level per input column. In a value, `\`,
/// a tab and `/` become `\\`, `\t` and `\_`; an empty value, `.` and `..` get a `\` in front; a
/// name longer than the file system allows (255 bytes on most) is cut there, as GNU parallel cuts it
/// (so two long values that differ only after the cut share a directory, as in GNU parallel).
///
/// When DIR holds a replacement string (`--results out/{1}/{#}`), it names each job's files
/// instead, as in GNU parallel: DIR rendered (values as they are), and DIR.err and DIR.seq; or,
/// when it ends in `/`, DIR/stdout, DIR/stderr and DIR/seq. Their directories are made as jobs end.
class results_directory {
public:
  /// Creates DIR (and its parents) and checks that directories can be made in it. Throws
  /// `usage_error` naming DIR and the reason when they cannot (a file in the way, no permission, a
  /// read-only file system). `column_names` (from --header) are the names DIR may use as `{name}`.
  explicit results_directory(std::string dir, const std::map<std::string, std::size_t>& column_names = {});
  ~results_directory();
  results_directory(const results_directory&) = delete;
  results_directory& operator=(const results_directory&) = delete;
  /// Saves one job's output. Thread-safe (jobs save in parallel). Throws std::runtime_error naming
  /// what could not be created or written (a save that fails is the job's failure).
  void save(const job_values& job, const process_result& r) const;
  /// The directory name `value` gets: quoted, and cut to the longest name the file system allows.
  [[nodiscard]] std::string directory_name(const std::string& value) const;

  /// True when DIR ends in `.json`, `.csv` or `.tsv`: the results go to that one file (`-.csv`
  /// and the like: to standard output, and jobs' output is not printed), as GNU parallel writes
  /// them: for JSON one object per job per line; for CSV/TSV a header line (Seq Host Starttime
  /// JobRuntime Send Receive Exitval Signal Command, V1..Vn or the --header names, Stdout Stderr),
  /// then a row per job, a field quoted (`"` doubled) when it holds the separator, whitespace, a
  /// quote or a NUL. Records are written in the order `save_record` is called.
  [[nodiscard]] bool one_file() const noexcept { return format_ != file_format::none; }
  /// Writes a job's record to the one file. Thread-safe. Throws std::runtime_error naming the file.
  void save_record(const job_values& job, const process_result& r, const std::string& command,
                   const std::string& host);

private:
  /// Saves a job's output where the rendered `path_template_` says.
  void save_at(const std::string& where, const job_values& job, const process_result& r) const;

  enum class file_format { none, json, csv, tsv };
  [[nodiscard]] std::string csv_row(const std::vector<std::string>& fields) const;
  void write_record(const std::string& text);

  std::string dir_;
  file_format format_ = file_format::none;
  int fd_ = -1;                    ///< the one file, when one_file()
  bool header_written_ = false;    ///< CSV/TSV
  std::vector<std::string> names_; ///< --header's column names, in order
  std::mutex file_mutex_;
  std::size_t longest_name_ = 255;
  std::optional<command_template> path_template_; ///< DIR, when it holds a replacement string
};

} // namespace parmill::cli
