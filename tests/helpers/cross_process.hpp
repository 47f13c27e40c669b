// tests/helpers/cross_process.hpp: a call log and a gate that work on every backend, worker
// processes included, because both are pipes made before the map (so forked workers inherit them).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <set>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace parmill_test {

/// A log of calls from any thread or worker process: each call writes its process id into a pipe,
/// and the test reads the ids back. Guarantees: every noted call is counted once; `wait_for`
/// returns as soon as enough calls were noted, never later than its limit.
class call_log {
public:
  call_log() {
    EXPECT_EQ(::pipe(fds_), 0);
    ::fcntl(fds_[0], F_SETFL, O_NONBLOCK);
  }
  ~call_log() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  call_log(const call_log&) = delete;
  call_log& operator=(const call_log&) = delete;

  /// Notes a call (from any thread or worker process; one write of a few bytes is atomic).
  void note() const noexcept {
    const pid_t pid = ::getpid();
    [[maybe_unused]] const auto n = ::write(fds_[1], &pid, sizeof pid);
  }
  /// Waits at most `limit` until `n` calls in all have been noted; false when they were not.
  bool wait_for(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (drain() < n) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fds_[0], POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return true;
  }
  /// Every call noted so far.
  std::size_t count() { return drain(); }
  /// The processes the calls ran in.
  const std::set<pid_t>& pids() { return drain(), pids_; }

private:
  std::size_t drain() {
    pid_t pid = 0;
    while (::read(fds_[0], &pid, sizeof pid) == static_cast<ssize_t>(sizeof pid)) {
      ++calls_;
      pids_.insert(pid);
    }
    return calls_;
  }
  int fds_[2] = {-1, -1};
  std::size_t calls_ = 0;
  std::set<pid_t> pids_;
};

/// A gate that items wait at, on any backend: a pipe that becomes readable (for good) on `open()`.
/// An item waits at most `limit`, so a test of code that cannot stop fails instead of hanging.
class gate {
public:
  gate() { EXPECT_EQ(::pipe(fds_), 0); }
  ~gate() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  /// Lets every waiting and later item through.
  void open() noexcept { [[maybe_unused]] const auto n = ::write(fds_[1], "x", 1); }
  /// Returns when the gate is open, or after `limit`.
  void wait(std::chrono::milliseconds limit = std::chrono::seconds(20)) const noexcept {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      pollfd p{fds_[0], POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) > 0) return;
    }
  }

private:
  int fds_[2] = {-1, -1};
};

} // namespace parmill_test
