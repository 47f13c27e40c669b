// cli/signals.cpp: the signal thread, and the event that wakes input readers when the run stops.
#include "signals.hpp"

#include <atomic>
#include <cstdint>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace parmill::cli {
namespace {

constexpr int stop_watching = SIGUSR2; // sent by the destructor to end the thread

sigset_t watched() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, stop_watching})
    sigaddset(&set, s);
  return set;
}

std::atomic<bool> input_stop_raised{false}; // what input_stopped() says

} // namespace

int input_stop_fd() noexcept {
  static const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return fd;
}

bool input_stopped() noexcept { return input_stop_raised.load(std::memory_order_relaxed); }

void stop_input() noexcept {
  input_stop_raised.store(true, std::memory_order_relaxed);
  const int fd = input_stop_fd();
  const std::uint64_t one = 1;
  if (fd >= 0) {
    [[maybe_unused]] const auto written = ::write(fd, &one, sizeof one); // fails only if the count is full
  }
}

signal_watcher::signal_watcher(std::function<void()> interrupt, std::function<void()> hangup)
    : interrupt_(std::move(interrupt)), hangup_(std::move(hangup)) {
  (void)input_stop_fd(); // made now, so that the signal thread only writes to it
  const sigset_t set = watched();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  thread_ = std::thread([this] {
    const sigset_t waited = watched();
    for (;;) {
      siginfo_t info;
      const int s = sigwaitinfo(&waited, &info);
      if (s == stop_watching) return;
      if (s == SIGINT || s == SIGTERM)
        interrupt_();
      else if (s == SIGHUP)
        hangup_();
    }
  });
}

signal_watcher::~signal_watcher() {
  pthread_kill(thread_.native_handle(), stop_watching);
  thread_.join();
}

} // namespace parmill::cli
