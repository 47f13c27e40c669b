// cli/inputs.hpp: the command's jobs, read lazily from its input sources.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "command_template.hpp"
#include "options.hpp"

namespace parmill::cli {

/// One job: what its command is rendered from and, with --pipe, what its standard input gets.
/// Move-only, so that a map moves it (and its block) instead of copying.
struct job {
  job_values values;
  std::string stdin_data;
  /// --pipepart: the bytes [part_begin, part_end) of the file, read by the job's slot after
  /// `stdin_data` (the header), so that a part is never held whole in memory.
  std::uint64_t part_begin = 0, part_end = 0;
  /// The job's place in the order the stream gives jobs (from 0): the map's item index. Kept on
  /// this machine (it does not cross to other ranks under MPI).
  std::size_t position = 0;
  job() = default;
  job(job&&) = default;
  job& operator=(job&&) = default;
  job(const job&) = delete;
  job& operator=(const job&) = delete;
  /// Crosses to other ranks under MPI (parmill/codec.hpp).
  static constexpr auto parmill_fields =
      std::tuple{&job::values, &job::stdin_data, &job::part_begin, &job::part_end};
};

/// Reads one source's values: a list, or the records of a file split at a delimiter.
/// A file that can make a read wait (a pipe, a terminal: anything but a regular file) is waited on
/// with poll() together with `input_stop_fd()` (signals.hpp), so that a stop ends the wait: the
/// source then reads as ended. Every reader of standard input ("-") shares one buffer, so that
/// they read its values in turn. Not thread-safe.
class value_reader {
public:
  /// Opens the source (without waiting for a writer if it is a FIFO). Throws `usage_error` naming
  /// a file that cannot be opened.
  /// `delimiter` (one or more bytes, not empty) ends each value of a file, and splits each value of
  /// a list (as GNU parallel splits `:::` values at `-d`).
  value_reader(const input_source& source, std::string delimiter);
  ~value_reader();
  value_reader(const value_reader&) = delete;
  value_reader& operator=(const value_reader&) = delete;
  /// The next value, or nothing at the end (or once input is stopped). Throws std::runtime_error
  /// naming the file when reading fails.
  std::optional<std::string> next();
  /// Up to `size` bytes of a file source as they are (for --pipe), at least one unless at the end
  /// (or once input is stopped); 0 for a list. Throws as `next` does.
  std::size_t read_raw(char* buffer, std::size_t size);

private:
  struct input_file; // an open file and its read buffer
  static std::shared_ptr<input_file> open_file(const input_source& source);

  const input_source* source_;
  std::string delimiter_;
  std::size_t next_value_ = 0;
  std::size_t next_piece_ = 0;       // where the rest of the list's current value starts
  std::shared_ptr<input_file> file_; // null for a list
};

/// --pipepart: what feeds a job the bytes [begin, end) of the file at `path`, 64 KiB at a time
/// (for spawn_request::stdin_more). The file is opened on the first call; a file that cannot be
/// opened or read ends the job's input early, with a message on standard error.
[[nodiscard]] std::function<bool(std::string&)> file_part_reader(const std::string& path, std::uint64_t begin,
                                                                 std::uint64_t end);

/// The command's template for these options and column names; none when each input is a command.
/// `inputs` say how many inputs a job has, which decides how they are put in (-n, -N, --pipe).
[[nodiscard]] std::optional<command_template> make_command(const template_options& templates,
                                                           const input_options& inputs,
                                                           const std::map<std::string, std::size_t>& names);

/// The most bytes a job's command may have when -X, -m or -n put several inputs in one job, as
/// GNU parallel computes its usable command length: (the longest command this system runs - 3000)
/// / 2, near 63 KB on Linux. The longest command is the smaller of one argument's limit
/// (MAX_ARG_STRLEN, 32 pages: `bash -c` gets the whole command as one argument) and what ARG_MAX
/// leaves after this program's environment, with room for one pointer per argument when the job
/// runs without a shell. A single input longer than this still gets a job of its own.
[[nodiscard]] std::size_t packed_command_limit();

/// Where an input came from, for messages: its source and its number in that source, from 1.
struct input_position {
  const input_source* source = nullptr;
  std::size_t number = 0;
};

/// "input 3 (file 'x')", "input 1 (standard input)", "input 2 (:::)".
[[nodiscard]] std::string describe(const input_position& at);

/// Splits an input into columns at a Perl regular expression, as GNU parallel's --colsep does:
/// Perl's `split /RE/, $input, -1` (captured groups are columns too; a zero-length match at the
/// start makes no empty column), each column trimmed of Perl's whitespace (\s); an empty input
/// is one empty column. The expression and the input are bytes, not UTF-8 (as in GNU parallel's
/// Perl): `.` is one byte, `\xff` the byte 0xff, and no input is invalid. Matched with PCRE2
/// (JIT-compiled where available) under a match limit and a heap limit: no input can exhaust the
/// stack or make a match run for ever; one that reaches a limit is an error naming the input.
/// Not thread-safe (one set of match data).
class column_splitter {
public:
  /// Compiles `pattern`. Throws `usage_error` naming `--colsep`, the pattern and the offset of the
  /// mistake when it is not a regular expression. `trimmed`: whitespace around each column is
  /// removed (GNU parallel trims with --colsep, not with --header's default tab).
  explicit column_splitter(const std::string& pattern, bool trimmed = true);
  ~column_splitter();
  column_splitter(const column_splitter&) = delete;
  column_splitter& operator=(const column_splitter&) = delete;

