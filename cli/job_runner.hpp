// cli/job_runner.hpp: starts one job's process and collects its output, status and time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace parmill::cli {

/// How a job's standard output and error are handled.
enum class output_mode {
  group,       ///< captured whole, handed back in the result
  line_buffer, ///< complete lines handed to a sink as they arrive
  ungroup      ///< inherited: the job writes where parmill writes
};

/// What to run and how.
struct spawn_request {
  std::vector<std::string> argv;           ///< run directly (searched on PATH), or {shell, "-c", code}
  std::vector<std::string> extra_env;      ///< NAME=value pairs added to parmill's environment
  const std::string* stdin_data = nullptr; ///< fed to standard input; null: /dev/null
  output_mode mode = output_mode::group;
  std::optional<std::chrono::steady_clock::time_point> deadline; ///< killed (TERM, then KILL) after it
  /// line_buffer mode: called with each complete line (its newline included); `is_error` for stderr.
  std::function<void(const std::string& line, bool is_error)> line_sink;
};

/// How a job ended.
struct process_result {
  int exit_value = 0; ///< the exit status; -1 when parmill killed it (timeout, Ctrl-C, --halt now)
  int signal = 0;     ///< the signal that ended it, or 0
  bool timed_out = false;
  bool killed = false; ///< by parmill (timeout, Ctrl-C, --halt now)
  std::string out, err;
  std::size_t sent = 0, received = 0; ///< bytes to standard input, from standard output
  std::chrono::system_clock::time_point started;
  std::chrono::duration<double> runtime{0};
  [[nodiscard]] bool failed() const noexcept { return exit_value != 0 || signal != 0; }
  /// Crosses to rank 0 under MPI (parmill/codec.hpp).
  static constexpr auto parmill_fields =
      std::tuple{&process_result::exit_value, &process_result::signal,   &process_result::timed_out,
                 &process_result::killed,     &process_result::out,      &process_result::err,
                 &process_result::sent,       &process_result::received, &process_result::started,
                 &process_result::runtime};
};

/// The process groups of running jobs, so that a signal or `--halt now` can end them all.
/// Thread-safe.
class running_jobs {
public:
  /// Records a started job. If termination has begun, the job is terminated at once.
  void add(pid_t group);
  /// Forgets a job that has been reaped.
  void remove(pid_t group);
  /// Sends TERM to every running job's group, then KILL to those still there after `grace`.
  /// Jobs added afterwards are terminated as they start. Blocks until the KILL step.
  void terminate_all(std::chrono::milliseconds grace = std::chrono::milliseconds(200));
  [[nodiscard]] bool terminating() const noexcept { return terminating_.load(); }

private:
  std::mutex mutex_;
  std::set<pid_t> groups_;
  std::atomic<bool> terminating_{false};
};

/// Runs one process to its end. Never throws for the job's own failures: a program that cannot
/// be started ends with exit value 127 and a message on its standard error.
[[nodiscard]] process_result run_process(const spawn_request& request, running_jobs& registry);

} // namespace parmill::cli
