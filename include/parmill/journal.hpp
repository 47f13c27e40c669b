// parmill/journal.hpp: a map's results journal, written as outcomes are yielded and read back on
// resume (see `map_options::journal`).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/outcome.hpp"

namespace parmill {
namespace detail {

/// Calls `each(index, succeeded, reader)` for every whole record of the journal at `path` (a
/// record cut short by a crash is ignored). No file: no records.
template <class Each>
void for_each_journal_record(const std::string& path, Each each) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  std::size_t at = 0;
  while (bytes.size() - at >= sizeof(std::uint64_t)) {
    std::uint64_t size = 0;
    std::memcpy(&size, bytes.data() + at, sizeof size);
    if (bytes.size() - at - sizeof size < size) break; // the tail a crash cut short
    reader r(reinterpret_cast<const std::byte*>(bytes.data() + at + sizeof size),
             static_cast<std::size_t>(size));
    const auto index = static_cast<std::size_t>(r.raw<std::uint64_t>());
    const bool succeeded = r.raw<std::uint8_t>() == 0;
    each(index, succeeded, r);
    at += sizeof size + static_cast<std::size_t>(size);
  }
}

/// The indices of the items a journal records as succeeded.
inline std::set<std::size_t> journal_succeeded(const std::string& path) {
  std::set<std::size_t> done;
  for_each_journal_record(path, [&](std::size_t index, bool succeeded, reader&) {
    if (succeeded) done.insert(index);
  });
  return done;
}

/// Appends outcomes to a journal, one record each, written through (one write per outcome), so
/// that whatever the program had yielded survives its crash.
template <class R>
class journal_writer {
public:
  explicit journal_writer(const std::string& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "parmill: cannot open the journal " + path);
  }
  ~journal_writer() { ::close(fd_); }
  journal_writer(const journal_writer&) = delete;
  journal_writer& operator=(const journal_writer&) = delete;

  void write(const outcome<R>& o) {
    record_.clear();
    record_.raw(std::uint64_t{0}); // the size, filled in below
    record_.raw(static_cast<std::uint64_t>(o.index()));
    if (o.has_value()) {
      record_.raw(std::uint8_t{0});
      parmill::encode(record_, o.value());
    } else {
      record_.raw(std::uint8_t{1});
      parmill::encode(record_, o.error().kind);
      parmill::encode(record_, static_cast<std::uint64_t>(o.error().worker));
      parmill::encode(record_, o.error().message);
    }
    bytes_.clear();
    for (const auto& piece : record_.pieces()) {
      const auto* p = static_cast<const char*>(piece.iov_base);
      bytes_.insert(bytes_.end(), p, p + piece.iov_len);
    }
    const std::uint64_t size = bytes_.size() - sizeof(std::uint64_t);
    std::memcpy(bytes_.data(), &size, sizeof size);
    for (std::size_t done = 0; done < bytes_.size();) {
      const ssize_t n = ::write(fd_, bytes_.data() + done, bytes_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::system_error(errno, std::generic_category(), "parmill: cannot write the journal");
      done += static_cast<std::size_t>(n);
    }
  }

private:
  int fd_;
  writer record_;
  std::vector<char> bytes_;
};

} // namespace detail

/// Reads a journal written by a map with `.journal = path` (over one run or several resumed runs):
/// the latest outcome of each item, in index order. A failure comes back with its kind, worker and
/// message (the exception itself does not survive). `R` must be the map's result type.
template <class R>
[[nodiscard]] std::vector<outcome<R>> read_journal(const std::string& path) {
  std::map<std::size_t, outcome<R>> latest;
  detail::for_each_journal_record(path, [&](std::size_t index, bool succeeded, reader& r) {
    latest.erase(index); // a later record of the same item (a resumed run's) replaces it
    if (succeeded) {
      latest.emplace(index, outcome<R>(index, parmill::decode<R>(r)));
      return;
    }
    item_error e;
    e.index = index;
    e.kind = parmill::decode<failure_kind>(r);
    e.worker = static_cast<std::size_t>(parmill::decode<std::uint64_t>(r));
    e.message = parmill::decode<std::string>(r);
    latest.emplace(index, outcome<R>(std::move(e)));
  });
  std::vector<outcome<R>> out;
  out.reserve(latest.size());
  for (auto& [index, o] : latest)
    out.push_back(std::move(o));
  return out;
}

} // namespace parmill
