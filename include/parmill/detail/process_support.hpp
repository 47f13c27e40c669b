// parmill/detail/process_support.hpp: the non-template parts of the processes backend: framed
// messages over a socket, the spawner process that forks workers, and shared progress words.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "parmill/codec.hpp"
#include "parmill/export.hpp"

namespace parmill::detail {

/// Writes `payload` as one frame (an 8-byte length, then the bytes) with writev. Throws
/// std::system_error when the peer is gone.
PARMILL_API void write_frame(int fd, writer& payload);

/// How reading a frame ended.
enum class frame_status { ok, closed, timed_out, interrupted };

/// Reads one frame into `out`. Waits at most until `deadline` (if given) and returns
/// `interrupted` as soon as `wake_fd` (if not -1) becomes readable.
PARMILL_API frame_status
read_frame(int fd, std::vector<std::byte>& out,
           std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt, int wake_fd = -1);

/// Reads a frame's 8-byte length only (its bytes are then read with `read_frame_body`), waiting
/// as `read_frame` does.
PARMILL_API frame_status read_frame_size(
    int fd, std::uint64_t& size, std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt,
    int wake_fd = -1);

/// A `reader::fill_function` over a socket: `context` points to the descriptor. Reads exactly
/// `size` bytes; throws `codec_error` if the peer is gone first.
PARMILL_API void read_frame_body(void* context, void* out, std::size_t size);

/// Shuts down and closes a socket parmill owns (a worker's or a spawner's), so that its peer sees
/// the end even if another process (a fork of the program) holds a copy, and later spawners stop
/// closing the number. Closes any other descriptor parmill owns (a worker's pidfd) as well.
PARMILL_API void close_owned(int fd);

/// The demangled name of the type of the exception being handled (call inside a catch block).
PARMILL_API std::string current_exception_type();

/// "killed by signal 11 (Segmentation fault)" or "exited with status 3", from a wait status.
PARMILL_API std::string describe_wait_status(int status);

/// Words in memory shared with the workers (mapped before the spawner is forked): worker w writes
/// the index + 1 of the item it is running, 0 between items, so that the parent can tell which
/// item a crash or a timeout hit.
class PARMILL_API shared_progress {
public:
  explicit shared_progress(std::size_t workers);
  ~shared_progress();
  shared_progress(const shared_progress&) = delete;
  shared_progress& operator=(const shared_progress&) = delete;
  /// Worker w's word.
  std::atomic<std::uint64_t>& operator[](std::size_t w) const noexcept;

private:
  void* memory_ = nullptr;
  std::size_t bytes_ = 0;
};

/// A single-threaded process, forked when a run starts, that forks every worker (and every
/// replacement) from a copy of the program as it was then, so that workers are forked safely even
/// after the program has started threads. Each worker runs `worker_main(index, fd)` with its end of
/// a socket and then exits.
///
/// What is guaranteed about processes:
/// - The spawner is in a process group of its own and ignores the terminal's signals and stray
///   ones (SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1, SIGUSR2, and
///   SIGTERM while its parent lives): it is never stopped by the terminal, and its parent decides.
/// - Every worker leads a process group of its own, has /dev/null as standard input (reading it
///   gives end of file at once, never SIGTTIN), the default action for every signal, nothing
///   blocked, and dies with the spawner (PR_SET_PDEATHSIG).
/// - When a worker ends (killed, crashed, or ended by itself), everything left in its process
///   group is killed (SIGKILL). The spawner is the subreaper of its workers' descendants: those
///   that leave their worker's group (setsid, setpgid) come to it when their parent ends, and are
///   killed when the spawner ends.
/// - The spawner ends when this object is destroyed, when its parent closes its socket, or when
///   its parent dies (even by SIGKILL: the socket closes, and PR_SET_PDEATHSIG tells it as well):
///   it kills every worker's group and every descendant that came to it, reaps them, and exits.
/// - No wait of the spawner's lasts for ever: a reap kills; a stopped spawner is continued
///   (SIGCONT), and killed if it has not ended five seconds after it was asked to. `await_end`
///   lasts as its caller asks (a deadline, a wake-up descriptor), and ends when the worker stops.
/// Not guaranteed: a descendant that escaped its worker's group and whose parent is still alive
/// is killed only when the spawner ends; if the spawner itself is killed by SIGKILL, workers die
/// with it but what they started in their groups is left running.
class PARMILL_API spawner {
public:
  /// A running worker: its pid, the parent's end of its socket, and a pidfd of it (-1 on kernels
  /// before 5.3), both owned by the caller (close them with `close_owned`). The pidfd was opened
  /// by the spawner before it could reap the worker, so it always names this worker.
  struct worker {
    pid_t pid = -1;
    int fd = -1;
    int pidfd = -1;
  };

  /// How waiting for a worker's end (`await_end`) ended.
  enum class ending {
    ended,       ///< it has exited or been killed (reaped or not)
    stopped,     ///< it is stopped (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU): it would never end
    out_of_time, ///< the deadline passed first
    woken,       ///< `wake_fd` became readable first
  };

  /// Forks the spawner now. Flushes stdio first so no buffered output is duplicated.
  explicit spawner(std::function<void(std::size_t, int)> worker_main);
  /// Stops the spawner: its workers and their descendants are killed and reaped, then it is
  /// reaped (within about five seconds, whatever state it is in).
  ~spawner();
  spawner(const spawner&) = delete;
  spawner& operator=(const spawner&) = delete;

  /// Forks worker `index`. Thread-safe. Throws std::runtime_error if the spawner is gone.
  worker spawn(std::size_t index);
  /// Waits, without the spawner (so other workers start meanwhile) and without any lock, until
  /// worker `w` ends by itself, stops, `deadline` (if given) passes, or `wake_fd` (if not -1)
  /// becomes readable. A stop is seen within 100 ms (10 ms without a pidfd). Any thread. It does
  /// not reap: `reap` does, whatever this returned.
  static ending await_end(const worker& w, std::optional<std::chrono::steady_clock::time_point> deadline,
                          int wake_fd);
  /// Ends worker `pid` at once (killed, unless it has ended) with everything left in its process
  /// group, reaps it, and returns its wait status (0 when there is none). Thread-safe; it holds the
  /// spawner only for a kill and a wait.
  int reap(pid_t pid);

private:
  void await_reply();
  bool wait_for_spawner(std::chrono::milliseconds limit);

  std::mutex mutex_;
  pid_t pid_ = -1;
  int control_ = -1;
  std::set<pid_t> live_; // workers spawned and not reaped, killed here if the spawner is stuck
};

} // namespace parmill::detail
