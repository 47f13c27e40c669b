// src/process_support.cpp: frames, the spawner process and shared progress words.
#include "parmill/detail/process_support.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <dirent.h>
#include <fcntl.h>
#include <initializer_list>
#include <map>
#include <optional>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>

namespace parmill::detail {
namespace {

// --- parmill's own descriptors, closed in every spawner it forks --------------------------------
// A spawner forked for one run must not hold descriptors of another run's spawner or workers,
// or those would not see their peer go away.

std::mutex& owned_mutex() {
  static std::mutex m;
  return m;
}
std::set<int>& owned_fds() {
  static std::set<int> fds;
  return fds;
}
void own(int fd) {
  std::lock_guard lock(owned_mutex());
  owned_fds().insert(fd);
}
void disown_and_close(int fd) {
  if (fd < 0) return;
  {
    std::lock_guard lock(owned_mutex());
    owned_fds().erase(fd);
  }
  ::close(fd);
}

[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }

/// Reads exactly `size` bytes; `closed` at end of file, `timed_out`/`interrupted` as read_frame.
frame_status read_exact(int fd, void* data, std::size_t size,
                        const std::optional<std::chrono::steady_clock::time_point>& deadline, int wake_fd) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    if (deadline || wake_fd >= 0) {
      pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
      int timeout = -1;
      if (deadline) {
        const auto left =
            std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now())
                .count();
        timeout = static_cast<int>(std::max<long long>(0, left));
      }
      const int ready = ::poll(fds, wake_fd >= 0 ? 2 : 1, timeout);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) fail("poll");
      if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) return frame_status::interrupted;
      if (ready == 0) return frame_status::timed_out;
    }
    const ssize_t n = ::read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == ECONNRESET) return frame_status::closed;
    if (n < 0) fail("read");
    if (n == 0) return frame_status::closed;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return frame_status::ok;
}

// --- the spawner's protocol (a SOCK_SEQPACKET pair: one request, one reply) ----------------------

enum class op : std::uint8_t { spawn, reap };
struct request {
  op what;
  std::uint64_t argument; // spawn: the worker's index; reap: its pid
};
struct reply {
  std::int64_t value; // spawn: the pid (or -errno); reap: the wait status
};

