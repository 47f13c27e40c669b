// tests/cli/run_helpers.hpp: running the built parmill (alone or under mpirun) from a test, and
// what such tests share: scratch directories, splitting output into lines, reading a job log.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "job_runner.hpp"

extern char** environ;

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

/// The Exitval column of each line of a job log (after the header), by sequence number.
inline std::vector<std::string> exit_values(const std::string& log) {
  std::ifstream in(log);
  std::vector<std::string> values;
  std::string line;
  std::getline(in, line); // the header
  while (std::getline(in, line)) {
    std::vector<std::string> columns;
    for (std::size_t start = 0;;) {
      const auto tab = line.find('\t', start);
      columns.push_back(line.substr(start, tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    const std::size_t seq = std::stoul(columns.at(0));
    if (values.size() < seq) values.resize(seq);
    values[seq - 1] = columns.at(6);
  }
  return values;
}

} // namespace parmill_test

// --- parmill in the background: starting it, waiting for it, and what its jobs left behind ----

namespace parmill_test {

/// Where a background program's standard streams go: a file descriptor, or -1 for /dev/null.
struct streams {
  int in = -1, out = -1, err = -1;
};

/// Starts `argv` in the background (its own process, parmill's process group) and returns its id.
inline pid_t start_program(const std::vector<std::string>& argv, streams io = {}) {
  std::vector<char*> args;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const int fds[3] = {io.in, io.out, io.err};
  for (int target = 0; target < 3; ++target)
    if (fds[target] >= 0)
      posix_spawn_file_actions_adddup2(&actions, fds[target], target);
    else
      posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0);
  pid_t pid = -1;
  const int failed = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return failed == 0 ? pid : -1;
}

/// Waits for `pid` until `deadline`; its exit status (128 + signal if a signal ended it), or
/// nothing if it was still running then (it is left running).
inline std::optional<int> wait_until(pid_t pid, std::chrono::steady_clock::time_point deadline) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  for (;;) {
    int status = 0;
    const pid_t got = ::waitpid(pid, &status, WNOHANG);
    if (got == pid) {
      if (pidfd >= 0) ::close(pidfd);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (got < 0 && errno != EINTR) break;
    if (left.count() <= 0) break;
    pollfd ready{pidfd, POLLIN, 0};
    if (pidfd < 0 || ::poll(&ready, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 10))) < 0)
      ::poll(nullptr, 0, 10); // without a pidfd, look every 10 ms
  }
  if (pidfd >= 0) ::close(pidfd);
  return std::nullopt;
}

/// A background program that a failed assertion may leave running: killed and reaped at the end.
struct background {
  pid_t pid = -1;
  bool reaped = false;
  /// Its exit status, if it ends before `limit` runs out.
  std::optional<int> wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto status = wait_until(pid, std::chrono::steady_clock::now() + limit);
    reaped = status.has_value();
    return status;
  }
  ~background() {
    if (pid > 0 && !reaped) {
      ::kill(pid, SIGKILL);
      (void)wait_until(pid, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    }
  }
};

/// Reads `count` lines from `fd` until `deadline`; fewer if it ends or the time runs out.
inline std::vector<std::string> read_lines(int fd, std::size_t count,
                                           std::chrono::steady_clock::time_point deadline) {
  std::vector<std::string> got;
  std::string pending;
  char buffer[256];
  while (got.size() < count) {
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd ready{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count())) <= 0) break;
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (auto newline = pending.find('\n'); newline != std::string::npos; newline = pending.find('\n')) {
      got.push_back(pending.substr(0, newline));
      pending.erase(0, newline + 1);
    }
  }
  return got;
}

/// True while `pid` exists and is not a zombie (a zombie has ended; only its parent's reaping is left).
inline bool process_running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto name_end = text.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= text.size()) return false;
  const char state = text[name_end + 2];
  return state != 'Z' && state != 'X';
}

/// The processes of `pids` still running at `deadline` (or as soon as none is).
inline std::vector<pid_t> still_running(const std::vector<pid_t>& pids,
                                        std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    std::vector<pid_t> running;
    for (pid_t p : pids)
      if (process_running(p)) running.push_back(p);
    if (running.empty() || std::chrono::steady_clock::now() >= deadline) return running;
    ::poll(nullptr, 0, 10); // a killed process takes a moment to become a zombie; look again
  }
}

/// True once every thread of `pid` is asleep (waiting on something: input, a child, a signal), or
/// false after `limit`.
inline bool all_threads_asleep(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    bool asleep = true, any = false;
    std::error_code error;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
      std::ifstream stat(task.path() / "stat");
      std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
      const auto name_end = text.rfind(')');
      any = true;
      asleep =
          asleep && name_end != std::string::npos && name_end + 2 < text.size() && text[name_end + 2] == 'S';
    }
    if (any && asleep) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 2); // nothing to wait on but the threads' states
  }
}

/// True once `pid`'s main thread blocks `signal` (parmill's signal thread is in place), or false
/// after `limit`.
inline bool blocks_signal(pid_t pid, int signal, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigBlk:", 0) == 0 &&
          (std::stoull(line.substr(7), nullptr, 16) >> (signal - 1) & 1) != 0)
        return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 2); // nothing to wait on but the mask itself
  }
}

} // namespace parmill_test
