// cli/inputs.cpp: sources, cross products and links, columns, headers, grouping and --pipe blocks.
#include "inputs.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <poll.h>
#include <stdexcept>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "signals.hpp"

extern char** environ;

namespace parmill::cli {
namespace {

constexpr std::size_t spread_lookahead = 65536; // -X/-m: inputs read ahead to spread them evenly
constexpr std::size_t pipe_read_bytes = 64 * 1024;
constexpr std::size_t read_buffer_bytes = 64 * 1024; // one read() (and, on a pipe, one poll()) per refill

/// --colsep's limits: a match that needs more gives up with an error instead of running for ever.
constexpr std::uint32_t colsep_match_limit = 10'000'000; // PCRE2's own default, made explicit
constexpr std::uint32_t colsep_heap_limit_kib = 64 * 1024;
constexpr std::size_t colsep_jit_stack_bytes = 1024 * 1024;

/// `s` without the whitespace Perl's \s matches at either end (GNU parallel's --trim lr).
std::string_view trim(std::string_view s) {
  constexpr std::string_view perl_space = " \t\n\r\f\v";
  const auto first = s.find_first_not_of(perl_space);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(perl_space);
  return s.substr(first, last - first + 1);
}

/// PCRE2's text for `error`.
std::string pcre2_message(int error) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(error, buffer, sizeof buffer) < 0) return "error " + std::to_string(error);
  return reinterpret_cast<const char*>(buffer);
}

/// At most 40 bytes of `value`, printable, for a message.
std::string excerpt(std::string_view value) {
  std::string out;
  for (unsigned char c : value.substr(0, 40))
    out += (c >= 0x20 && c < 0x7f) ? std::string(1, static_cast<char>(c)) : "?";
  return value.size() > 40 ? out + "..." : out;
}

} // namespace

std::string describe(const input_position& at) {
  std::string where = "input " + std::to_string(at.number);
  if (at.source == nullptr) return where;
  if (at.source->from == input_source::kind::values) return where + " (:::)";
  if (at.source->path == "-") return where + " (standard input)";
  return where + " (file '" + at.source->path + "')";
}

// --- --colsep --------------------------------------------------------------------------------------

/// The compiled expression and what matching it needs; freed with it.
struct column_splitter::compiled {
  pcre2_code* code = nullptr;
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  std::uint32_t groups = 0;
  ~compiled() {
    pcre2_jit_stack_free(jit_stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
    pcre2_code_free(code);
  }
};

column_splitter::column_splitter(const std::string& pattern, bool trimmed)
    : pattern_(pattern), compiled_(std::make_unique<compiled>()), trimmed_(trimmed) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  // No PCRE2_UTF: bytes, as GNU parallel's Perl reads them; Perl's syntax is PCRE2's default.
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error,
                                  &offset, nullptr);
  if (compiled_->code == nullptr)
    throw usage_error("--colsep '" + pattern + "' is not a regular expression: " + pcre2_message(error) +
                      " (at offset " + std::to_string(offset) + ")");
  pcre2_pattern_info(compiled_->code, PCRE2_INFO_CAPTURECOUNT, &compiled_->groups);
  compiled_->data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  compiled_->context = pcre2_match_context_create(nullptr);
  if (compiled_->data == nullptr || compiled_->context == nullptr) throw std::bad_alloc();
  pcre2_set_match_limit(compiled_->context, colsep_match_limit);
  pcre2_set_heap_limit(compiled_->context, colsep_heap_limit_kib);
  if (pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0) {
    compiled_->jit_stack = pcre2_jit_stack_create(32 * 1024, colsep_jit_stack_bytes, nullptr);
    if (compiled_->jit_stack != nullptr)
      pcre2_jit_stack_assign(compiled_->context, nullptr, compiled_->jit_stack);
  }
}

column_splitter::~column_splitter() = default;

void column_splitter::split(std::string_view value, record& out, const input_position& at) const {
  if (value.empty()) {
    out.emplace_back();
    return;
  }
  const auto subject = reinterpret_cast<PCRE2_SPTR>(value.data());
  const auto column = [this](std::string_view text) { return trimmed_ ? trim(text) : text; };
  std::size_t column_start = 0;
  for (;;) {
    // Perl's split: no match may be empty where the last one ended (nor at the very start).
    int found = pcre2_match(compiled_->code, subject, value.size(), column_start, PCRE2_NOTEMPTY_ATSTART,
                            compiled_->data, compiled_->context);
    if (found == PCRE2_ERROR_JIT_STACKLIMIT) // the interpreter keeps its frames on the heap
      found = pcre2_match(compiled_->code, subject, value.size(), column_start,
                          PCRE2_NOTEMPTY_ATSTART | PCRE2_NO_JIT, compiled_->data, compiled_->context);
    if (found == PCRE2_ERROR_NOMATCH) break;
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(compiled_->data);
    if (found < 0 || span[0] < column_start || span[0] > span[1])
      throw std::runtime_error("--colsep '" + pattern_ + "': cannot split " + describe(at) + " ('" +
                               excerpt(value) +
                               "'): " + (found < 0 ? pcre2_message(found) : "\\K moved the match's start"));
    out.emplace_back(column(value.substr(column_start, span[0] - column_start)));
    for (std::uint32_t g = 1; g <= compiled_->groups; ++g) { // captured separators are columns too
      const bool set = g < static_cast<std::uint32_t>(found) && span[2 * g] != PCRE2_UNSET;
      out.emplace_back(set ? column(value.substr(span[2 * g], span[2 * g + 1] - span[2 * g])) : "");
    }
    column_start = span[1];
  }
  out.emplace_back(column(value.substr(column_start)));
}

