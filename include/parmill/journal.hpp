// parmill/journal.hpp: a map's results journal, written as outcomes are yielded and read back on
// resume (see `map_options::journal`).
//
// The file format (version 2; every number in the machine's byte order):
//
//   file header, 12 bytes:  the 8 bytes "PARMILLJ", then the format version (uint32, 2)
//   then records, each:     payload size (uint64)
//                           CRC-32C of the payload (uint32)
//                           CRC-32C of the 12 bytes before it (uint32): the record header's own check
//                           payload: item index (uint64), status (uint8: 0 value, 1 failure), then
//                           the value encoded with parmill/codec.hpp, or the failure's kind
//                           (failure_kind), worker (uint64) and message (string)
//
// A record is whole when both checksums match. A crash (or a full disk) can cut the last record
// short, and a power cut can leave the file's last bytes zero (ext4, xfs): the reader ignores such
// a torn tail, and opening the journal to append (every run with `.journal`, resumed or not) first
// truncates it to the end of its last whole record. A record that fails its checks while a whole
// record follows it is damage, not a tail: reading throws `journal_error`, naming the file and the
// record's offset. A file that does not begin with the header is not taken for a journal.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/export.hpp"
#include "parmill/outcome.hpp"

namespace parmill {

/// Thrown when a journal cannot be read or appended to because of what it holds: it is not a
/// parmill journal (or of another format version), a record in it is damaged (fails its checksum
/// while whole records follow it), or a record does not decode as the result type asked for.
/// `what()` names the file and the byte offset; a torn or zero-filled tail is never an error.
/// (Failures of the file system itself, such as a journal that cannot be opened, are
/// `std::system_error`.)
class PARMILL_API journal_error : public std::runtime_error {
public:
  /// An error about the journal `path` at byte `offset`; `what` says what is wrong there.
  journal_error(std::string path, std::uint64_t offset, const std::string& what)
      : std::runtime_error("parmill: the journal " + path + ", at byte " + std::to_string(offset) + ": " +
                           what),
        path_(std::move(path)), offset_(offset) {}
  /// The journal's path.
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  /// Where in the file the problem is: the start of the damaged record, or of the header.
  [[nodiscard]] std::uint64_t offset() const noexcept { return offset_; }

private:
  std::string path_;
  std::uint64_t offset_;
};

namespace detail {

/// The CRC-32C (Castagnoli) lookup table, for the reflected polynomial 0x82F63B78.
inline constexpr std::array<std::uint32_t, 256> crc32c_table = [] {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit)
      c = (c & 1U) != 0 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
    table[i] = c;
  }
  return table;
}();

/// The CRC-32C of `size` bytes at `data`; pass a previous result as `crc` to continue it over more
/// bytes. crc32c("123456789") is 0xE3069283.
inline std::uint32_t crc32c(const void* data, std::size_t size, std::uint32_t crc = 0) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i)
    crc = crc32c_table[(crc ^ p[i]) & 0xFFU] ^ (crc >> 8);
  return ~crc;
}

/// The constants of the journal's format (see the top of this file).
struct journal_format {
  static constexpr std::array<char, 8> magic{'P', 'A', 'R', 'M', 'I', 'L', 'L', 'J'};
  static constexpr std::uint32_t version = 2;
  static constexpr std::size_t file_header_size = magic.size() + sizeof(std::uint32_t);
  static constexpr std::size_t record_header_size = sizeof(std::uint64_t) + 2 * sizeof(std::uint32_t);
  static constexpr std::size_t min_payload_size = sizeof(std::uint64_t) + sizeof(std::uint8_t);

  /// The file header's bytes.
  static std::array<char, file_header_size> file_header() noexcept {
    std::array<char, file_header_size> h{};
    std::memcpy(h.data(), magic.data(), magic.size());
    std::memcpy(h.data() + magic.size(), &version, sizeof version);
    return h;
  }
  /// The header of a record with `payload`.
  static std::array<char, record_header_size> record_header(const void* payload,
                                                            std::uint64_t size) noexcept {
    std::array<char, record_header_size> h{};
    const std::uint32_t payload_crc = crc32c(payload, static_cast<std::size_t>(size));
    std::memcpy(h.data(), &size, sizeof size);
    std::memcpy(h.data() + sizeof size, &payload_crc, sizeof payload_crc);
    const std::uint32_t header_crc = crc32c(h.data(), sizeof size + sizeof payload_crc);
    std::memcpy(h.data() + sizeof size + sizeof payload_crc, &header_crc, sizeof header_crc);
    return h;
  }
};