/// Sends `r`, with the descriptors in `fds` (those that are not -1) attached.
bool send_reply(int control, reply r, std::initializer_list<int> fds = {}) {
  msghdr message{};
  iovec iov{&r, sizeof r};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  int sent[2];
  std::size_t count = 0;
  for (int fd : fds)
    if (fd >= 0 && count < 2) sent[count++] = fd;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof sent)];
  if (count > 0) {
    message.msg_control = space;
    message.msg_controllen = CMSG_SPACE(count * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(count * sizeof(int));
    std::memcpy(CMSG_DATA(c), sent, count * sizeof(int));
  }
  for (;;) {
    if (::sendmsg(control, &message, MSG_NOSIGNAL) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

/// Signals that the spawner ignores (it runs no code of the user's and takes no orders but its
/// parent's) and that its workers get back with their default action.
constexpr int ignored_by_the_spawner[] = {SIGINT,  SIGQUIT, SIGHUP,  SIGPIPE, SIGUSR1,
                                          SIGUSR2, SIGTSTP, SIGTTIN, SIGTTOU};

/// Makes `fd` 0 read from /dev/null (or, without /dev/null, from an empty pipe): standard input
/// that ends at once, so that nothing parmill forks reads, or is stopped by, the terminal.
void standard_input_from_nothing() {
  int source = ::open("/dev/null", O_RDONLY);
  if (source < 0) {
    int pipe_ends[2];
    if (::pipe(pipe_ends) != 0) return;
    ::close(pipe_ends[1]);
    source = pipe_ends[0];
  }
  if (source != 0) {
    ::dup2(source, 0);
    ::close(source);
  }
}

/// A process's state letter and parent, from /proc/PID/stat.
struct process_stat {
  char state = 0; // R, S, D, T (stopped), t (stopped by a tracer), Z (zombie), X, ...
  long parent = 0;
};

/// What /proc says of process `pid`; nothing when it is gone (errno ENOENT or ESRCH) or /proc
/// cannot be read (another errno).
std::optional<process_stat> stat_of(long pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char text[512];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  text[n] = '\0';
  const char* after_name = std::strrchr(text, ')'); // the name may hold spaces and parentheses
  process_stat stat;
  if (after_name == nullptr || std::sscanf(after_name + 1, " %c %ld", &stat.state, &stat.parent) != 2) {
    errno = EINVAL;
    return std::nullopt;
  }
  return stat;
}

/// The pids of this process's children (live or not yet reaped), from /proc. (Not from
/// /proc/self/task/*/children, which kernels without CONFIG_PROC_CHILDREN lack.)
std::vector<pid_t> children_of_this_process() {
  std::vector<pid_t> children;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return children;
  while (const dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    if (const auto stat = stat_of(pid); stat && stat->parent == self)
      children.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return children;
}

/// Kills a worker and every process in its process group (the worker leads it), stopped or not.
void kill_worker_group(pid_t worker) {
  ::kill(-worker, SIGKILL);
  ::kill(worker, SIGKILL); // in case it left its own group
}

/// The spawner's state and its work: forking workers, reaping them (and the descendants they leave,
/// which come to it as their subreaper), and cleaning up when its parent goes.
class spawner_process {
public:
  spawner_process(int control, pid_t parent, const std::function<void(std::size_t, int)>& worker_main)
      : control_(control), parent_(parent), worker_main_(worker_main) {}

  /// Sets the spawner up (signals, standard input, subreaper, death with its parent), serves
  /// requests until the parent closes the socket or dies, then kills and reaps everything.
  [[noreturn]] void run() {
    set_up();
    serve();
    clean_up();
    ::_exit(0);
  }

private:
  void set_up() {
    for (int s : ignored_by_the_spawner)
      ::signal(s, SIG_IGN);
    // SIGCHLD (a worker or an orphan ended or stopped) and SIGTERM (the parent-death signal) are
    // read from a signalfd, so that the loop can wait for them and for requests at once.
    sigset_t watched;
    sigemptyset(&watched);
    sigaddset(&watched, SIGCHLD);
    sigaddset(&watched, SIGTERM);
    ::sigprocmask(SIG_SETMASK, &watched, nullptr);
    ::signal(SIGCHLD, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    signals_ = ::signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
    standard_input_from_nothing();
    ::prctl(PR_SET_CHILD_SUBREAPER, 1); // descendants that lose their parent come here
    // The parent's death is seen three ways, whichever comes first: its end of the socket closes
    // (unless a child of the parent holds a copy of it), a pidfd of the parent becomes readable
    // (Linux 5.3), and the parent-death signal (sent when the parent's forking thread ends too, so
    // it is only a hint to look at getppid()). Without a pidfd, getppid() is also checked every
    // second, as a signal can be lost.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    parent_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, parent_, 0));
    if (::getppid() != parent_) ::_exit(0); // the parent died before we could ask to follow it
  }

  /// True when the parent has died (or given up this spawner's socket for good).
  bool parent_gone() {
    if (parent_gone_) return true;
    if (::getppid() != parent_) parent_gone_ = true;
    return parent_gone_;
  }

  void serve() {
    for (;;) {
      pollfd fds[3] = {{control_, POLLIN, 0}, {signals_, POLLIN, 0}, {parent_fd_, POLLIN, 0}};
      const int ready = ::poll(fds, 3, parent_fd_ >= 0 ? -1 : 1000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return;
      if (fds[2].revents != 0 || parent_gone()) return;
      if (fds[1].revents != 0) {
        read_signals();
        if (parent_gone_) return;
        reap_ended();
      }
      if (fds[0].revents == 0) continue;
      request r{};
      const ssize_t n = ::recv(control_, &r, sizeof r, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof r)) return; // the parent is gone or done
      if (r.what == op::reap) {
        send_reply(control_, reply{end_worker(static_cast<pid_t>(r.argument))});
      } else {
        spawn(static_cast<std::size_t>(r.argument));
      }
    }
  }

  /// Drains the signalfd; notes whether the parent has died (a SIGTERM also comes when only the
  /// thread that forked the spawner ends, or from someone else: then the parent is still there).
  void read_signals() {
    signalfd_siginfo info{};
    while (::read(signals_, &info, sizeof info) == static_cast<ssize_t>(sizeof info))
      if (info.ssi_signo == SIGTERM && ::getppid() != parent_) parent_gone_ = true;
  }

  void spawn(std::size_t index) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      send_reply(control_, reply{-errno});
      return;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pair[0]);
      become_worker(index, pair[1]);
    }
    ::close(pair[1]);
    if (pid < 0) {
      send_reply(control_, reply{-errno});
    } else {
      ::setpgid(pid, pid); // as the worker does: whichever runs first makes the group
      workers_.insert(pid);
      // Opened before this process can reap the worker, so the parent's pidfd names this worker
      // for as long as it holds it, even once the pid is reused (-1 before Linux 5.3).
      const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
      send_reply(control_, reply{pid}, {pair[0], pidfd});
      if (pidfd >= 0) ::close(pidfd);
    }
    ::close(pair[0]);
  }

  /// In a new worker: it leads a process group of its own (so that it and all it starts can be
  /// killed at once), gets the default signal actions back, dies with the spawner, and runs.
  [[noreturn]] void become_worker(std::size_t index, int socket) {
    const pid_t spawner = ::getppid();
    ::close(control_);
    ::close(signals_);
    if (parent_fd_ >= 0) ::close(parent_fd_);
    ::setpgid(0, 0);
    for (int s : ignored_by_the_spawner)
      ::signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != spawner) ::_exit(1); // the spawner died before we could ask to follow it
    worker_main_(index, socket);
    std::fflush(nullptr);
    ::_exit(0);
  }

  /// Reaps what has ended without being asked for: descendants of workers that came here as
  /// orphans, and workers that ended on their own (their group is killed first, while the
  /// worker's pid still holds the group's id, and their status is kept for the parent's request).
  void reap_ended() {
    for (;;) {
      siginfo_t info{};
      if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) return;
      const pid_t pid = info.si_pid;
      if (workers_.count(pid) != 0) {
        kill_worker_group(pid);
        ended_[pid] = wait_for(pid);
        workers_.erase(pid);
      } else {
        wait_for(pid);
      }
    }
  }

  static int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  }

  /// Ends worker `pid` now and returns its wait status: killed, unless it ended (the parent waited
  /// for that, see `spawner::await_end`), with whatever is left in its process group.
  int end_worker(pid_t pid) {
    if (const auto it = ended_.find(pid); it != ended_.end()) {
      const int status = it->second;
      ended_.erase(it);
      return status;
    }
    if (workers_.count(pid) == 0) return 0;
    kill_worker_group(pid); // the worker and what it left in its group (a zombie holds the id)
    workers_.erase(pid);
    return wait_for(pid);
  }

  /// At the end: kills every worker's group, then every process that came here as an orphan (they
  /// may have left their worker's group), until none is left. Bounded: what will not die (a
  /// process in uninterruptible sleep) is left after two seconds (the parent waits five).
  void clean_up() {
    for (pid_t pid : workers_)
      kill_worker_group(pid);
    for (pid_t pid : workers_)
      wait_for(pid);
    workers_.clear();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (std::chrono::steady_clock::now() < give_up) {
      while (::waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      if (::waitpid(-1, nullptr, WNOHANG) < 0 && errno == ECHILD) return; // no child is left
      for (pid_t child : children_of_this_process())
        ::kill(child, SIGKILL);
      pollfd ready{signals_, POLLIN, 0};
      ::poll(&ready, 1, 10); // an orphan that has just arrived is killed on the next round
      signalfd_siginfo info{};
      while (::read(signals_, &info, sizeof info) > 0) {
      }
    }
  }

  int control_;
  pid_t parent_;
  const std::function<void(std::size_t, int)>& worker_main_;
  int signals_ = -1;
  int parent_fd_ = -1; // a pidfd of the parent, readable once it has died (-1 without pidfds)
  bool parent_gone_ = false;
  std::set<pid_t> workers_;    // forked and not reaped
  std::map<pid_t, int> ended_; // workers reaped before the parent asked: their wait statuses
};

} // namespace

