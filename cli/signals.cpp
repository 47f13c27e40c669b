// cli/signals.cpp
#include "signals.hpp"

#include <pthread.h>
#include <signal.h>

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

} // namespace

signal_watcher::signal_watcher(std::function<void()> interrupt, std::function<void()> hangup)
    : interrupt_(std::move(interrupt)), hangup_(std::move(hangup)) {
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