/// Reads a journal file through its descriptor (which it does not own), record by record, telling
/// whole records from a torn tail and from damage.
class journal_scanner {
public:
  /// Scans the open file `fd`, named `path` in errors.
  journal_scanner(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
    struct stat st {};
    if (::fstat(fd_, &st) != 0)
      throw std::system_error(errno, std::generic_category(), "parmill: cannot read the journal " + path_);
    size_ = static_cast<std::uint64_t>(st.st_size);
  }

  /// Calls `each(offset, index, succeeded, reader)` for every whole record in file order, and
  /// returns where the whole records end: 0 when the file has no complete header (it is empty, a
  /// torn header, or all zeros), else the offset after the last whole record. Throws
  /// `journal_error` for a file that is not a journal and for a damaged record.
  template <class Each>
  std::uint64_t scan(Each each) {
    if (!has_header()) return 0;
    std::uint64_t at = journal_format::file_header_size;
    while (at < size_) {
      const record found = check_record(at, payload_);
      if (found.state != record_state::whole) return end_of_whole_records(at, found);
      reader r(payload_.data(), payload_.size());
      const auto index = r.raw<std::uint64_t>();
      const auto status = r.raw<std::uint8_t>();
      if (status > 1)
        throw journal_error(path_, at, "the record there has an unknown status " + std::to_string(status));
      if (index > max_index)
        throw journal_error(
            path_, at, "the record there has an item index too large to be one: " + std::to_string(index));
      each(at, static_cast<std::size_t>(index), status == 0, r);
      at = found.end;
    }
    return at;
  }

private:
  /// The largest item index (an outcome keeps its failed flag in the index's top bit).
  static constexpr std::uint64_t max_index = ~std::uint64_t{0} >> 1;

  enum class record_state { whole, incomplete, bad_header, bad_payload };
  struct record {
    record_state state;
    std::uint64_t end = 0; // where the record ends, when its header is good
  };

  /// Reads `size` bytes at `offset` (which the caller knows are in the file).
  void read_at(std::uint64_t offset, void* out, std::size_t size) const {
    auto* to = static_cast<char*>(out);
    while (size > 0) {
      const ssize_t n = ::pread(fd_, to, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0)
        throw std::system_error(errno, std::generic_category(), "parmill: cannot read the journal " + path_);
      if (n == 0) throw journal_error(path_, offset, "the file shrank while it was read");
      to += n;
      offset += static_cast<std::uint64_t>(n);
      size -= static_cast<std::size_t>(n);
    }
  }