  /// Appends the columns of `value` to `out`. Throws `std::runtime_error` naming --colsep and
  /// `at` when a match reaches a limit (or fails otherwise).
  void split(std::string_view value, record& out, const input_position& at) const;

private:
  struct compiled;
  std::string pattern_;
  std::unique_ptr<compiled> compiled_;
  bool trimmed_ = true;
};

/// Where --pipe's and --pipepart's records end, as GNU parallel finds them: after --recend, where
/// --recstart follows (literal strings, or Perl regular expressions with --regexp, matched with
/// PCRE2 on bytes under the same limits as --colsep); with neither, after each -d delimiter (a
/// line). Not thread-safe (one set of match data).
class record_finder {
public:
  /// Compiles the separators. Throws `usage_error` naming --recstart/--recend when one is not a
  /// regular expression (with --regexp).
  explicit record_finder(const input_options& inputs);
  ~record_finder();
  record_finder(const record_finder&) = delete;
  record_finder& operator=(const record_finder&) = delete;

  /// The end of the record that starts at `from` in `data`: a position after `from`, or npos when
  /// `data` holds no separator there. A match that `data` cuts off at its end is not seen.
  [[nodiscard]] std::size_t record_end(std::string_view data, std::size_t from) const;
  /// --pipepart's split point at or after the start of `data`, as GNU parallel finds it: the first
  /// separator (the last one in `data` with --regexp), or npos.
  [[nodiscard]] std::size_t part_end(std::string_view data) const;
  /// How many bytes before a place a separator that ends after it can start at most: its length
  /// - 1 for literal separators; npos with --regexp (a match has no bound).
  [[nodiscard]] std::size_t overlap() const;
  /// --remove-rec-sep: takes every separator out of `block`, and --recstart at its start and
  /// --recend at its end.
  void remove_separators(std::string& block) const;

private:
  struct compiled;
  std::string start_, end_; // literal separators (without --regexp)
  std::unique_ptr<compiled> split_, joined_, leading_, trailing_;
};

/// The jobs of a run, in order, as an input range: each source read lazily where the order
/// allows (the first source, or all of them when linked, streams; later sources of a cross
/// product are read once and kept). Not thread-safe; parmill::map reads it under its own lock.
class job_stream {
public:
  /// Opens every source now, so that an unreadable file fails before any job runs. `templates`
  /// measure how many inputs fit in one job (-X, -m, -n, -s); `slots` (-j) spreads them over the job
  /// slots and is how many jobs share blocks with --round-robin. `skip` holds sequence numbers to
  /// leave out (--resume); `stop` ends the stream early. The options must outlive the stream.
  job_stream(const input_options& inputs, const template_options& templates, std::size_t slots,
             std::set<std::size_t> skip, const std::atomic<bool>* stop);
  /// The stream of a command line's options (their inputs, templates and -j).
  job_stream(const options& o, std::set<std::size_t> skip, const std::atomic<bool>* stop)
      : job_stream(o, o, o.jobs, std::move(skip), stop) {}
  ~job_stream();
  job_stream(const job_stream&) = delete;
  job_stream& operator=(const job_stream&) = delete;

  /// Column names from --header (empty without it).
  [[nodiscard]] const std::map<std::string, std::size_t>& column_names() const noexcept { return names_; }

  /// Reads every job now (for --shuf, progress totals and -X/-m spreading); returns how many.
  std::size_t read_all();

  /// The next job, or nothing at the end.
  std::optional<job> next();

  /// --pipe --round-robin: the next block for a job that is running, into `block`; false at the
  /// end of the input (or once it is stopped). With --round-robin, the stream has at most -j jobs,
  /// each given its first block, and those jobs take the others as they need them. Thread-safe
  /// with `next` (the only case where the stream is).
  bool next_shared_block(std::string& block);
  /// True when jobs take more blocks with `next_shared_block`.
  [[nodiscard]] bool shares_blocks() const noexcept {
    return inputs_.round_robin && inputs_.pipe && !inputs_.pipe_part;
  }

