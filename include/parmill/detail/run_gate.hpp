// parmill/detail/run_gate.hpp: what the workers of one run look at between items: whether the run
// is stopping, and the failure budget that says after which item nothing starts.
#pragma once

#include <atomic>
#include <cstddef>
#include <iterator>
#include <limits>
#include <mutex>
#include <set>
#include <stop_token>

namespace parmill::detail {

/// No halting failure yet: every item may start.
inline constexpr std::size_t no_cutoff = std::numeric_limits<std::size_t>::max();

/// Whether a run is stopping: asked from outside (`ask`, async-signal-safe: one lock-free store),
/// or stopped from inside (`request`: the consumer left, the run is destroyed, the engine failed).
/// The workers' stop token is requested by the run's own threads once they notice an outside ask
/// (`pass_on`), since requesting it is not async-signal-safe.
class run_stop {
public:
  /// A stop from outside; async-signal-safe.
  void ask() noexcept { asked_.store(true); }
  /// True once `ask()` has been called.
  [[nodiscard]] bool asked() const noexcept { return asked_.load(std::memory_order_relaxed); }
  /// A stop from inside: requests the workers' token at once.
  void request() noexcept { source_.request_stop(); }
  /// True when the run is stopping, asked from outside or from inside.
  [[nodiscard]] bool stopping() const noexcept { return asked() || source_.stop_requested(); }
  /// True once the workers' token has been requested.
  [[nodiscard]] bool requested() const noexcept { return source_.stop_requested(); }
  /// Passes a stop asked from outside on to the workers' token. Cheap once done.
  void pass_on() noexcept {
    if (asked() && !source_.stop_requested()) source_.request_stop();
  }
  /// The token workers watch.
  [[nodiscard]] std::stop_token token() const noexcept { return source_.get_token(); }

private:
  std::atomic<bool> asked_{false};
  std::stop_source source_;
  static_assert(std::atomic<bool>::is_always_lock_free);
};

/// The error policy's bookkeeping. Workers record failures as they find them (in any order): once
/// more than `max_failures` are known, the (max_failures+1)-th smallest failing index is where the
/// run halts at the latest (failures found later can only lower it), so no item after it needs to
/// start. The consumer counts the failures it yields, in the order it yields them, and the one
/// beyond the budget halts the run.
class failure_budget {
public:
  /// `max_failures`: 0 halts at the first failure; `no_cutoff` (unlimited) never halts.
  explicit failure_budget(std::size_t max_failures) noexcept : max_(max_failures) {}

  /// Notes a failure at `index`. Thread-safe; takes a lock (failures only).
  void record(std::size_t index) {
    if (max_ == no_cutoff) return;
    std::lock_guard lock(mutex_);
    smallest_.insert(index);
    if (smallest_.size() > max_ + 1) smallest_.erase(std::prev(smallest_.end()));
    if (smallest_.size() == max_ + 1) cutoff_.store(*smallest_.rbegin(), std::memory_order_release);
  }
  /// No item after this index starts (`no_cutoff` while none halts the run).
  [[nodiscard]] std::size_t cutoff(std::memory_order order = std::memory_order_acquire) const noexcept {
    return cutoff_.load(order);
  }
  /// True when item `index` comes after the cutoff.
  [[nodiscard]] bool past(std::size_t index,
                          std::memory_order order = std::memory_order_acquire) const noexcept {
    return index > cutoff_.load(order);
  }
  /// True once some failure halts the run.
  [[nodiscard]] bool halted(std::memory_order order = std::memory_order_acquire) const noexcept {
    return cutoff_.load(order) != no_cutoff;
  }
  /// The consumer yields a failure (it alone calls this): false when this one is beyond the
  /// budget, so that it halts the run instead of being yielded.
  [[nodiscard]] bool yield_failure() noexcept {
    if (yielded_ == max_) return false;
    ++yielded_;
    return true;
  }

private:
  std::size_t max_;
  std::atomic<std::size_t> cutoff_{no_cutoff};
  std::mutex mutex_;               // guards smallest_
  std::set<std::size_t> smallest_; // the smallest max_failures+1 failing indices
  std::size_t yielded_ = 0;        // the consumer's own
};

/// What the workers of one run share: its stop and its failure budget.
struct run_gate {
  run_stop stop;
  failure_budget failures;

  /// True when item `index` must not start: the run is stopping, or the item is past the cutoff.
  [[nodiscard]] bool closed_to(std::size_t index) const noexcept {
    return stop.stopping() || failures.past(index, std::memory_order_relaxed);
  }
};

} // namespace parmill::detail
