// cli/signals.hpp: SIGINT, SIGTERM and SIGHUP, taken by one thread with sigwaitinfo.
#pragma once

#include <functional>
#include <thread>

namespace parmill::cli {

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and so in every thread it starts
/// afterwards: construct it before any other thread) and handles them on a thread of its own.
/// Jobs get the default dispositions back when they start.
class signal_watcher {
public:
  /// `interrupt` runs on SIGINT or SIGTERM, `hangup` on SIGHUP, on the watcher's thread.
  signal_watcher(std::function<void()> interrupt, std::function<void()> hangup);
  /// Stops and joins the watcher's thread.
  ~signal_watcher();
  signal_watcher(const signal_watcher&) = delete;
  signal_watcher& operator=(const signal_watcher&) = delete;

private:
  std::function<void()> interrupt_, hangup_;
  std::thread thread_;
};

/// The read end of a process-wide event that input readers wait on (with poll()) together with
/// their input, so that a stop ends a read that would otherwise wait for ever (a terminal, or a
/// pipe whose writer sends nothing). It becomes readable, for good, once `stop_input()` has been
/// called. -1 if it could not be created: reads then cannot be interrupted.
[[nodiscard]] int input_stop_fd() noexcept;

/// Tells every input reader, now and later, to stop reading: a reader waiting for input returns as
/// if its input had ended. Thread-safe (one write to an eventfd); cannot be undone.
void stop_input() noexcept;

/// True once `stop_input()` has been called (an atomic load: cheap enough for every buffer refill,
/// so that reading a long regular file stops too).
[[nodiscard]] bool input_stopped() noexcept;

} // namespace parmill::cli
