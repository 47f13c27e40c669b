// cli/job_runner.hpp: starts one job's process and collects its output, status and time.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
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
  /// With `stdin_data`: called each time what standard input was given has all been written, to
  /// put the next piece in its argument; false when there is no more (standard input then ends).
  /// Called on the job's own thread; it may wait (for parmill's input).
  std::function<bool(std::string& next)> stdin_more;
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
/// A job's group is kept from its start until its first process is reaped; once termination has
/// begun, it is kept until the KILL step is done, so that what the job started in its group (a
/// background process that ignores TERM) gets KILL too, whether or not the first process has
/// exited. A group whose first process was reaped before termination began is not the run's any
/// more (as in GNU parallel: a job ends when its first process ends). Thread-safe.
class running_jobs {
public:
  /// Records a started job. If termination has begun, the job is killed (KILL) at once.
  void add(pid_t group);
  /// Says that a job's first process has been reaped: its group is forgotten, unless termination
  /// is under way, in which case it is kept until the KILL step.
  void remove(pid_t group);
  /// Sends TERM to every running job's group, then KILL, `grace` later, to those groups that still
  /// have a process (returning sooner once every group is empty). Jobs added afterwards are killed
  /// as they start. Blocks until the KILL step; may be called from several threads at once.
  void terminate_all(std::chrono::milliseconds grace = std::chrono::milliseconds(200));
  [[nodiscard]] bool terminating() const noexcept { return terminating_.load(); }

private:
  /// Forgets the groups whose first process was reaped and that have no process left. Under the lock.
  void forget_empty_groups();

  std::mutex mutex_;
  std::map<pid_t, bool> groups_; // group -> its first process was reaped
  std::atomic<bool> terminating_{false};
  bool killed_ = false; // the first termination's KILL step is done
};

/// Runs one process to its end. Never throws for the job's own failures: a program that cannot
/// be started ends with exit value 127 when it does not exist, 126 when it cannot be run (a
/// directory, a file without execute permission), as the shell does, and a message on its standard
/// error. With a deadline, the job's whole group gets TERM when it passes, then KILL 200 ms later
/// (even if the first process exited on TERM, whatever it left in the group).
[[nodiscard]] process_result run_process(const spawn_request& request, running_jobs& registry);

} // namespace parmill::cli
