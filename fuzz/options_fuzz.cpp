// libFuzzer target: the command's option parser. The bytes are argv, one word per line (a NUL
// also ends a word); whatever they say, parse_invocation returns options or throws usage_error.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"

namespace {

/// The words of `data`, split at '\n' and '\0'.
std::vector<std::string> words_of(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words(1);
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == '\n' || data[i] == '\0')
      words.emplace_back();
    else
      words.back().push_back(static_cast<char>(data[i]));
  }
  return words;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  try {
    const parmill::cli::options o = parmill::cli::parse_invocation(words_of(data, size), 2, 100).run_options;
    if (o.jobs < 1 || o.jobs > 100) __builtin_trap(); // -j is always resolved within its bounds
    if (o.pipe && o.block_bytes == 0) __builtin_trap();
  } catch (const parmill::cli::usage_error&) {
    // A malformed invocation: the command prints it and exits 255.
  }
  return 0;
}
