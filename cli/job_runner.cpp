// cli/job_runner.cpp: posix_spawn in a new process group, then one poll loop over the job's pipes
// and a pidfd, with the deadline as poll's timeout. A job is its process group: TERM and KILL go
// to the group, never to its first process alone.
#include "job_runner.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace parmill::cli {
namespace {

constexpr std::size_t read_bytes = 64 * 1024;
constexpr auto kill_grace = std::chrono::milliseconds(200);

struct fd_closer {
  int fd = -1;
  ~fd_closer() { reset(); }
  void reset(int next = -1) {
    if (fd >= 0) ::close(fd);
    fd = next;
  }
};

/// How often a group that must become empty is looked at: nothing says when a group empties.
constexpr auto group_poll_pause = std::chrono::milliseconds(5);

bool group_has_processes(pid_t group) noexcept { return ::kill(-group, 0) == 0 || errno == EPERM; }

/// Ends what is left of a process group whose first process has been reaped: waits until `until`
/// for it to become empty, then sends KILL to whatever remains.
void kill_group_at(pid_t group, std::chrono::steady_clock::time_point until) {
  while (group_has_processes(group)) {
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(-group, SIGKILL);
      return;
    }
    std::this_thread::sleep_for(group_poll_pause);
  }
}

/// Why a program could not be started, as the shell says it.
std::string why_not_started(const std::string& program, int error) {
  const bool has_slash = program.find('/') != std::string::npos;
  if (error == ENOENT && !has_slash) return "command not found";
  struct stat info {};
  if (error == EACCES && has_slash && ::stat(program.c_str(), &info) == 0 && S_ISDIR(info.st_mode))
    return "Is a directory";
  return std::strerror(error);
}

int open_pidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

/// The environment for a job: parmill's own, with the job's variables replacing any of that name.
std::vector<char*> job_environment(const std::vector<std::string>& extra) {
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    bool replaced = false;
    for (const std::string& x : extra) {
      const auto equals = x.find('=');
      if (std::strncmp(*e, x.c_str(), equals + 1) == 0) replaced = true;
    }
    if (!replaced) env.push_back(*e);
  }
  for (const std::string& x : extra)
    env.push_back(const_cast<char*>(x.c_str()));
  env.push_back(nullptr);
  return env;
}

/// Hands complete lines to the sink; keeps the rest for later.
void emit_lines(std::string& pending, const spawn_request& r, bool is_error, bool flush) {
  std::size_t start = 0;
  for (;;) {
    const auto newline = pending.find('\n', start);
    if (newline == std::string::npos) break;
    r.line_sink(pending.substr(start, newline + 1 - start), is_error);
    start = newline + 1;
  }
  pending.erase(0, start);
  if (flush && !pending.empty()) {
    r.line_sink(pending, is_error);
    pending.clear();
  }
}

} // namespace

void running_jobs::add(pid_t group) {
  std::lock_guard lock(mutex_);
  groups_[group] = false;
  // A job that starts once termination has begun may have missed the TERM-then-KILL sequence
  // (it can even be over): it is killed outright.
  if (terminating_) ::kill(-group, SIGKILL);
}

void running_jobs::remove(pid_t group) {
  std::lock_guard lock(mutex_);
  const auto found = groups_.find(group);
  if (found == groups_.end()) return;
  if (terminating_ && !killed_)
    found->second = true; // the KILL step is still to come, for whatever the job left in its group
  else
    groups_.erase(found);
}

void running_jobs::forget_empty_groups() {
  std::erase_if(groups_, [](const auto& entry) { return entry.second && !group_has_processes(entry.first); });
}

void running_jobs::terminate_all(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    terminating_ = true;
    for (const auto& [group, reaped] : groups_)
      ::kill(-group, SIGTERM);
  }
  const auto until = std::chrono::steady_clock::now() + grace;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      forget_empty_groups();
      if (groups_.empty()) break;
    }
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(group_poll_pause);
  }
  std::lock_guard lock(mutex_);
  for (const auto& [group, reaped] : groups_)
    ::kill(-group, SIGKILL);
  std::erase_if(groups_, [](const auto& entry) { return entry.second; });
  killed_ = true;
}

