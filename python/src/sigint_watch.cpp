// python/src/sigint_watch.cpp: the SIGINT handler that stops watched maps, then chains to Python's.
#include "sigint_watch.hpp"

#include <signal.h>

#include <array>
#include <atomic>
#include <mutex>
#include <thread>

namespace parmill::python {

namespace {

struct watched {
  std::atomic<void (*)(void*)> stop{nullptr};
  std::atomic<void*> context{nullptr};
};

constexpr int max_watches = 64;
std::array<watched, max_watches> watches;
std::atomic<int> handlers_running{0};
std::mutex install_mutex; // guards what follows (never taken in the handler)
int watch_count = 0;
struct sigaction previous_action {};

void on_sigint(int signal, siginfo_t* info, void* context) {
  handlers_running.fetch_add(1);
  for (auto& w : watches) {
    void* c = w.context.load();
    if (auto* stop = w.stop.load(); stop != nullptr && c != nullptr) stop(c);
  }
  handlers_running.fetch_sub(1);
  if ((previous_action.sa_flags & SA_SIGINFO) != 0) {
    if (previous_action.sa_sigaction != nullptr) previous_action.sa_sigaction(signal, info, context);
  } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN &&
             previous_action.sa_handler != nullptr) {
    previous_action.sa_handler(signal);
  }
}

void install() {
  struct sigaction action {};
  action.sa_sigaction = &on_sigint;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &previous_action);
}

void uninstall() {
  struct sigaction current {};
  ::sigaction(SIGINT, nullptr, &current);
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == &on_sigint)
    ::sigaction(SIGINT, &previous_action, nullptr);
}

} // namespace

sigint_watch::sigint_watch(void (*stop)(void*), void* context) noexcept {
  std::lock_guard lock(install_mutex);
  for (int i = 0; i < max_watches; ++i) {
    if (watches[static_cast<std::size_t>(i)].context.load() != nullptr) continue;
    watches[static_cast<std::size_t>(i)].stop.store(stop);
    watches[static_cast<std::size_t>(i)].context.store(context);
    slot_ = i;
    break;
  }
  if (slot_ >= 0 && watch_count++ == 0) install();
}

sigint_watch::~sigint_watch() {
  if (slot_ < 0) return;
  std::lock_guard lock(install_mutex);
  watches[static_cast<std::size_t>(slot_)].context.store(nullptr);
  // A handler that read the context before it was cleared is counted: wait until it is done.
  while (handlers_running.load() != 0)
    std::this_thread::yield();
  if (--watch_count == 0) uninstall();
}

} // namespace parmill::python
