// parmill/detail/spin.hpp: a CPU pause hint and a small spinlock for short critical sections.
#pragma once

#include <atomic>
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

} // namespace parmill::detail