// --- --recstart / --recend -------------------------------------------------------------------------

/// A compiled separator expression and what matching it needs; freed with it.
struct record_finder::compiled {
  pcre2_code* code = nullptr;
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  compiled(const std::string& pattern, const std::string& option, const std::string& given) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), 0, &error, &offset,
                         nullptr);
    if (code == nullptr)
      throw usage_error(option + " '" + given + "' is not a regular expression: " + pcre2_message(error));
    data = pcre2_match_data_create_from_pattern(code, nullptr);
    context = pcre2_match_context_create(nullptr);
    if (data == nullptr || context == nullptr) throw std::bad_alloc();
    pcre2_set_match_limit(context, colsep_match_limit);
    pcre2_set_heap_limit(context, colsep_heap_limit_kib);
  }
  ~compiled() {
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
    pcre2_code_free(code);
  }
  compiled(const compiled&) = delete;
  compiled& operator=(const compiled&) = delete;

  /// The span of the first match at or after `from`, or nothing. Throws when a limit is reached.
  std::optional<std::pair<std::size_t, std::size_t>> find(std::string_view subject, std::size_t from) const {
    const int found = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), from, 0,
                                  data, context);
    if (found == PCRE2_ERROR_NOMATCH) return std::nullopt;
    if (found < 0) throw std::runtime_error("--recstart/--recend: cannot match: " + pcre2_message(found));
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(data);
    return std::pair<std::size_t, std::size_t>{span[0], span[1]};
  }

  /// `subject` with its first match (every match when `global`) taken out.
  std::string remove(const std::string& subject, bool global) const {
    std::string out;
    std::size_t at = 0, copied = 0;
    while (at <= subject.size()) {
      const auto match = find(subject, at);
      if (!match) break;
      out.append(subject, copied, match->first - copied);
      copied = match->second;
      at = match->second > match->first ? match->second : match->second + 1;
      if (!global) break;
    }
    out.append(subject, std::min(copied, subject.size()));
    return out;
  }
};

record_finder::record_finder(const input_options& inputs) {
  const record_separators& r = inputs.records;
  if (inputs.max_lines &&
      !inputs.pipe_part) { // --pipe -L N: records of N lines, whatever --recend says (GNU)
    end_ = "\n";
    return;
  }
  if (!r.regexp) {
    start_ = r.start.value_or("");
    end_ = r.end ? *r.end : r.start ? "" : std::string(1, inputs.delimiter);
    return;
  }
  // As GNU parallel: each one grouped, and an empty --recend alone matches any one byte.
  const std::string start = "(?:" + r.start.value_or("") + ")";
  std::string end_pattern = r.start ? "" : "\\n"; // neither given: a line
  if (r.end) end_pattern = r.end->empty() && !r.start ? "(?s:.)" : *r.end;
  const std::string end = "(?:" + end_pattern + ")";
  const auto check = [&](const std::optional<std::string>& given, const char* option) {
    if (given) compiled("(?:" + *given + ")", option, *given);
  };
  check(r.start, "--recstart");
  check(r.end, "--recend");
  split_ = std::make_unique<compiled>(end + "(?=" + start + ")", "--recend", end);
  joined_ = std::make_unique<compiled>(end + start, "--recend", end);
  leading_ = std::make_unique<compiled>("^" + start, "--recstart", start);
  trailing_ = std::make_unique<compiled>(end + "$", "--recend", end);
}

record_finder::~record_finder() = default;

std::size_t record_finder::record_end(std::string_view data, std::size_t from) const {
  if (from >= data.size()) return std::string_view::npos;
  if (split_) {
    for (std::size_t at = from; at <= data.size();) {
      const auto match = split_->find(data, at);
      if (!match) return std::string_view::npos;
      if (match->second > from) return match->second;
      at = match->first + 1;
    }
    return std::string_view::npos;
  }
  if (start_.empty() && end_.empty()) return from + 1; // records end anywhere
  // As GNU parallel's nindex: a separator is looked for from the record's second byte on.
  const std::string separator = end_ + start_;
  for (std::size_t at = from + 1;;) {
    const auto found = data.find(separator, at);
    if (found == std::string_view::npos) return found;
    if (found + end_.size() > from) return found + end_.size();
    at = found + 1;
  }
}

std::size_t record_finder::part_end(std::string_view data) const {
  if (!split_) {
    const auto found = data.find(end_ + start_);
    return found == std::string_view::npos ? found : found + end_.size();
  }
  // GNU parallel matches /^(.*$recend)$recstart/s: the last separator in what it has read.
  std::size_t last = std::string_view::npos;
  for (std::size_t at = 0; at <= data.size();) {
    const auto match = split_->find(data, at);
    if (!match) break;
    last = match->second;
    at = match->first + 1;
  }
  return last;
}

