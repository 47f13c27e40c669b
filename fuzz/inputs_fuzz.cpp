// libFuzzer target: input splitting. The first byte picks the mode (-d X, -0, --colsep, --header,
// -X packing, --link with a second source); with --colsep the first line is the expression. The
// rest is an input file, read through job_stream as the command reads it. Nothing may crash, hang
// or grow without bound; a bad expression (usage_error) or a match over its limits (runtime_error)
// is the command's clean error.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

#include "inputs.hpp"

namespace {

/// A file in memory holding `bytes`, named by a /proc path the readers can open.
struct memory_file {
  int fd = -1;
  std::string path;
  explicit memory_file(const std::string& bytes) {
    fd = memfd_create("inputs_fuzz", 0);
    if (fd < 0) __builtin_trap();
    for (std::size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) __builtin_trap();
      done += static_cast<std::size_t>(n);
    }
    path = "/proc/self/fd/" + std::to_string(fd);
  }
  ~memory_file() { ::close(fd); }
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parmill::cli;
  if (size < 1 || size > 16384) return 0;
  const std::uint8_t mode = data[0];
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  options o;
  o.command = {"echo", "{}", "{1}", "{-1}"};
  o.jobs = 1 + (mode >> 6);
  switch (mode & 3) {
  case 0: break;
  case 1: o.delimiter = '\0'; break;
  case 2: o.delimiter = 'X'; break;
  case 3: {
    const auto newline = rest.find('\n');
    o.colsep = rest.substr(0, newline);
    rest = newline == std::string::npos ? "" : rest.substr(newline + 1);
    break;
  }
  }
  o.header = (mode & 4) != 0;
  o.context_replace = (mode & 8) != 0;
  o.no_run_if_empty = (mode & 16) != 0;
  o.link = (mode & 32) != 0;
  memory_file file(rest);
  o.sources.push_back(
      input_source{.from = input_source::kind::file, .values = {}, .path = file.path, .linked = false});
  if (o.link)
    o.sources.push_back(input_source{
        .from = input_source::kind::values, .values = {"p", "q r"}, .path = "", .linked = false});
  try {
    job_stream jobs(o, {}, nullptr);
    const std::optional<command_template> command = make_command(o, o, jobs.column_names());
    std::size_t count = 0;
    while (auto j = jobs.next()) {
      if (++count > 100000) __builtin_trap(); // more jobs than the bytes can make
      if (j->values.records.size() > 1 && command &&
          command->shell_command(j->values).size() > packed_command_limit())
        __builtin_trap(); // a packed job longer than the limit
    }
  } catch (const usage_error&) {
  } catch (const std::runtime_error&) {
  }
  return 0;
}
