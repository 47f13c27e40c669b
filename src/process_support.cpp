// src/process_support.cpp: frames, the spawner process and shared progress words.
#include "parmill/detail/process_support.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cxxabi.h>
#include <fcntl.h>
#include <poll.h>
#include <set>
#include <stdexcept>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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
  std::uint64_t argument;
};
struct reply {
  std::int64_t value; // spawn: the pid (or -errno); reap: the wait status
};

bool send_reply(int control, reply r, int fd) {
  msghdr message{};
  iovec iov{&r, sizeof r};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    message.msg_control = space;
    message.msg_controllen = sizeof space;
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    if (::sendmsg(control, &message, MSG_NOSIGNAL) >= 0) return true;
    if (errno != EINTR) return false;
  }
}

[[noreturn]] void spawner_main(int control, const std::function<void(std::size_t, int)>& worker_main) {
  std::set<pid_t> workers;
  const pid_t self = ::getpid();
  for (;;) {
    request r{};
    const ssize_t n = ::recv(control, &r, sizeof r, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof r)) break; // the parent is gone or done
    if (r.what == op::reap) {
      int status = 0;
      const auto pid = static_cast<pid_t>(r.argument);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      workers.erase(pid);
      send_reply(control, reply{status}, -1);
      continue;
    }
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      send_reply(control, reply{-errno}, -1);
      continue;
    }
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(control);
      ::close(pair[0]);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != self) ::_exit(1); // the spawner died before we could ask to follow it
      worker_main(static_cast<std::size_t>(r.argument), pair[1]);
      std::fflush(nullptr);
      ::_exit(0);
    }
    ::close(pair[1]);
    if (pid < 0) {
      send_reply(control, reply{-errno}, -1);
    } else {
      workers.insert(pid);
      send_reply(control, reply{pid}, pair[0]);
    }
    ::close(pair[0]);
  }
  for (pid_t pid : workers)
    ::kill(pid, SIGKILL);
  for (pid_t pid : workers)
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  ::_exit(0);
}

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

void close_owned(int fd) { disown_and_close(fd); }

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
  std::unique_lock owned(owned_mutex());
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The spawner: single-threaded from here on. It keeps nothing of other runs, ignores the
    // terminal's signals (its parent decides), and serves spawn and reap requests.
    for (int fd : owned_fds())
      ::close(fd);
    ::close(pair[0]);
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2})
      ::signal(s, SIG_DFL);
    spawner_main(pair[1], worker_main);
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
  disown_and_close(control_);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

spawner::worker spawner::spawn(std::size_t index) {
  std::lock_guard lock(mutex_);
  const request r{op::spawn, index};
  if (::send(control_, &r, sizeof r, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof r))
    throw std::runtime_error("parmill: the spawner process is gone");
  reply answer{};
  msghdr message{};
  iovec iov{&answer, sizeof answer};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char space[CMSG_SPACE(sizeof(int))];
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
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      std::memcpy(&w.fd, CMSG_DATA(c), sizeof w.fd);
  if (w.fd < 0) throw std::runtime_error("parmill: the spawner sent no socket");
  own(w.fd);
  return w;
}

int spawner::reap(pid_t pid) {
  std::lock_guard lock(mutex_);
  const request r{op::reap, static_cast<std::uint64_t>(pid)};
  if (::send(control_, &r, sizeof r, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof r)) return 0;
  reply answer{};
  ssize_t n;
  while ((n = ::recv(control_, &answer, sizeof answer, 0)) < 0 && errno == EINTR) {
  }
  return n == static_cast<ssize_t>(sizeof answer) ? static_cast<int>(answer.value) : 0;
}

} // namespace parmill::detail