std::size_t record_finder::overlap() const {
  if (split_) return std::string::npos;
  const std::size_t length = end_.size() + start_.size();
  return length > 0 ? length - 1 : 0;
}

void record_finder::remove_separators(std::string& block) const {
  if (split_) {
    block = joined_->remove(block, true);
    block = leading_->remove(block, false);
    block = trailing_->remove(block, false);
    return;
  }
  const std::string separator = end_ + start_;
  if (!separator.empty()) {
    std::string out;
    std::size_t at = 0;
    for (auto found = block.find(separator); found != std::string::npos; found = block.find(separator, at)) {
      out.append(block, at, found - at);
      at = found + separator.size();
    }
    out.append(block, at);
    block = std::move(out);
  }
  if (!start_.empty() && block.compare(0, start_.size(), start_) == 0) block.erase(0, start_.size());
  if (end_.empty()) return;
  // Perl's $: at the end, or before a newline that ends the block.
  if (block.size() >= end_.size() && block.compare(block.size() - end_.size(), end_.size(), end_) == 0)
    block.erase(block.size() - end_.size());
  else if (block.size() > end_.size() && block.back() == '\n' &&
           block.compare(block.size() - 1 - end_.size(), end_.size(), end_) == 0)
    block.erase(block.size() - 1 - end_.size(), end_.size());
}

// --- -X / -m / -n ----------------------------------------------------------------------------------

std::optional<command_template> make_command(const template_options& templates, const input_options& inputs,
                                             const std::map<std::string, std::size_t>& names) {
  if (templates.command.empty()) return std::nullopt;
  const bool no_arguments = inputs.exact_args && *inputs.exact_args == 0;
  // Several inputs in one word are joined (-m, and -n without -X) or the word is repeated (-X, -N).
  const bool join =
      templates.multiple_args || (inputs.max_args > 0 && !templates.context_replace && !inputs.exact_args);
  command_template command(templates.command, templates.quote, names, !inputs.pipe && !no_arguments, join,
                           templates.names, templates.plus);
  if (templates.context_replace || (inputs.exact_args && *inputs.exact_args > 0))
    command.repeat_for_each_value(); // as GNU
  return command;
}

std::size_t packed_command_limit() {
  const long page = sysconf(_SC_PAGESIZE);
  const std::size_t one_argument = 32 * static_cast<std::size_t>(page > 0 ? page : 4096) - 1;
  const long arg_max = sysconf(_SC_ARG_MAX);
  std::size_t environment = 0;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    environment += std::strlen(*e) + 1 + sizeof(char*);
  // The job's own variables (PARALLEL_SEQ, PARALLEL_JOBSLOT), the shell's path and -c: 4 KiB.
  const std::size_t reserved = environment + 4096;
  const std::size_t total = arg_max > 0 && static_cast<std::size_t>(arg_max) > reserved
                                ? static_cast<std::size_t>(arg_max) - reserved
                                : 0;
  // Without a shell, each argument (at least 2 bytes of the command) also takes a pointer.
  const std::size_t longest = std::min(one_argument, total / (1 + sizeof(char*) / 2));
  return longest > 3000 + 2 * 1024 ? (longest - 3000) / 2 : 1024;
}

namespace {

/// Says once, on standard error, that inputs are read from a terminal, when `fd` is one and so
/// is standard error (as GNU parallel warns): `parmill echo` typed alone does not wait silently.
void warn_if_terminal(int fd) {
  static std::atomic<bool> warned{false};
  if (::isatty(fd) != 1 || ::isatty(2) != 1 || warned.exchange(true)) return;
  constexpr std::string_view warning =
      "parmill: Warning: reading inputs from the terminal (end with Ctrl-D; did you forget ::: or a pipe?)\n";
  (void)!::write(2, warning.data(), warning.size());
}

} // namespace

/// An open input file and what has been read from it but not yet taken.
struct value_reader::input_file {
  int fd = -1;
  bool owned = false;    // closed with this object (not standard input)
  bool may_block = true; // a read can wait: poll() first, with input_stop_fd()
  bool ended = false;    // end of file, or input stopped
  std::unique_ptr<char[]> buffer = std::make_unique_for_overwrite<char[]>(read_buffer_bytes);
  std::size_t begin = 0, end = 0; // the bytes of `buffer` not yet taken

  input_file(int descriptor, bool owns) : fd(descriptor), owned(owns) {
    struct stat info {};
    may_block = ::fstat(fd, &info) != 0 || !(S_ISREG(info.st_mode) || S_ISBLK(info.st_mode));
  }
  ~input_file() {
    if (owned) ::close(fd);
  }
  input_file(const input_file&) = delete;
  input_file& operator=(const input_file&) = delete;

  /// Reads up to `size` bytes into `into`: at least one, or 0 at the end or once input is stopped.
  std::size_t read_some(char* into, std::size_t size, const std::string& path) {
    while (!ended && !input_stopped()) {
      if (may_block && !wait_for_input()) break;
      const ssize_t n = ::read(fd, into, size);
      if (n > 0) return static_cast<std::size_t>(n);
      if (n == 0) break;
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { // a non-blocking descriptor, as it was given to parmill
        may_block = true;
        continue;
      }
      throw std::runtime_error("cannot read input file '" + path + "': " + std::strerror(errno));
    }
    ended = true;
    return 0;
  }

