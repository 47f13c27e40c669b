// fuzz/journal_fuzz.cpp: the journal reader (parmill/journal.hpp) on any bytes.
//
// An input that begins with the journal's magic is written to a temporary file as it is. Any other
// input is a list of record payloads (each a 16-bit length, then that many bytes; a last one cut
// short is written cut short), written as a journal with correct checksums, so that the decoding
// of hostile payloads is fuzzed too and not only the checksums. The file is read as a journal of
// std::string and of std::vector<int> results. The only exception allowed is `journal_error` (what the reader
// documents for a file that is not a journal, a damaged record, or a record of another type).
// When the file reads as a journal of strings, opening it to append (which truncates a torn tail)
// must keep every record read, and a record appended then must read back after them.
#include <parmill/journal.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

/// The temporary file an input is written to (one per fuzzing process, removed after each input).
const std::string& journal_path() {
  static const std::string path = "/tmp/parmill-journal-fuzz-" + std::to_string(::getpid()) + ".bin";
  return path;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

/// The journal read as results of type `R`, or nothing when the reader reports an error.
template <class R>
std::optional<std::vector<parmill::outcome<R>>> read(const std::string& path) {
  try {
    return parmill::read_journal<R>(path);
  } catch (const parmill::journal_error&) {
    return std::nullopt;
  }
}

/// What an outcome says, for comparing two readings.
std::string describe(const parmill::outcome<std::string>& o) {
  if (o.has_value()) return std::to_string(o.index()) + " value " + o.value();
  return std::to_string(o.index()) + " error " + std::string(parmill::to_string(o.error().kind)) + " " +
         std::to_string(o.error().worker) + " " + o.error().message;
}

/// Opens the journal to append, appends one record, and checks that what was read before is still
/// there with the new record.
void check_append_keeps_records(const std::string& path,
                                const std::vector<parmill::outcome<std::string>>& before) {
  constexpr std::size_t appended_index = 12345678;
  std::map<std::size_t, std::string> expected;
  for (const auto& o : before)
    expected[o.index()] = describe(o);
  {
    parmill::detail::journal_writer<std::string> writer(path); // must not throw: the file read well
    const parmill::outcome<std::string> o(appended_index, std::string("appended"));
    writer.write(o);
    expected[appended_index] = describe(o);
  }
  const auto after = parmill::read_journal<std::string>(path);
  std::map<std::size_t, std::string> got;
  for (const auto& o : after)
    got[o.index()] = describe(o);
  if (got != expected) std::abort();
}

/// The journal file for `data` (see the top of this file).
std::string journal_bytes(const std::uint8_t* data, std::size_t size) {
  using format = parmill::detail::journal_format;
  std::string out(reinterpret_cast<const char*>(data), size);
  if (size >= format::magic.size() && std::memcmp(data, format::magic.data(), format::magic.size()) == 0)
    return out;
  const auto header = format::file_header();
  out.assign(header.data(), header.size());
  std::size_t at = 0;
  while (size - at >= 2) {
    const std::size_t length = data[at] | static_cast<std::size_t>(data[at + 1]) << 8U;
    at += 2;
    const std::size_t have = std::min(length, size - at);
    std::string payload(reinterpret_cast<const char*>(data + at), have);
    payload.resize(length); // a record cut short: its header as if the rest were zeros
    const auto record = format::record_header(payload.data(), payload.size());
    out.append(record.data(), record.size());
    out.append(payload.data(), have);
    at += have;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = journal_path();
  const std::string bytes = journal_bytes(data, size);
  write_file(path, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  (void)read<std::vector<int>>(path);
  try {
    (void)parmill::detail::journal_succeeded(path);
  } catch (const parmill::journal_error&) {
  }
  if (const auto strings = read<std::string>(path)) check_append_keeps_records(path, *strings);
  ::unlink(path.c_str());
  return 0;
}