void write_frame(int fd, writer& payload) {
  std::uint64_t size = payload.size();
  std::vector<iovec> pieces;
  pieces.push_back(iovec{&size, sizeof size});
  for (const iovec& v : payload.pieces())
    pieces.push_back(v);
  std::size_t first = 0;
  while (first < pieces.size()) {
    msghdr message{};
    message.msg_iov = pieces.data() + first;
    message.msg_iovlen = std::min<std::size_t>(pieces.size() - first, IOV_MAX);
    ssize_t n = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("parmill: writing to a worker process");
    while (n > 0 && first < pieces.size()) {
      auto& v = pieces[first];
      const auto used = std::min<std::size_t>(static_cast<std::size_t>(n), v.iov_len);
      v.iov_base = static_cast<char*>(v.iov_base) + used;
      v.iov_len -= used;
      n -= static_cast<ssize_t>(used);
      if (v.iov_len == 0) ++first;
    }
  }
}

frame_status read_frame(int fd, std::vector<std::byte>& out,
                        std::optional<std::chrono::steady_clock::time_point> deadline, int wake_fd) {
  std::uint64_t size = 0;
  if (const auto s = read_exact(fd, &size, sizeof size, deadline, wake_fd); s != frame_status::ok) return s;
  out.resize(static_cast<std::size_t>(size));
  return read_exact(fd, out.data(), out.size(), deadline, wake_fd);
}

