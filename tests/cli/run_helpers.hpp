// tests/cli/run_helpers.hpp: running the built parmill (alone or under mpirun) from a test, and
// what such tests share: scratch directories and splitting output into lines.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "job_runner.hpp"

namespace parmill_test {

/// How a run of the command ended.
struct ran {
  std::string out, err;
  int status = -1; ///< the exit status, or 128 + the signal that ended it
};

/// Runs `argv` with `input` on its standard input and `env` (NAME=value) added, and waits for it;
/// with a `deadline`, it is killed (TERM, then KILL) once that has passed.
inline ran run_program(std::vector<std::string> argv, const std::string& input,
                       std::vector<std::string> env = {},
                       std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
  parmill::cli::spawn_request request;
  request.argv = std::move(argv);
  request.extra_env = std::move(env);
  request.stdin_data = &input;
  request.deadline = deadline;
  parmill::cli::running_jobs registry;
  const auto r = parmill::cli::run_process(request, registry);
  return ran{r.out, r.err, r.signal != 0 ? 128 + r.signal : r.exit_value};
}

/// The lines of `text`, without their newlines.
inline std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// A scratch directory, removed at the end of the test.
struct scratch {
  std::filesystem::path dir;
  scratch() {
    std::string name = (std::filesystem::temp_directory_path() / "parmill-test-XXXXXX").string();
    dir = ::mkdtemp(name.data());
  }
  ~scratch() { std::filesystem::remove_all(dir); }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  std::string operator/(const std::string& name) const { return (dir / name).string(); }
};

} // namespace parmill_test