  /// True when the file begins with the header; false when it has none yet (empty, a torn header,
  /// all zeros). Throws for any other beginning.
  bool has_header() const {
    const auto expected = journal_format::file_header();
    std::array<char, journal_format::file_header_size> got{};
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size_, got.size()));
    read_at(0, got.data(), n);
    if (n == got.size() && got == expected) return true;
    std::size_t same = 0; // a torn header: a part of the header, then nothing or zeros
    while (same < n && got[same] == expected[same])
      ++same;
    if (zeros_from(same)) return false;
    if (n == got.size() && std::memcmp(got.data(), expected.data(), journal_format::magic.size()) == 0) {
      std::uint32_t version = 0;
      std::memcpy(&version, got.data() + journal_format::magic.size(), sizeof version);
      throw journal_error(path_, journal_format::magic.size(),
                          "the journal has format version " + std::to_string(version) +
                              "; this parmill reads version " + std::to_string(journal_format::version));
    }
    throw journal_error(path_, 0,
                        "this is not a parmill journal (it does not begin with the journal header; journals "
                        "written before format version 2 cannot be read)");
  }

  /// True when every byte from `offset` to the end of the file is zero.
  bool zeros_from(std::uint64_t offset) const {
    std::array<char, 64 * 1024> chunk{};
    while (offset < size_) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size_ - offset, chunk.size()));
      read_at(offset, chunk.data(), n);
      for (std::size_t i = 0; i < n; ++i)
        if (chunk[i] != 0) return false;
      offset += n;
    }
    return true;
  }

  /// A record header's fields.
  struct record_header {
    std::uint64_t payload_size = 0;
    std::uint32_t payload_crc = 0;
  };

  /// Parses the record header at `bytes`: false when it fails its check (or claims a payload too
  /// small to be one).
  static bool parse_header(const char* bytes, record_header& out) noexcept {
    std::uint32_t header_crc = 0;
    std::memcpy(&out.payload_size, bytes, sizeof out.payload_size);
    std::memcpy(&out.payload_crc, bytes + sizeof out.payload_size, sizeof out.payload_crc);
    constexpr std::size_t checked = sizeof out.payload_size + sizeof out.payload_crc;
    std::memcpy(&header_crc, bytes + checked, sizeof header_crc);
    return crc32c(bytes, checked) == header_crc && out.payload_size >= journal_format::min_payload_size;
  }

  /// Checks the record at `offset`, reading its payload into `payload` when its header is good.
  record check_record(std::uint64_t offset, std::vector<char>& payload) const {
    if (size_ - offset < journal_format::record_header_size) return {record_state::incomplete};
    std::array<char, journal_format::record_header_size> bytes{};
    read_at(offset, bytes.data(), bytes.size());
    record_header header;
    if (!parse_header(bytes.data(), header)) return {record_state::bad_header};
    const std::uint64_t body = offset + journal_format::record_header_size;
    if (header.payload_size > size_ - body) return {record_state::incomplete};
    payload.resize(static_cast<std::size_t>(header.payload_size)); // no more than the file holds
    read_at(body, payload.data(), payload.size());
    const std::uint64_t end = body + header.payload_size;
    if (crc32c(payload.data(), payload.size()) != header.payload_crc) return {record_state::bad_payload, end};
    return {record_state::whole, end};
  }

  /// The record at `offset` is not whole (`found`): returns `offset` when it begins a torn tail (no
  /// whole record follows it), and throws when it is damage in the middle of the journal.
  std::uint64_t end_of_whole_records(std::uint64_t offset, const record& found) const {
    // A record whose header is good ends where it says; one whose header is bad may end anywhere.
    const std::uint64_t search_from = found.state == record_state::bad_payload ? found.end : offset + 1;
    if (!whole_record_from(search_from)) return offset;
    throw journal_error(path_, offset,
                        found.state == record_state::bad_header
                            ? "the record there has a damaged header and whole records follow it"
                            : "the record there fails its checksum and whole records follow it");
  }

  /// True when a whole record begins at some offset from `offset` on. Reads the rest of the file
  /// in windows and checks each offset's would-be header there, and only a good header's payload.
  bool whole_record_from(std::uint64_t offset) const {
    constexpr std::size_t header_size = journal_format::record_header_size;
    constexpr std::uint64_t smallest = header_size + journal_format::min_payload_size;
    std::vector<char> window(64 * 1024 + header_size);
    std::vector<char> payload;
    while (offset < size_ && size_ - offset >= smallest) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(size_ - offset, window.size()));
      read_at(offset, window.data(), n);
      const std::size_t starts = n - header_size + 1; // offsets whose header is in the window
      for (std::size_t i = 0; i < starts; ++i) {
        record_header header;
        if (parse_header(window.data() + i, header) &&
            check_record(offset + i, payload).state == record_state::whole)
          return true;
      }
      offset += starts;
    }
    return false;
  }

  int fd_;
  std::string path_;
  std::uint64_t size_ = 0;
  std::vector<char> payload_;
};

/// Calls `each(index, succeeded, reader)` for every whole record of the journal at `path`, in file
/// order (a torn or zero-filled tail is ignored). No file: no records. Throws `journal_error` (see
/// there), also when `each` finds that a record does not decode (`codec_error`).
template <class Each>
void for_each_journal_record(const std::string& path, Each each) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return;
    throw std::system_error(errno, std::generic_category(), "parmill: cannot open the journal " + path);
  }
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_at_end{fd};
  journal_scanner(fd, path).scan([&](std::uint64_t offset, std::size_t index, bool succeeded, reader& r) {
    try {
      each(index, succeeded, r);
    } catch (const codec_error& e) {
      throw journal_error(path, offset,
                          std::string("the record there does not decode as the result type asked for (it "
                                      "must be the map's result type): ") +
                              e.what());
    }
  });
}