void close_owned(int fd) {
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR); // the peer sees the end even if a fork of ours holds a copy
  disown_and_close(fd);
}

frame_status read_frame_size(int fd, std::uint64_t& size,
                             std::optional<std::chrono::steady_clock::time_point> deadline, int wake_fd) {
  return read_exact(fd, &size, sizeof size, deadline, wake_fd);
}

void read_frame_body(void* context, void* out, std::size_t size) {
  if (read_exact(*static_cast<int*>(context), out, size, std::nullopt, -1) != frame_status::ok)
    throw codec_error("parmill: a worker process ended in the middle of a message");
}

std::string current_exception_type() {
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (type == nullptr) return "unknown";
  int status = 0;
  char* name = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string result = status == 0 && name != nullptr ? name : type->name();
  std::free(name);
  return result;
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = ::strsignal(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + (name ? name : "?") + ")";
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended (wait status " + std::to_string(status) + ")";
}

shared_progress::shared_progress(std::size_t workers) : bytes_(std::max<std::size_t>(1, workers) * 64) {
  memory_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory_ == MAP_FAILED) fail("parmill: mmap of the shared progress words");
  for (std::size_t w = 0; w < bytes_ / 64; ++w)
    new (static_cast<char*>(memory_) + 64 * w) std::atomic<std::uint64_t>(0);
}

shared_progress::~shared_progress() {
  if (memory_ != MAP_FAILED && memory_ != nullptr) ::munmap(memory_, bytes_);
}

std::atomic<std::uint64_t>& shared_progress::operator[](std::size_t w) const noexcept {
  return *reinterpret_cast<std::atomic<std::uint64_t>*>(static_cast<char*>(memory_) + 64 * w);
}

spawner::spawner(std::function<void(std::size_t, int)> worker_main) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) fail("parmill: socketpair");
  std::fflush(nullptr); // nothing buffered may be written twice
  const pid_t parent = ::getpid();
  // The set of owned descriptors is locked across the fork so that the child gets it whole; the
  // child (a copy of this thread, so the lock's owner) unlocks its copy, as pthread_atfork's
  // child handlers do, so that a worker can run a nested map.
  std::unique_lock owned(owned_mutex());
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The spawner: single-threaded from here on, in a process group of its own (so that neither
    // the terminal's signals nor a signal to the program's group reach it: its parent decides).
    // It keeps nothing of other runs, and forgets them: its workers start with no owned descriptors.
    for (int fd : owned_fds())
      ::close(fd);
    owned_fds().clear();
    owned.unlock();
    ::close(pair[0]);
    ::setpgid(0, 0);
    spawner_process(pair[1], parent, worker_main).run();
  }
  owned.unlock();
  ::close(pair[1]);
  if (pid < 0) {
    ::close(pair[0]);
    fail("parmill: fork of the spawner process");
  }
  pid_ = pid;
  control_ = pair[0];
  own(control_);
}

spawner::~spawner() {
  close_owned(control_); // the spawner cleans up and exits when its socket closes
  if (pid_ < 0) return;
  ::kill(pid_, SIGCONT); // if someone stopped it, it must run to clean up
  if (wait_for_spawner(std::chrono::seconds(5))) return;
  // It is stuck: kill it, and what it would have killed.
  ::kill(pid_, SIGKILL);
  for (pid_t w : live_)
    kill_worker_group(w);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

bool spawner::wait_for_spawner(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  bool ended = false;
  for (;;) {
    int status = 0;
    const pid_t seen = ::waitpid(pid_, &status, WNOHANG | WUNTRACED);
    if (seen < 0 && errno == EINTR) continue;
    if (seen < 0 || (seen == pid_ && !WIFSTOPPED(status))) { // reaped (or reaped for us: SIGCHLD ignored)
      ended = true;
      break;
    }
    if (seen == pid_) ::kill(pid_, SIGCONT); // stopped again: it must run to clean up
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    // Woken when it ends (a pidfd, Linux 5.3), and every 100 ms (10 ms without a pidfd) to see
    // whether it was stopped.
    pollfd ready{pidfd, POLLIN, 0};
    ::poll(pidfd >= 0 ? &ready : nullptr, pidfd >= 0 ? 1 : 0,
           static_cast<int>(std::min<long long>(pidfd >= 0 ? 100 : 10, left.count())));
  }
  if (pidfd >= 0) ::close(pidfd);
  return ended;
}

void spawner::await_reply() {
  // The reply comes at once (a reap kills); if the spawner is stopped meanwhile, it is continued
  // (a stop must not hang the run).
  for (;;) {
    pollfd ready{control_, POLLIN, 0};
    const int n = ::poll(&ready, 1, 100);
    if (n > 0 || (n < 0 && errno != EINTR)) return;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WSTOPPED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid_ && info.si_code == CLD_STOPPED)
      ::kill(pid_, SIGCONT);
  }
}