  /// Waits until the file can be read (or has ended); false once input is stopped.
  [[nodiscard]] bool wait_for_input() const {
    pollfd fds[2] = {{fd, POLLIN, 0}, {input_stop_fd(), POLLIN, 0}};
    const nfds_t count = fds[1].fd >= 0 ? 2 : 1;
    for (;;) {
      if (::poll(fds, count, -1) < 0) {
        if (errno == EINTR) continue;
        return true; // read() says what is wrong
      }
      if (count == 2 && fds[1].revents != 0) return false;
      if (fds[0].revents != 0) return true;
    }
  }
};

std::shared_ptr<value_reader::input_file> value_reader::open_file(const input_source& source) {
  if (source.path == "-") {
    static std::weak_ptr<input_file> standard_input; // shared by every reader of "-"
    if (auto shared = standard_input.lock()) return shared;
    auto made = std::make_shared<input_file>(0, false);
    standard_input = made;
    warn_if_terminal(0);
    return made;
  }
  // O_NONBLOCK: a FIFO opens without waiting for a writer (poll() then waits, and can be stopped).
  const int fd = ::open(source.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw usage_error("cannot open input file '" + source.path + "': " + std::strerror(errno));
  warn_if_terminal(fd);
  return std::make_shared<input_file>(fd, true);
}

value_reader::value_reader(const input_source& source, std::string delimiter)
    : source_(&source), delimiter_(std::move(delimiter)) {
  if (delimiter_.empty()) delimiter_ = "\n";
  if (source.from == input_source::kind::file) file_ = open_file(source);
}

value_reader::~value_reader() = default;

std::optional<std::string> value_reader::next() {
  if (!file_) { // a list: each value split at the delimiter, as GNU parallel splits ::: values
    if (next_value_ >= source_->values.size()) return std::nullopt;
    const std::string& value = source_->values[next_value_];
    const auto end = value.find(delimiter_, next_piece_);
    std::string piece =
        value.substr(next_piece_, end == std::string::npos ? std::string::npos : end - next_piece_);
    if (end == std::string::npos) {
      ++next_value_;
      next_piece_ = 0;
    } else {
      next_piece_ = end + delimiter_.size();
    }
    return piece;
  }
  input_file& f = *file_;
  std::string value;
  bool partial = false; // bytes of a value not yet ended by a delimiter
  for (;;) {
    const std::string_view available(f.buffer.get() + f.begin, f.end - f.begin);
    if (const auto found = available.find(delimiter_); found != std::string_view::npos) {
      value.append(available.substr(0, found));
      f.begin += found + delimiter_.size();
      return value;
    }
    // The last bytes may begin a delimiter that the next read completes: they stay in the buffer.
    const std::size_t kept = std::min(available.size(), delimiter_.size() - 1);
    value.append(available.substr(0, available.size() - kept));
    partial = partial || !available.empty();
    std::memmove(f.buffer.get(), available.data() + available.size() - kept, kept);
    f.begin = 0;
    f.end = kept;
    const std::size_t n = f.read_some(f.buffer.get() + kept, read_buffer_bytes - kept, source_->path);
    if (n == 0) {
      value.append(f.buffer.get(), kept);
      f.begin = f.end = 0;
      return partial ? std::optional<std::string>(std::move(value)) : std::nullopt;
    }
    f.end = kept + n;
  }
}

std::size_t value_reader::read_raw(char* buffer, std::size_t size) {
  if (!file_) return 0;
  input_file& f = *file_;
  if (f.begin < f.end) { // what reading values (the --header line) left in the buffer comes first
    const std::size_t n = std::min(size, f.end - f.begin);
    std::memcpy(buffer, f.buffer.get() + f.begin, n);
    f.begin += n;
    return n;
  }
  return f.read_some(buffer, size, source_->path);
}

job_stream::job_stream(const input_options& inputs, const template_options& templates, std::size_t slots,
                       std::set<std::size_t> skip, const std::atomic<bool>* stop)
    : inputs_(inputs), templates_(templates), slots_(slots), skip_(std::move(skip)), stop_(stop) {
  if (inputs.colsep)
    colsep_ = std::make_unique<column_splitter>(*inputs.colsep);
  else if (inputs.header)
    colsep_ = std::make_unique<column_splitter>("\t", false); // GNU parallel trims only with --colsep
  static const input_source standard_input{
      .from = input_source::kind::file, .values = {}, .path = "-", .linked = false};
  std::vector<const input_source*> sources;
  for (const input_source& s : inputs.sources)
    sources.push_back(&s);
  if (sources.empty()) sources.push_back(&standard_input);
  if (inputs.pipe) {
    open_pipe(*sources[0]);
    return;
  }
  if (inputs.link)
    read_linked_sources(sources);
  else
    open_cross_product(sources);
  if (inputs.header) take_column_names();
  plan_inputs_per_job();
}

void job_stream::open_pipe(const input_source& source) {
  records_ = std::make_unique<record_finder>(inputs_);
  if (inputs_.pipe_part) {
    open_part(source);
    return;
  }
  streaming_.push_back(open_reader(source));
  if (inputs_.header)
    if (auto line = streaming_[0].reader->next())
      header_line_ = *line + (inputs_.delimiter_text.empty() ? std::string(1, inputs_.delimiter)
                                                             : inputs_.delimiter_text);
}

void job_stream::read_linked_sources(const std::vector<const input_source*>& sources) {
  wrap_ = true;
  for (const input_source* s : sources) {
    numbered_reader reader = open_reader(*s);
    std::vector<std::string> values;
    while (auto v = read_value(reader))
      values.push_back(std::move(*v));
    linked_values_.push_back(std::move(values));
    linked_sources_.push_back(s);
  }
  count_linked_rows();
}

void job_stream::count_linked_rows() {
  linked_rows_ = 0;
  for (const auto& values : linked_values_)
    linked_rows_ = std::max(linked_rows_, values.size());
  if (std::any_of(linked_values_.begin(), linked_values_.end(), [](const auto& v) { return v.empty(); }))
    linked_rows_ = 0;
}

void job_stream::open_cross_product(const std::vector<const input_source*>& sources) {
  // Group 0 (the first source and those linked to it) streams; each later group is read now.
  std::size_t i = 0;
  do
    streaming_.push_back(open_reader(*sources[i++]));
  while (i < sources.size() && sources[i]->linked);
  while (i < sources.size()) {
    std::vector<numbered_reader> group;
    do
      group.push_back(open_reader(*sources[i++]));
    while (i < sources.size() && sources[i]->linked);
    fixed_.push_back(read_group(group));
  }
  odometer_.assign(fixed_.size(), 0);
}

std::vector<record> job_stream::read_group(std::vector<numbered_reader>& group) {
  std::vector<record> rows;
  for (;;) {
    record row;
    for (auto& reader : group) {
      auto v = read_value(reader);
      if (!v) return rows; // the shortest source of the group has ended
      split_columns(*v, row, reader.at);
    }
    rows.push_back(std::move(row));
  }
}

void job_stream::take_column_names() {
  // The first value of every source names its columns.
  record names;
  if (wrap_) {
    for (std::size_t s = 0; s < linked_values_.size(); ++s) {
      auto& values = linked_values_[s];
      if (!values.empty()) {
        split_columns(values.front(), names, input_position{linked_sources_[s], 1});
        values.erase(values.begin());
      }
    }
    count_linked_rows();
  } else {
    for (auto& reader : streaming_)
      if (auto v = read_value(reader)) split_columns(*v, names, reader.at);
    for (auto& rows : fixed_)
      if (!rows.empty()) {
        names.insert(names.end(), rows.front().begin(), rows.front().end());
        rows.erase(rows.begin());
      }
  }
  for (std::size_t c = 0; c < names.size(); ++c) // "a\r" names {a}: CR-LF input, as in GNU parallel
    names_.emplace(trim(names[c]), c);
}

void job_stream::plan_inputs_per_job() {
  const input_options& o = inputs_;
  if (o.exact_args)
    per_job_ = std::max<std::size_t>(1, *o.exact_args);
  else if (o.max_args)
    per_job_ = o.max_args;
  pack_ = (templates_.context_replace || templates_.multiple_args) && !o.exact_args;
  if (pack_ && !o.max_args) per_job_ = 0; // decided from the look-ahead
  if (!o.exact_args && (pack_ || per_job_ > 1)) {
    command_ = make_command(templates_, inputs_, names_);
    command_limit_ = packed_command_limit();
    // -s N: a command shorter than N bytes, as GNU parallel counts (the text `sh -c` gets).
    if (o.max_chars) command_limit_ = std::min(command_limit_, *o.max_chars - 1);
  }
  if (o.max_chars && !command_) command_ = make_command(templates_, inputs_, names_);
}

job_stream::~job_stream() {
  if (part_fd_ >= 0) ::close(part_fd_);
}

void job_stream::open_part(const input_source& source) {
  part_fd_ = ::open(source.path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat info {};
  if (part_fd_ < 0 || ::fstat(part_fd_, &info) != 0)
    throw usage_error("--pipepart: cannot open input file '" + source.path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    throw usage_error("--pipepart only works on seekable files, not streams or pipes: '" + source.path +
                      "' is not a regular file");
  part_size_ = static_cast<std::size_t>(info.st_size);
  if (inputs_.header) { // the first line, given to every part
    const std::string head = read_part(0, std::min<std::size_t>(part_size_, inputs_.block_bytes));
    const auto newline = head.find('\n');
    if (newline != std::string::npos) header_line_ = head.substr(0, newline + 1);
  }
  part_start_ = header_line_.size();
  // GNU parallel: --block -N is N blocks per job slot, of 1 + size / slots / N bytes.
  part_block_ = inputs_.blocks_per_slot > 0
                    ? 1 + part_size_ / std::max<std::size_t>(1, slots_) / inputs_.blocks_per_slot
                    : inputs_.block_bytes;
  part_search_ = part_start_ + part_block_;
}

std::string job_stream::read_part(std::size_t begin, std::size_t end) const {
  std::string data(end - begin, '\0');
  std::size_t got = 0;
  while (got < data.size()) {
    const ssize_t n =
        ::pread(part_fd_, data.data() + got, data.size() - got, static_cast<off_t>(begin + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw std::runtime_error(std::string("--pipepart: cannot read the input file: ") +
                               std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

/// Where the part that starts at part_start_ ends, as GNU parallel's find_split_positions: from
/// each multiple of the block size on, the first separator (read 128 KiB at a time).
std::size_t job_stream::next_part_end() {
  constexpr std::size_t read_bytes = 131072;
  const std::size_t keep = records_->overlap();
  while (part_search_ < part_size_) {
    const std::size_t search = part_search_;
    part_search_ += part_block_;
    std::string data;            // read from `offset` on
    std::size_t offset = search; // a literal separator needs only its length - 1 bytes of the past
    for (std::size_t at = search; at < part_size_; at += read_bytes) {
      data += read_part(at, std::min(part_size_, at + read_bytes));
      const auto end = records_->part_end(data);
      if (end != std::string::npos) {
        part_search_ = offset + end + part_block_;
        return offset + end;
      }
      if (keep != std::string::npos && data.size() > keep) {
        offset += data.size() - keep;
        data.erase(0, data.size() - keep);
      }
    }
    break; // no separator up to the end: none from any later place either
  }
  part_search_ = part_size_;
  return part_size_;
}

std::optional<job> job_stream::next_part() {
  for (;;) {
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) return std::nullopt;
    if (part_start_ >= part_size_) return std::nullopt; // an empty file (or only a header): no job
    const std::size_t begin = part_start_;
    const std::size_t end = next_part_end();
    part_start_ = end;
    job j;
    if (inputs_.records.remove) { // the separators are taken out of the whole part
      std::string block = read_part(begin, end);
      records_->remove_separators(block);
      j.stdin_data = header_line_ + block;
    } else { // the job's slot reads the part itself
      j.stdin_data = header_line_;
      j.part_begin = begin;
      j.part_end = end;
    }
    j.values.seq = ++seq_;
    if (skip_.count(j.values.seq) != 0) continue;
    return j;
  }
}

std::function<bool(std::string&)> file_part_reader(const std::string& path, std::uint64_t begin,
                                                   std::uint64_t end) {
  struct part {
    std::string path;
    std::uint64_t at, end;
    int fd = -1;
    ~part() {
      if (fd >= 0) ::close(fd);
    }
  };
  auto state = std::make_shared<part>(part{path, begin, end});
  return [state](std::string& next) {
    part& p = *state;
    if (p.at >= p.end) return false;
    if (p.fd < 0) p.fd = ::open(p.path.c_str(), O_RDONLY | O_CLOEXEC);
    next.resize(static_cast<std::size_t>(std::min<std::uint64_t>(p.end - p.at, pipe_read_bytes)));
    ssize_t n = -1;
    while (p.fd >= 0 && (n = ::pread(p.fd, next.data(), next.size(), static_cast<off_t>(p.at))) < 0 &&
           errno == EINTR) {
    }
    if (n <= 0) {
      const std::string message = "parmill: --pipepart: cannot read '" + p.path + "' at byte " +
                                  std::to_string(p.at) + ": " +
                                  (n == 0 ? "the file is shorter than it was" : std::strerror(errno)) + "\n";
      (void)!::write(STDERR_FILENO, message.data(), message.size());
      p.at = p.end;
      return false;
    }
    next.resize(static_cast<std::size_t>(n));
    p.at += static_cast<std::uint64_t>(n);
    return true;
  };
}

job_stream::numbered_reader job_stream::open_reader(const input_source& source) const {
  return numbered_reader{std::make_unique<value_reader>(source, inputs_.delimiter_text.empty()
                                                                    ? std::string(1, inputs_.delimiter)
                                                                    : inputs_.delimiter_text),
                         input_position{&source, 0}};
}

std::optional<std::string> job_stream::read_value(numbered_reader& r) {
  auto value = r.reader->next();
  if (!value) return std::nullopt;
  ++r.at.number;
  // -L: a line that ends in a blank goes on in the next one (xargs' rule, and GNU parallel's).
  while (inputs_.max_lines && !value->empty() && (value->back() == ' ' || value->back() == '\t')) {
    auto more = r.reader->next();
    if (!more) break;
    ++r.at.number;
    *value += *more;
  }
  if (value->find('\0') != std::string::npos) return without_nul(std::move(*value), r.at);
  return value;
}

std::string job_stream::without_nul(std::string value, const input_position& at) {
  // As GNU parallel 20221122 does: NUL cannot be passed in an argument, so it becomes \0.
  if (!warned_nul_) {
    warned_nul_ = true;
    const std::string warning = "parmill: Warning: " + describe(at) +
                                " contains a NUL byte; it is passed on as \\0 (a NUL cannot be passed in "
                                "an argument), as is every later one. Did you mean -0/--null?\n";
    (void)!::write(STDERR_FILENO, warning.data(), warning.size());
  }
  std::string out;
  out.reserve(value.size() + 8);
  for (char c : value)
    if (c == '\0')
      out += "\\0";
    else
      out.push_back(c);
  return out;
}

void job_stream::split_columns(std::string_view value, record& out, const input_position& at) const {
  if (!colsep_) {
    out.emplace_back(value);
    return;
  }
  colsep_->split(value, out, at);
}

command_template::size_bound job_stream::first_command_size(const record& first) const {
  if (command_) return command_->first_size(first);
  command_template::size_bound bound;
  add_input_size(bound, first);
  return bound;
}

void job_stream::add_input_size(command_template::size_bound& bound, const record& input) const {
  if (command_) return command_->add_size(bound, input);
  for (const std::string& v : input) // no command: the inputs themselves, joined by spaces
    bound.bytes += v.size() + 1;
}

bool job_stream::empty_record(const record& r) const {
  return std::all_of(r.begin(), r.end(), [](const std::string& v) {
    return v.find_first_not_of(" \t\r\n") == std::string::npos;
  });
}

std::optional<record> job_stream::next_raw_record() {
  if (ended_) return std::nullopt;
  if (wrap_) {
    if (linked_row_ >= linked_rows_) return std::nullopt;
    record r;
    for (std::size_t s = 0; s < linked_values_.size(); ++s) {
      const auto& values = linked_values_[s];
      const std::size_t at = linked_row_ % values.size();
      split_columns(values[at], r, input_position{linked_sources_[s], at + 1 + (inputs_.header ? 1 : 0)});
    }
    ++linked_row_;
    return r;
  }
  if (!outer_) {
    record r;
    for (auto& reader : streaming_) {
      auto v = read_value(reader);
      if (!v) {
        ended_ = true;
        return std::nullopt;
      }
      split_columns(*v, r, reader.at);
    }
    if (std::any_of(fixed_.begin(), fixed_.end(), [](const auto& rows) { return rows.empty(); })) {
      ended_ = true;
      return std::nullopt;
    }
    outer_ = std::move(r);
    std::fill(odometer_.begin(), odometer_.end(), 0);
  }
  record r = *outer_;
  for (std::size_t g = 0; g < fixed_.size(); ++g) {
    const record& part = fixed_[g][odometer_[g]];
    r.insert(r.end(), part.begin(), part.end());
  }
  // Advance: the last source varies fastest.
  std::size_t g = fixed_.size();
  for (;;) {
    if (g == 0) {
      outer_.reset();
      break;
    }
    --g;
    if (++odometer_[g] < fixed_[g].size()) break;
    odometer_[g] = 0;
  }
  return r;
}

std::optional<record> job_stream::next_record() {
  if (pending_) {
    std::optional<record> r = std::move(pending_);
    pending_.reset();
    return r;
  }
  if (lookahead_pos_ < lookahead_.size()) return std::move(lookahead_[lookahead_pos_++]);
  return read_record();
}

std::optional<record> job_stream::read_record() {
  for (;;) {
    auto r = next_raw_record();
    if (!r) return std::nullopt;
    if (inputs_.no_run_if_empty && empty_record(*r)) continue;
    return r;
  }
}

std::optional<job> job_stream::next_job() {
  for (;;) {
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) return std::nullopt;
    if (pack_ && per_job_ == 0) {
      // Spread a small input evenly over the job slots, as GNU parallel does; pack a large one.
      while (lookahead_.size() < spread_lookahead) {
        auto r = read_record();
        if (!r) break;
        lookahead_.push_back(std::move(*r));
      }
      const std::size_t n = lookahead_.size();
      per_job_ = n < spread_lookahead ? std::max<std::size_t>(1, (n + slots_ - 1) / slots_)
                                      : static_cast<std::size_t>(-1);
    }
    job j;
    command_template::size_bound size; // bounds the job's command
    while (j.values.records.size() < per_job_) {
      auto r = next_record();
      if (!r) break;
      if (command_limit_ > 0) { // -X/-m/-n: stop before the command grows too long to run
        if (j.values.records.empty()) {
          size = first_command_size(*r);
        } else {
          add_input_size(size, *r);
          if (size.bytes > command_limit_ && inputs_.max_chars) size.bytes = exact_size(j.values.records, *r);
          if (size.bytes > command_limit_) {
            pending_ = std::move(r);
            break;
          }
        }
      }
      j.values.records.push_back(std::move(*r));
    }
    if (lookahead_pos_ == lookahead_.size() && !lookahead_.empty()) {
      lookahead_.clear();
      lookahead_pos_ = 0;
    }
    if (j.values.records.empty()) return std::nullopt;
    if (inputs_.exact_args == 0) j.values.records.front().clear(); // -N0: {} and {1} give nothing
    j.values.seq = ++seq_;
    check_max_chars(j.values);
    if (skip_.count(j.values.seq) != 0) continue;
    return j;
  }
}

/// Where the next --pipe block ends in pipe_buffer_, or npos when more input is needed: after -N
/// records, or the last record end within --block bytes (the first after it when a record is
/// longer). With -L N (--pipe) a record is N lines. At the end of the input, what is left.
std::size_t job_stream::cut_pipe_buffer() const {
  const std::string_view data = pipe_buffer_;
  const std::size_t lines = inputs_.max_lines.value_or(1);
  const auto record_end = [&](std::size_t from) {
    for (std::size_t k = 0; k < lines && from != std::string_view::npos; ++k)
      from = records_->record_end(data, from);
    return from;
  };
  // -N N, or -n N (GNU parallel reads both as records per job with --pipe).
  if (const std::size_t wanted = inputs_.exact_args.value_or(inputs_.max_args); wanted > 0) {
    std::size_t at = 0;
    for (std::size_t count = 0; count < wanted && at != std::string_view::npos; ++count)
      at = record_end(at);
    return at != std::string_view::npos || !pipe_eof_ ? at : data.size();
  }
  if (data.size() < inputs_.block_bytes && !pipe_eof_) return std::string_view::npos;
  std::size_t last = std::string_view::npos;
  for (std::size_t at = record_end(0); at != std::string_view::npos; at = record_end(at)) {
    if (at > inputs_.block_bytes) {
      if (last == std::string_view::npos) last = at;
      break;
    }
    last = at;
  }
  if (!pipe_eof_) return last;
  // At the end: everything, except that GNU parallel gives an -L block's last lines, fewer than a
  // record, a job of their own.
  if (last == std::string_view::npos) return data.size();
  if (data.size() > inputs_.block_bytes || lines > 1) return last;
  return data.size();
}

std::size_t job_stream::exact_size(const std::vector<record>& records, const record& added) const {
  job_values shown{.seq = seq_ + 1, .slot = 1, .records = records};
  shown.records.push_back(added);
  return command_->shell_command(shown).size();
}

void job_stream::check_max_chars(const job_values& values) const {
  if (!inputs_.max_chars || !command_) return;
  job_values shown{.seq = values.seq, .slot = 1, .records = values.records};
  const std::size_t length = command_->shell_command(shown).size();
  if (length < *inputs_.max_chars) return;
  const std::string first = values.records.empty() || values.records[0].empty() ? "" : values.records[0][0];
  throw std::runtime_error("Command line too long (" + std::to_string(length) +
                           " >= " + std::to_string(*inputs_.max_chars) + ") in job " +
                           std::to_string(values.seq) + " (-s/--max-chars): " + excerpt(first));
}

namespace {

/// --pipe -r: removes the complete lines of `buffer` from `from` (a line's start) on that are made
/// only of whitespace, as GNU parallel's s/^\s*\n//gm does; returns where the unchecked rest (a
/// line without its newline yet) starts. Linear in what it checks.
std::size_t drop_blank_lines(std::string& buffer, std::size_t from) {
  const auto blank = [](std::string_view line) {
    return std::all_of(line.begin(), line.end(),
                       [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; });
  };
  std::size_t read = from, write = from;
  for (auto end = buffer.find('\n', read); end != std::string::npos; end = buffer.find('\n', read)) {
    if (!blank(std::string_view(buffer).substr(read, end - read))) {
      if (write != read) std::memmove(buffer.data() + write, buffer.data() + read, end + 1 - read);
      write += end + 1 - read;
    }
    read = end + 1;
  }
  buffer.erase(write, read - write);
  return write;
}

} // namespace

std::optional<job> job_stream::next_pipe_block() {
  if (inputs_.pipe_part) return next_part();
  for (;;) {
    if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) return std::nullopt;
    std::size_t cut = cut_pipe_buffer();
    while (cut == std::string::npos) {
      const std::size_t old = pipe_buffer_.size();
      pipe_buffer_.resize(old + pipe_read_bytes);
      const std::size_t got = streaming_[0].reader->read_raw(pipe_buffer_.data() + old, pipe_read_bytes);
      pipe_buffer_.resize(old + got);
      if (got == 0) pipe_eof_ = true;
      if (inputs_.no_run_if_empty) pipe_blank_checked_ = drop_blank_lines(pipe_buffer_, pipe_blank_checked_);
      cut = cut_pipe_buffer();
    }
    if (cut == 0) return std::nullopt;
    job j;
    std::string block = pipe_buffer_.substr(0, cut);
    pipe_buffer_.erase(0, cut);
    pipe_blank_checked_ -= std::min(pipe_blank_checked_, cut);
    if (inputs_.records.remove) records_->remove_separators(block);
    j.stdin_data = header_line_ + block;
    j.values.seq = ++seq_;
    if (skip_.count(j.values.seq) != 0) continue;
    return j;
  }
}

std::optional<job> job_stream::next_in_order() {
  if (!shares_blocks()) return inputs_.pipe ? next_pipe_block() : next_job();
  std::lock_guard lock(shared_blocks_mutex_);
  if (shared_jobs_ >= slots_) return std::nullopt;
  auto j = next_pipe_block();
  if (j) ++shared_jobs_;
  return j;
}

bool job_stream::next_shared_block(std::string& block) {
  std::lock_guard lock(shared_blocks_mutex_);
  auto j = next_pipe_block();
  if (!j) return false;
  block = std::move(j->stdin_data);
  return true;
}

std::size_t job_stream::read_all() {
  std::vector<job> jobs;
  while (auto j = next_in_order())
    jobs.push_back(std::move(*j));
  if (inputs_.shuffle) {
    std::random_device seed;
    std::mt19937_64 random(seed());
    std::shuffle(jobs.begin(), jobs.end(), random);
  }
  all_ = std::move(jobs);
  all_pos_ = 0;
  return all_->size();
}

std::optional<job> job_stream::next() {
  std::optional<job> j;
  if (!all_)
    j = next_in_order();
  else if (all_pos_ < all_->size() && (stop_ == nullptr || !stop_->load(std::memory_order_relaxed)))
    j = std::move((*all_)[all_pos_++]);
  if (j) j->position = given_++;
  return j;
}

} // namespace parmill::cli