/// The indices of the items a journal records as succeeded (and whose latest record says so).
inline std::set<std::size_t> journal_succeeded(const std::string& path) {
  std::set<std::size_t> done;
  for_each_journal_record(path, [&](std::size_t index, bool succeeded, reader&) {
    if (succeeded)
      done.insert(index);
    else
      done.erase(index);
  });
  return done;
}

/// Appends outcomes to a journal, one record each, written through (one write per outcome), so
/// that whatever the program had yielded survives its crash. Opening it truncates a torn tail
/// (and writes the file header into a new or empty file); a file that is not a journal, or a
/// damaged one, is left as it is and `journal_error` thrown.
template <class R>
class journal_writer {
public:
  explicit journal_writer(const std::string& path)
      : path_(path), fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) {
    if (fd_ < 0)
      throw std::system_error(errno, std::generic_category(), "parmill: cannot open the journal " + path);
    try {
      repair();
    } catch (...) {
      ::close(fd_);
      throw;
    }
  }
  ~journal_writer() { ::close(fd_); }
  journal_writer(const journal_writer&) = delete;
  journal_writer& operator=(const journal_writer&) = delete;

  /// Appends `o`'s record.
  void write(const outcome<R>& o) {
    record_.clear();
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
    bytes_.assign(journal_format::record_header_size, 0);
    for (const auto& piece : record_.pieces()) {
      const auto* p = static_cast<const char*>(piece.iov_base);
      bytes_.insert(bytes_.end(), p, p + piece.iov_len);
    }
    const char* payload = bytes_.data() + journal_format::record_header_size;
    const auto header =
        journal_format::record_header(payload, bytes_.size() - journal_format::record_header_size);
    std::memcpy(bytes_.data(), header.data(), header.size());
    write_all(bytes_.data(), bytes_.size());
  }

private:
  /// Cuts the file back to its last whole record, and gives a file without a header its header.
  void repair() {
    const std::uint64_t end = journal_scanner(fd_, path_).scan([](auto&&...) {});
    if (::ftruncate(fd_, static_cast<off_t>(end)) != 0)
      throw std::system_error(errno, std::generic_category(),
                              "parmill: cannot truncate the journal " + path_);
    if (end != 0) return;
    const auto header = journal_format::file_header();
    write_all(header.data(), header.size());
  }

  void write_all(const char* data, std::size_t size) {
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0)
        throw std::system_error(errno, std::generic_category(), "parmill: cannot write the journal " + path_);
      done += static_cast<std::size_t>(n);
    }
  }

  std::string path_;
  int fd_;
  writer record_;
  std::vector<char> bytes_;
};

} // namespace detail

/// Reads a journal written by a map with `.journal = path` (over one run or several resumed runs):
/// the latest outcome of each item, in index order. A failure comes back with its kind, worker and
/// message (the exception itself does not survive). `R` must be the map's result type. A torn or
/// zero-filled tail (a crash or power cut while it was written) is ignored; a damaged record, a file
/// that is not a journal, and a record that does not decode as `R` throw `journal_error`, naming the
/// file and the offset. No file: no outcomes.
template <class R>
[[nodiscard]] std::vector<outcome<R>> read_journal(const std::string& path) {
  std::map<std::size_t, outcome<R>> latest;
  detail::for_each_journal_record(path, [&](std::size_t index, bool succeeded, reader& r) {
    auto read = [&]() -> outcome<R> {
      if (succeeded) return outcome<R>(index, parmill::decode<R>(r));
      item_error e;
      e.index = index;
      e.kind = parmill::decode<failure_kind>(r);
      e.worker = static_cast<std::size_t>(parmill::decode<std::uint64_t>(r));
      e.message = parmill::decode<std::string>(r);
      return outcome<R>(std::move(e));
    };
    outcome<R> o = read();
    if (r.remaining() != 0) r.fail("the record has bytes after its outcome");
    latest.erase(index); // a later record of the same item (a resumed run's) replaces it
    latest.emplace(index, std::move(o));
  });
  std::vector<outcome<R>> out;
  out.reserve(latest.size());
  for (auto& [index, o] : latest)
    out.push_back(std::move(o));
  return out;
}

} // namespace parmill