process_result run_process(const spawn_request& request, running_jobs& registry) {
  process_result result;
  result.started = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();

  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, in_pipe[2] = {-1, -1};
  const bool capture = request.mode != output_mode::ungroup;
  const auto make_pipe = [](int p[2]) {
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  };
  if (capture) {
    make_pipe(out_pipe);
    make_pipe(err_pipe);
  }
  if (request.stdin_data != nullptr) make_pipe(in_pipe);
  fd_closer out_read{out_pipe[0]}, out_write{out_pipe[1]}, err_read{err_pipe[0]}, err_write{err_pipe[1]};
  fd_closer in_read{in_pipe[0]}, in_write{in_pipe[1]};

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (request.stdin_data != nullptr)
    posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (capture) {
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2})
    sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

  std::vector<char*> argv;
  for (const std::string& a : request.argv)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> env = job_environment(request.extra_env);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, argv[0], &actions, &attributes, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  out_write.reset();
  err_write.reset();
  in_read.reset();
  if (spawned != 0) {
    result.exit_value = spawned == ENOENT ? 127 : 126; // not found, or found but not runnable
    std::string message =
        "parmill: " + request.argv[0] + ": " + why_not_started(request.argv[0], spawned) + "\n";
    if (request.mode == output_mode::ungroup) {
      [[maybe_unused]] auto ignored = ::write(2, message.data(), message.size());
    } else if (request.mode == output_mode::line_buffer) {
      request.line_sink(message, true);
    } else {
      result.err = std::move(message);
    }
    result.runtime = std::chrono::steady_clock::now() - start;
    return result;
  }
  registry.add(pid);
  fd_closer pidfd{open_pidfd(pid)};

  for (int fd : {out_read.fd, err_read.fd, in_write.fd})
    if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  std::string pending_out, pending_err;     // line_buffer: a line not yet complete
  std::size_t written = 0, sent_before = 0; // of the piece being written; of the pieces before it
  const std::string* piece = request.stdin_data;
  std::string more; // --round-robin: the pieces after stdin_data
  bool exited = false;
  bool has_deadline = request.deadline.has_value();
  auto deadline = request.deadline.value_or(std::chrono::steady_clock::time_point{});
  bool sent_kill = false;
  char buffer[read_bytes];
  const auto drain = [&](fd_closer& fd, std::string& into, std::string& pending, bool is_error) {
    for (;;) {
      const ssize_t n = ::read(fd.fd, buffer, sizeof buffer);
      if (n > 0) {
        if (!is_error) result.received += static_cast<std::size_t>(n);
        if (request.mode == output_mode::line_buffer) {
          pending.append(buffer, static_cast<std::size_t>(n));
          emit_lines(pending, request, is_error, false);
        } else {
          into.append(buffer, static_cast<std::size_t>(n));
        }
        continue;
      }
      if (n == 0)
        fd.reset(); // end of file
      else if (errno == EINTR)
        continue;
      else if (errno != EAGAIN)
        fd.reset();
      return;
    }
  };

  while (!exited) {
    pollfd fds[4];
    int n = 0;
    const auto add = [&](int fd, short events) {
      if (fd >= 0) fds[n++] = pollfd{fd, events, 0};
    };
    add(pidfd.fd, POLLIN);
    add(out_read.fd, POLLIN);
    add(err_read.fd, POLLIN);
    add(in_write.fd, POLLOUT);
    int timeout_ms = pidfd.fd >= 0 ? -1 : 10; // without pidfds, look at the child every 10 ms
    if (has_deadline) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
      if (pidfd.fd < 0) timeout_ms = std::min(timeout_ms, 10);
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    if (has_deadline && std::chrono::steady_clock::now() >= deadline) {
      if (!sent_kill) {
        ::kill(-pid, result.timed_out ? SIGKILL : SIGTERM);
        if (result.timed_out) sent_kill = true;
        result.timed_out = true;
        deadline = std::chrono::steady_clock::now() + kill_grace;
      } else {
        has_deadline = false;
      }
    }
    if (out_read.fd >= 0) drain(out_read, result.out, pending_out, false);
    if (err_read.fd >= 0) drain(err_read, result.err, pending_err, true);
    if (in_write.fd >= 0) {
      for (;;) {
        const std::string& data = *piece;
        while (written < data.size()) {
          const ssize_t w = ::write(in_write.fd, data.data() + written, data.size() - written);
          if (w > 0)
            written += static_cast<std::size_t>(w);
          else
            break;
        }
        if (written == data.size() && request.stdin_more) {
          sent_before += written;
          written = 0;
          more.clear();
          piece = &more;
          if (request.stdin_more(more)) continue;
          in_write.reset();
        } else if (written == data.size() || (errno != EAGAIN && errno != EINTR)) {
          in_write.reset();
        }
        break;
      }
    }
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 && info.si_pid == pid) {
      exited = true;
      if (info.si_code == CLD_EXITED)
        result.exit_value = info.si_status;
      else
        result.signal = info.si_status;
    }
  }
  // The first process exited on TERM: what it left in its group gets KILL when the grace ends.
  if (result.timed_out && !sent_kill) kill_group_at(pid, deadline);
  registry.remove(pid);
  in_write.reset();
  // Output written before the job ended is in the pipes; a background process it left behind
  // may hold them open, so read what is there and stop.
  if (out_read.fd >= 0) drain(out_read, result.out, pending_out, false);
  if (err_read.fd >= 0) drain(err_read, result.err, pending_err, true);
  if (request.mode == output_mode::line_buffer) {
    emit_lines(pending_out, request, false, true);
    emit_lines(pending_err, request, true, true);
  }
  result.sent = sent_before + written;
  result.killed = result.timed_out || (registry.terminating() && result.signal != 0);
  if (result.killed) result.exit_value = -1;
  result.runtime = std::chrono::steady_clock::now() - start;
  return result;
}

} // namespace parmill::cli
