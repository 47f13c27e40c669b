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

/// A file descriptor, closed when this is destroyed or reset; -1 for none.
struct fd_closer {
  int fd = -1;
  fd_closer() = default;
  explicit fd_closer(int owned) : fd(owned) {}
  ~fd_closer() { reset(); }
  fd_closer(const fd_closer&) = delete;
  fd_closer& operator=(const fd_closer&) = delete;
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

namespace {

/// A job's pipes: its standard output and error unless it writes where parmill writes (-u), and
/// its standard input when it is fed data. The child's ends are closed once it has started.
struct job_pipes {
  fd_closer out_read, out_write, err_read, err_write, in_read, in_write;

  job_pipes(bool capture, bool feed_stdin) {
    if (capture) {
      open(out_read, out_write);
      open(err_read, err_write);
    }
    if (feed_stdin) open(in_read, in_write);
  }
  /// Closes the ends the child has (its copies stay open in it).
  void close_child_ends() {
    out_write.reset();
    err_write.reset();
    in_read.reset();
  }

private:
  static void open(fd_closer& read_end, fd_closer& write_end) {
    int fds[2] = {-1, -1};
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
};

/// What posix_spawnp did: the job's first process, or why it could not start.
struct spawn_outcome {
  pid_t pid = -1;
  int error = 0; ///< 0 when started
};

/// Starts the job's first process in a new process group of its own, with /dev/null or the stdin
/// pipe as standard input, the pipes as standard output and error when captured, the default
/// dispositions and an empty mask for the signals parmill handles, and the job's environment.
spawn_outcome spawn_job(const spawn_request& request, const job_pipes& pipes, bool capture) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (request.stdin_data != nullptr)
    posix_spawn_file_actions_adddup2(&actions, pipes.in_read.fd, 0);
  else
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  if (capture) {
    posix_spawn_file_actions_adddup2(&actions, pipes.out_write.fd, 1);
    posix_spawn_file_actions_adddup2(&actions, pipes.err_write.fd, 2);
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
  spawn_outcome spawned;
  spawned.error = ::posix_spawnp(&spawned.pid, argv[0], &actions, &attributes, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  return spawned;
}

/// A job that could not start: exit value 127 (not found) or 126 (not runnable), as the shell
/// gives, and the shell's message where the job's standard error would have gone.
void report_not_started(const spawn_request& request, int error, process_result& result) {
  result.exit_value = error == ENOENT ? 127 : 126;
  std::string message = "parmill: " + request.argv[0] + ": " + why_not_started(request.argv[0], error) + "\n";
  if (request.mode == output_mode::ungroup) {
    [[maybe_unused]] auto ignored = ::write(2, message.data(), message.size());
  } else if (request.mode == output_mode::line_buffer) {
    request.line_sink(message, true);
  } else {
    result.err = std::move(message);
  }
}

/// A started job until its first process ends: one poll loop over its pipes and a pidfd, with the
/// deadline as poll's timeout. Reads its output into `result` (or hands lines to the sink), feeds
/// its standard input, and sends TERM, then KILL, to its group when the deadline passes.
class job_session {
public:
  job_session(const spawn_request& request, job_pipes& pipes, pid_t pid, process_result& result)
      : request_(request), pipes_(pipes), pid_(pid), result_(result), pidfd_(open_pidfd(pid)),
        piece_(request.stdin_data), has_deadline_(request.deadline.has_value()),
        deadline_(request.deadline.value_or(std::chrono::steady_clock::time_point{})) {
    for (int fd : {pipes.out_read.fd, pipes.err_read.fd, pipes.in_write.fd})
      if (fd >= 0) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  /// Runs the loop until the first process has been reaped (or poll fails).
  void wait_for_exit() {
    for (bool exited = false; !exited;) {
      if (!wait_for_events()) break;
      enforce_deadline();
      drain_output();
      if (pipes_.in_write.fd >= 0) feed_stdin();
      exited = reaped();
    }
  }

  /// After the first process has ended: KILL for what a timed-out job left in its group once the
  /// grace ends, the group forgotten, and the output that is already in the pipes read (a
  /// background process the job left may hold them open, so nothing more is waited for).
  void finish(running_jobs& registry) {
    if (result_.timed_out && !sent_kill_) kill_group_at(pid_, deadline_);
    registry.remove(pid_);
    pipes_.in_write.reset();
    drain_output();
    if (request_.mode == output_mode::line_buffer) {
      emit_lines(pending_out_, request_, false, true);
      emit_lines(pending_err_, request_, true, true);
    }
    result_.sent = sent_before_ + written_;
  }

private:
  /// Waits until a descriptor is ready or the deadline (or, without pidfds, 10 ms) passes; false
  /// when poll fails for another reason than a signal.
  bool wait_for_events() {
    pollfd fds[4];
    int n = 0;
    const auto add = [&](int fd, short events) {
      if (fd >= 0) fds[n++] = pollfd{fd, events, 0};
    };
    add(pidfd_.fd, POLLIN);
    add(pipes_.out_read.fd, POLLIN);
    add(pipes_.err_read.fd, POLLIN);
    add(pipes_.in_write.fd, POLLOUT);
    int timeout_ms = pidfd_.fd >= 0 ? -1 : 10; // without pidfds, look at the child every 10 ms
    if (has_deadline_) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
      if (pidfd_.fd < 0) timeout_ms = std::min(timeout_ms, 10);
    }
    const int ready = ::poll(fds, static_cast<nfds_t>(n), timeout_ms);
    return ready >= 0 || errno == EINTR;
  }

  /// At the deadline: TERM to the group, and a grace period; at its end, KILL.
  void enforce_deadline() {
    if (!has_deadline_ || std::chrono::steady_clock::now() < deadline_) return;
    if (sent_kill_) {
      has_deadline_ = false;
      return;
    }
    ::kill(-pid_, result_.timed_out ? SIGKILL : SIGTERM);
    if (result_.timed_out) sent_kill_ = true;
    result_.timed_out = true;
    deadline_ = std::chrono::steady_clock::now() + kill_grace;
  }

  void drain_output() {
    if (pipes_.out_read.fd >= 0) drain(pipes_.out_read, result_.out, pending_out_, false);
    if (pipes_.err_read.fd >= 0) drain(pipes_.err_read, result_.err, pending_err_, true);
  }

  /// Reads what `fd` holds now, into `into` (or, line-buffered, complete lines to the sink).
  void drain(fd_closer& fd, std::string& into, std::string& pending, bool is_error) {
    for (;;) {
      const ssize_t n = ::read(fd.fd, buffer_, sizeof buffer_);
      if (n > 0) {
        if (!is_error) result_.received += static_cast<std::size_t>(n);
        if (request_.mode == output_mode::line_buffer) {
          pending.append(buffer_, static_cast<std::size_t>(n));
          emit_lines(pending, request_, is_error, false);
        } else {
          into.append(buffer_, static_cast<std::size_t>(n));
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
  }

  /// Writes what standard input can take now; takes the next piece from `stdin_more` when one is
  /// all written, and ends standard input when there is no more (or the job stopped reading).
  void feed_stdin() {
    for (;;) {
      const std::string& data = *piece_;
      while (written_ < data.size()) {
        const ssize_t w = ::write(pipes_.in_write.fd, data.data() + written_, data.size() - written_);
        if (w > 0)
          written_ += static_cast<std::size_t>(w);
        else
          break;
      }
      if (written_ == data.size() && request_.stdin_more) {
        sent_before_ += written_;
        written_ = 0;
        more_.clear();
        piece_ = &more_;
        if (request_.stdin_more(more_)) continue;
        pipes_.in_write.reset();
      } else if (written_ == data.size() || (errno != EAGAIN && errno != EINTR)) {
        pipes_.in_write.reset();
      }
      return;
    }
  }

  /// True once the first process has ended; its exit value or signal is then in the result.
  bool reaped() {
    siginfo_t info{};
    info.si_pid = 0;
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG) != 0 || info.si_pid != pid_)
      return false;
    if (info.si_code == CLD_EXITED)
      result_.exit_value = info.si_status;
    else
      result_.signal = info.si_status;
    return true;
  }

  const spawn_request& request_;
  job_pipes& pipes_;
  const pid_t pid_;
  process_result& result_;
  fd_closer pidfd_;
  std::string pending_out_, pending_err_;     // line_buffer: a line not yet complete
  std::size_t written_ = 0, sent_before_ = 0; // of the piece being written; of the pieces before it
  const std::string* piece_;                  // what standard input is being given
  std::string more_;                          // the pieces after stdin_data (--round-robin, --pipepart)
  bool has_deadline_;
  std::chrono::steady_clock::time_point deadline_;
  bool sent_kill_ = false;
  char buffer_[read_bytes];
};

} // namespace

process_result run_process(const spawn_request& request, running_jobs& registry) {
  process_result result;
  result.started = std::chrono::system_clock::now();
  const auto start = std::chrono::steady_clock::now();
  const bool capture = request.mode != output_mode::ungroup;
  job_pipes pipes(capture, request.stdin_data != nullptr);
  const spawn_outcome spawned = spawn_job(request, pipes, capture);
  pipes.close_child_ends();
  if (spawned.error != 0) {
    report_not_started(request, spawned.error, result);
    result.runtime = std::chrono::steady_clock::now() - start;
    return result;
  }
  registry.add(spawned.pid);
  job_session session(request, pipes, spawned.pid, result);
  session.wait_for_exit();
  session.finish(registry);
  result.killed = result.timed_out || (registry.terminating() && result.signal != 0);
  if (result.killed) result.exit_value = -1;
  result.runtime = std::chrono::steady_clock::now() - start;
  return result;
}

} // namespace parmill::cli