  struct iterator {
    using value_type = job;
    using difference_type = std::ptrdiff_t;
    job_stream* stream = nullptr;
    job& operator*() const { return *stream->current_; }
    iterator& operator++() {
      stream->current_ = stream->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    bool operator==(std::default_sentinel_t) const { return !stream->current_.has_value(); }
  };
  iterator begin() {
    current_ = next();
    return iterator{this};
  }
  std::default_sentinel_t end() const { return {}; }

private:
  /// A source's reader, and how many values it has given (for messages).
  struct numbered_reader {
    std::unique_ptr<value_reader> reader;
    input_position at;
  };
  numbered_reader open_reader(const input_source& source) const;
  // The constructor's steps: what the sources give, then how many inputs a job takes.
  void open_pipe(const input_source& source);
  void read_linked_sources(const std::vector<const input_source*>& sources);
  void count_linked_rows(); // --link: the longest source's length, or 0 when one is empty
  void open_cross_product(const std::vector<const input_source*>& sources);
  std::vector<record> read_group(std::vector<numbered_reader>& group); // until its shortest source ends
  void take_column_names();                                            // --header
  void plan_inputs_per_job();                                          // -n, -N, -X, -m, -s
  std::optional<std::string> read_value(numbered_reader& r);
  std::string without_nul(std::string value, const input_position& at);
  std::optional<record> next_record();
  std::optional<record> read_record();
  std::optional<record> next_raw_record();
  std::optional<job> next_job();
  std::optional<job> next_pipe_block();
  void split_columns(std::string_view value, record& out, const input_position& at) const;
  command_template::size_bound first_command_size(const record& first) const;
  void add_input_size(command_template::size_bound& bound, const record& input) const;
  bool empty_record(const record& r) const;

  const input_options& inputs_;
  const template_options& templates_;
  std::size_t slots_;                      // -j
  std::vector<numbered_reader> streaming_; // read together, in lockstep
  std::vector<std::vector<record>> fixed_; // later groups of a cross product, read once
  std::vector<std::size_t> odometer_;
  std::optional<record> outer_;
  bool wrap_ = false; // --link: all sources kept, shorter ones wrap
  std::vector<std::vector<std::string>> linked_values_;
  std::vector<const input_source*> linked_sources_;
  std::size_t linked_row_ = 0, linked_rows_ = 0;
  std::unique_ptr<column_splitter> colsep_;
  std::optional<command_template> command_; // -X/-m/-n: measures what fits in one job
  std::size_t command_limit_ = 0;
  bool warned_nul_ = false;
  std::map<std::string, std::size_t> names_;
  std::string header_line_;            // --pipe --header: prepended to each block
  std::size_t pipe_blank_checked_ = 0; // --pipe -r: the lines of pipe_buffer_ before this are not blank
  std::set<std::size_t> skip_;
  const std::atomic<bool>* stop_;
  std::size_t seq_ = 0;
  std::size_t per_job_ = 1;       // inputs per job
  bool pack_ = false;             // -X/-m: as many as fit
  std::optional<record> pending_; // read, but did not fit in the previous job
  std::vector<record> lookahead_;
  std::size_t lookahead_pos_ = 0;
  bool ended_ = false;
  std::optional<std::vector<job>> all_;
  std::size_t all_pos_ = 0;
  std::size_t given_ = 0; ///< jobs given by next(): the next job's position
  std::string pipe_buffer_;
  bool pipe_eof_ = false;
  std::unique_ptr<record_finder> records_; // --pipe and --pipepart
  // --pipepart: the file, its size, where the next part starts and where GNU's search goes on.
  int part_fd_ = -1;
  std::size_t part_size_ = 0, part_start_ = 0, part_search_ = 0, part_block_ = 0;
  void open_part(const input_source& source);
  std::optional<job> next_part();
  std::size_t next_part_end();
  std::string read_part(std::size_t begin, std::size_t end) const;
  std::size_t cut_pipe_buffer() const;
  std::optional<job> next_in_order();
  std::mutex shared_blocks_mutex_; // --round-robin: next() and next_shared_block()
  std::size_t shared_jobs_ = 0;    // --round-robin: jobs started
  /// -s/--max-chars: throws when the job's command is not shorter than the limit, as GNU parallel
  /// stops there (the jobs before it run).
  void check_max_chars(const job_values& values) const;
  /// -s: the exact length of the command of `records` and `added`, where the bound says too long.
  std::size_t exact_size(const std::vector<record>& records, const record& added) const;
  std::optional<job> current_;
};

} // namespace parmill::cli