spawner::worker spawner::spawn(std::size_t index) {
  std::lock_guard lock(mutex_);
  const request r{op::spawn, index};
  if (::send(control_, &r, sizeof r, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof r))
    throw std::runtime_error("parmill: the spawner process is gone");
  await_reply();
  reply answer{};
  msghdr message{};
  iovec iov{&answer, sizeof answer};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char space[CMSG_SPACE(2 * sizeof(int))];
  message.msg_control = space;
  message.msg_controllen = sizeof space;
  ssize_t n;
  while ((n = ::recvmsg(control_, &message, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof answer))
    throw std::runtime_error("parmill: the spawner process is gone");
  if (answer.value < 0)
    throw std::system_error(static_cast<int>(-answer.value), std::generic_category(),
                            "parmill: fork of a worker");
  worker w;
  w.pid = static_cast<pid_t>(answer.value);
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      if (count >= 1) std::memcpy(&w.fd, CMSG_DATA(c), sizeof w.fd);
      if (count >= 2) std::memcpy(&w.pidfd, CMSG_DATA(c) + sizeof(int), sizeof w.pidfd);
    }
  if (w.fd < 0) throw std::runtime_error("parmill: the spawner sent no socket");
  own(w.fd);
  if (w.pidfd >= 0) own(w.pidfd);
  live_.insert(w.pid);
  return w;
}

spawner::ending spawner::await_end(const worker& w,
                                   std::optional<std::chrono::steady_clock::time_point> deadline,
                                   int wake_fd) {
  for (;;) {
    // Its pidfd is readable once it has exited: checked before /proc, whose pid, once the worker
    // is reaped, may name another process.
    pollfd ended{w.pidfd, POLLIN, 0};
    if (w.pidfd >= 0 && ::poll(&ended, 1, 0) > 0) return ending::ended;
    // /proc tells a stop, and, without a pidfd, the end. A /proc that cannot be read (not mounted,
    // out of descriptors) tells nothing: the wait goes on, on the pidfd or every 10 ms.
    const auto stat = stat_of(w.pid);
    const bool gone = !stat && (errno == ENOENT || errno == ESRCH);
    if (w.pidfd < 0 && (gone || (stat && (stat->state == 'Z' || stat->state == 'X')))) return ending::ended;
    // Only a stop by a signal ('T'): a tracer's stops ('t', at every system call under strace -f)
    // end by themselves.
    if (stat && stat->state == 'T') return ending::stopped;
    // Woken when it ends, when `wake_fd` is written, and every 100 ms (10 ms without a pidfd) to
    // see whether it stopped.
    int wait_ms = w.pidfd >= 0 ? 100 : 10;
    if (deadline) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0) return ending::out_of_time;
      wait_ms = static_cast<int>(std::min<long long>(wait_ms, left));
    }
    pollfd ready[2] = {{w.pidfd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
    if (::poll(ready, 2, wait_ms) > 0 && (ready[1].revents & POLLIN) != 0) return ending::woken;
  }
}

int spawner::reap(pid_t pid) {
  std::lock_guard lock(mutex_);
  live_.erase(pid);
  const request r{op::reap, static_cast<std::uint64_t>(pid)};
  if (::send(control_, &r, sizeof r, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof r)) return 0;
  await_reply();
  reply answer{};
  ssize_t n;
  while ((n = ::recv(control_, &answer, sizeof answer, 0)) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(sizeof answer) ? static_cast<int>(answer.value) : 0;
}

} // namespace parmill::detail
