// cli/inputs.cpp: sources, cross products and links, columns, headers, grouping and --pipe blocks.
#include "inputs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signals.hpp"

namespace parmill::cli {
namespace {

constexpr std::size_t max_line_bytes = 128 * 1024; // -X/-m: a job's arguments stay under this
constexpr std::size_t spread_lookahead = 65536;    // -X/-m: inputs read ahead to spread them evenly
constexpr std::size_t pipe_read_bytes = 64 * 1024;
constexpr std::size_t read_buffer_bytes = 64 * 1024; // one read() (and, on a pipe, one poll()) per refill

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
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
    return made;
  }
  // O_NONBLOCK: a FIFO opens without waiting for a writer (poll() then waits, and can be stopped).
  const int fd = ::open(source.path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw usage_error("cannot open input file '" + source.path + "': " + std::strerror(errno));
  return std::make_shared<input_file>(fd, true);
}

value_reader::value_reader(const input_source& source, char delimiter)
    : source_(&source), delimiter_(delimiter) {
  if (source.from == input_source::kind::file) file_ = open_file(source);
}

value_reader::~value_reader() = default;

std::optional<std::string> value_reader::next() {
  if (!file_) {
    if (next_value_ >= source_->values.size()) return std::nullopt;
    return source_->values[next_value_++];
  }
  input_file& f = *file_;
  std::string value;
  bool partial = false; // bytes of a value not yet ended by a delimiter
  for (;;) {
    const char* start = f.buffer.get() + f.begin;
    const std::size_t available = f.end - f.begin;
    if (const void* found = std::memchr(start, delimiter_, available)) {
      const auto length = static_cast<std::size_t>(static_cast<const char*>(found) - start);
      value.append(start, length);
      f.begin += length + 1;
      return value;
    }
    value.append(start, available);
    partial = partial || available > 0;
    f.begin = f.end = 0;
    f.end = f.read_some(f.buffer.get(), read_buffer_bytes, source_->path);
    if (f.end == 0) return partial ? std::optional<std::string>(std::move(value)) : std::nullopt;
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

job_stream::job_stream(const options& o, std::set<std::size_t> skip, const std::atomic<bool>* stop)
    : options_(o), skip_(std::move(skip)), stop_(stop) {
  if (o.colsep) {
    try {
      colsep_.emplace(*o.colsep, std::regex::extended);
    } catch (const std::regex_error& e) {
      throw usage_error("--colsep: '" + *o.colsep + "' is not a regular expression: " + e.what());
    }
  } else if (o.header) {
    colsep_.emplace("\t", std::regex::extended);
  }
  static const input_source standard_input{
      .from = input_source::kind::file, .values = {}, .path = "-", .linked = false};
  std::vector<const input_source*> sources;
  for (const input_source& s : o.sources)
    sources.push_back(&s);
  if (sources.empty()) sources.push_back(&standard_input);

  if (o.pipe) {
    streaming_.push_back(std::make_unique<value_reader>(*sources[0], o.delimiter));
    if (o.header) {
      if (auto line = streaming_[0]->next()) header_line_ = *line + o.delimiter;
    }
    return;
  }
  if (o.link) {
    wrap_ = true;
    for (const input_source* s : sources) {
      value_reader reader(*s, o.delimiter);
      std::vector<std::string> values;
      while (auto v = reader.next())
        values.push_back(std::move(*v));
      linked_rows_ = linked_values_.empty() ? values.size() : std::max(linked_rows_, values.size());
      if (values.empty()) linked_rows_ = 0;
      linked_values_.push_back(std::move(values));
    }
    if (std::any_of(linked_values_.begin(), linked_values_.end(), [](const auto& v) { return v.empty(); }))
      linked_rows_ = 0;
  } else {
    // Group 0 (the first source and those linked to it) streams; each later group is read now.
    std::size_t i = 0;
    do
      streaming_.push_back(std::make_unique<value_reader>(*sources[i++], o.delimiter));
    while (i < sources.size() && sources[i]->linked);
    while (i < sources.size()) {
      std::vector<std::unique_ptr<value_reader>> group;
      do
        group.push_back(std::make_unique<value_reader>(*sources[i++], o.delimiter));
      while (i < sources.size() && sources[i]->linked);
      std::vector<record> rows;
      for (;;) {
        record row;
        bool complete = true;
        for (auto& reader : group) {
          auto v = reader->next();
          if (!v) {
            complete = false;
            break;
          }
          split_columns(*v, row);
        }
        if (!complete) break;
        rows.push_back(std::move(row));
      }
      fixed_.push_back(std::move(rows));
    }
    odometer_.assign(fixed_.size(), 0);
  }
  if (o.header) {
    // The first value of every source names its columns.
    record names;
    if (wrap_) {
      for (auto& values : linked_values_)
        if (!values.empty()) {
          split_columns(values.front(), names);
          values.erase(values.begin());
        }
      linked_rows_ = 0;
      for (const auto& values : linked_values_)
        linked_rows_ = std::max(linked_rows_, values.size());
      if (std::any_of(linked_values_.begin(), linked_values_.end(), [](const auto& v) { return v.empty(); }))
        linked_rows_ = 0;
    } else {
      for (auto& reader : streaming_)
        if (auto v = reader->next()) split_columns(*v, names);
      for (auto& rows : fixed_)
        if (!rows.empty()) {
          names.insert(names.end(), rows.front().begin(), rows.front().end());
          rows.erase(rows.begin());
        }
    }
    for (std::size_t c = 0; c < names.size(); ++c)
      names_.emplace(names[c], c);
  }
  if (o.exact_args)
    per_job_ = std::max<std::size_t>(1, *o.exact_args);
  else if (o.max_args)
    per_job_ = o.max_args;
  pack_ = (o.context_replace || o.multiple_args) && !o.exact_args;
  if (pack_ && !o.max_args) per_job_ = 0; // decided from the look-ahead
}

void job_stream::split_columns(const std::string& value, record& out) const {
  if (!colsep_) {
    out.push_back(value);
    return;
  }
  std::sregex_token_iterator it(value.begin(), value.end(), *colsep_, -1), end;
  for (; it != end; ++it)
    out.push_back(trim(it->str()));
  if (value.empty()) out.emplace_back();
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
    for (const auto& values : linked_values_)
      split_columns(values[linked_row_ % values.size()], r);
    ++linked_row_;
    return r;
  }
  if (!outer_) {
    record r;
    for (auto& reader : streaming_) {
      auto v = reader->next();
      if (!v) {
        ended_ = true;
        return std::nullopt;
      }
      split_columns(*v, r);
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
  if (lookahead_pos_ < lookahead_.size()) return std::move(lookahead_[lookahead_pos_++]);
  return read_record();
}

std::optional<record> job_stream::read_record() {
  for (;;) {
    auto r = next_raw_record();
    if (!r) return std::nullopt;
    if (options_.no_run_if_empty && empty_record(*r)) continue;
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
      per_job_ = n < spread_lookahead ? std::max<std::size_t>(1, (n + options_.jobs - 1) / options_.jobs)
                                      : static_cast<std::size_t>(-1);
    }
    job j;
    std::size_t bytes = 0;
    while (j.values.records.size() < per_job_) {
      auto r = next_record();
      if (!r) break;
      std::size_t size = 0;
      for (const std::string& v : *r)
        size += v.size() + 3;
      j.values.records.push_back(std::move(*r));
      bytes += size;
      if (pack_ && bytes >= max_line_bytes) break;
    }
    if (lookahead_pos_ == lookahead_.size() && !lookahead_.empty()) {
      lookahead_.clear();
      lookahead_pos_ = 0;
    }
    if (j.values.records.empty()) return std::nullopt;
    j.values.seq = ++seq_;
    if (skip_.count(j.values.seq) != 0) continue;
    return j;
  }
}

std::optional<job> job_stream::next_pipe_block() {
  if (stop_ != nullptr && stop_->load(std::memory_order_relaxed)) return std::nullopt;
  const char d = options_.delimiter;
  const std::size_t records_wanted = options_.exact_args.value_or(0);
  for (;;) {
    job j;
    std::size_t cut = std::string::npos;
    for (;;) {
      if (records_wanted > 0) {
        std::size_t count = 0, at = 0;
        while (count < records_wanted) {
          const auto found = pipe_buffer_.find(d, at);
          if (found == std::string::npos) break;
          at = found + 1;
          ++count;
        }
        if (count == records_wanted) cut = at;
      } else if (pipe_buffer_.size() >= options_.block_bytes) {
        const auto last = pipe_buffer_.rfind(d, options_.block_bytes - 1);
        if (last != std::string::npos)
          cut = last + 1;
        else if (const auto next = pipe_buffer_.find(d, options_.block_bytes); next != std::string::npos)
          cut = next + 1;
      }
      if (cut != std::string::npos || pipe_eof_) break;
      const std::size_t old = pipe_buffer_.size();
      pipe_buffer_.resize(old + pipe_read_bytes);
      const std::size_t got = streaming_[0]->read_raw(pipe_buffer_.data() + old, pipe_read_bytes);
      pipe_buffer_.resize(old + got);
      if (got == 0) pipe_eof_ = true;
    }
    if (cut == std::string::npos) cut = pipe_buffer_.size();
    if (cut == 0) return std::nullopt;
    j.stdin_data = header_line_ + pipe_buffer_.substr(0, cut);
    pipe_buffer_.erase(0, cut);
    j.values.seq = ++seq_;
    if (skip_.count(j.values.seq) != 0) continue;
    return j;
  }
}

std::size_t job_stream::read_all() {
  std::vector<job> jobs;
  while (auto j = options_.pipe ? next_pipe_block() : next_job())
    jobs.push_back(std::move(*j));
  if (options_.shuffle) {
    std::random_device seed;
    std::mt19937_64 random(seed());
    std::shuffle(jobs.begin(), jobs.end(), random);
  }
  all_ = std::move(jobs);
  all_pos_ = 0;
  return all_->size();
}

std::optional<job> job_stream::next() {
  if (all_) {
    if (all_pos_ >= all_->size() || (stop_ != nullptr && stop_->load(std::memory_order_relaxed)))
      return std::nullopt;
    return std::move((*all_)[all_pos_++]);
  }
  return options_.pipe ? next_pipe_block() : next_job();
}

} // namespace parmill::cli
