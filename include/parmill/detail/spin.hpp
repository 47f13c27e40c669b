// parmill/detail/spin.hpp: a CPU pause hint and a small spinlock for short critical sections.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <chrono>
#include <thread>

namespace parmill::detail {

/// Tells the CPU this thread is spinning (a `pause` on x86), so the other hyperthread runs.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

/// A test-and-test-and-set lock for critical sections of a few dozen instructions. It yields the
/// thread after a short spin, so a preempted holder on an oversubscribed machine is not starved.
class spinlock {
public:
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!locked_.exchange(true, std::memory_order_acquire)) return;
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
          cpu_relax();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  bool try_lock() noexcept {
    return !locked_.load(std::memory_order_relaxed) && !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
  std::atomic<bool> locked_{false};
};

/// Decides whether a thread about to block should spin first: only when its recent waits were
/// short (a round trip of tens of microseconds), where sleeping and being woken (20-40 us each way
/// on these virtual machines) would double the wait; never when waits are long; and never when
/// the run's workers could use every core, where spinning would take a core from them. Used by one
/// thread at a time.
class adaptive_spin {
public:
  /// How long a spin may last. Above a sleeping round trip (so a run that sleeps through short
  /// waits starts spinning), far below a chunk of work.
  static constexpr std::chrono::nanoseconds limit{100'000};

  /// `busy_threads`: how many threads or processes of the run compute at once. Spinning is only
  /// allowed while they leave a core idle for it.
  explicit adaptive_spin(std::size_t busy_threads) noexcept
      : allowed_(busy_threads < std::max(1U, std::thread::hardware_concurrency())) {}

  /// Spins until `ready()` or the limit, if recent waits were short. True when `ready()` held.
  template <class Ready>
  bool spin(Ready&& ready) {
    if (!short_waits_) return false;
    const auto start = std::chrono::steady_clock::now();
    for (unsigned i = 0;; ++i) {
      if (ready()) return true;
      cpu_relax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - start > limit) return false;
    }
  }
  /// Records how long a wait took in all (spin and sleep).
  void record(std::chrono::nanoseconds waited) noexcept { short_waits_ = allowed_ && waited < limit; }

private:
  bool allowed_;
  bool short_waits_ = false;
};

} // namespace parmill::detail
