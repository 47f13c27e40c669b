// libFuzzer target: command templates. The first line is the command (its words split at spaces),
// the first byte picks -q/-m/-X-like rendering, --plus (8) and renamed strings (16: -I ,, --er .);
// the other lines are inputs (columns split at tabs).
// Rendering must never fail, and first_size/add_size must bound the command (what -X/-m pack by).
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "command_template.hpp"
#include "options.hpp"

namespace {

std::vector<std::string> split(const std::string& text, char at) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == at)
      parts.emplace_back();
    else
      parts.back().push_back(c);
  }
  return parts;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace parmill::cli;
  if (size < 1 || size > 4096) return 0;
  const std::uint8_t flags = data[0];
  const std::vector<std::string> lines =
      split(std::string(reinterpret_cast<const char*>(data) + 1, size - 1), '\n');
  std::vector<std::string> words;
  for (std::string& w : split(lines[0], ' '))
    if (!w.empty()) words.push_back(std::move(w));
  std::vector<record> inputs;
  for (std::size_t i = 1; i < lines.size() && i <= 64; ++i)
    inputs.push_back(split(lines[i], '\t'));
  if (inputs.empty()) inputs.push_back({""});
  const std::map<std::string, std::size_t> names{{"name", 0}, {"age", 1}};
  try {
    replacement_names renamed; // flag 16: -I ,, and --er ., as the command's options rename them
    if ((flags & 16) != 0) {
      renamed.input = ",,";
      renamed.no_extension = ".";
    }
    command_template t(words, (flags & 1) != 0, names, (flags & 2) != 0, (flags & 4) != 0, renamed,
                       (flags & 8) != 0); // flag 8: --plus
    t.set_run_size(inputs.size(), 3);
    command_template::size_bound bound = t.first_size(inputs[0]);
    job_values job{.seq = 7, .slot = 3, .records = {inputs[0]}};
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (i > 0) {
        job.records.push_back(inputs[i]);
        t.add_size(bound, inputs[i]);
      }
      const std::string command = t.shell_command(job);
      if (command.size() > bound.bytes) __builtin_trap(); // -X/-m would build a job longer than measured
      if (!t.needs_shell()) (void)t.argv(job);
      (void)t.render_plain(job);
    }
  } catch (const usage_error&) {
    // A replacement string whose column number does not fit, or a --plus regular expression that
    // does not compile: the command exits 255 naming it.
  } catch (const std::runtime_error&) {
    // A --plus regular expression that reaches PCRE2's match limit on an input: the job fails.
  }
  return 0;
}
