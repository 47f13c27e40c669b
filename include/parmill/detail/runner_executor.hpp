// parmill/detail/runner_executor.hpp: what the processes and mpi executors share: a runner that
// carries each chunk to a worker outside this process and brings its outcomes back, driven by a
// proxy thread per worker, and reachable from a signal handler once it exists.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "parmill/detail/chunk_results.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/outcome.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// An executor whose workers are proxies of a `Runner`, which has `run(w, first, items, out)`
/// returning the worker's own time (zero: unknown), `interrupt()` (async-signal-safe) and is
/// destroyed when the run finishes. The derived executor makes the runner (`make_runner`) when it
/// opens or prepares the run, and publishes it to `interrupt()` on the process that drives the run.
template <class In, class Result, class Runner>
class runner_executor : public executor<In, Result> {
public:
  [[nodiscard]] bool in_place() const noexcept final { return false; }
  void start(std::function<void(std::size_t)> worker_main) final {
    threads_.start(this->size(), std::move(worker_main));
  }
  chunk_report run(std::size_t w, const worker_context&, std::size_t first, std::vector<In>& items,
                   std::vector<outcome<Result>>& out) final {
    const std::size_t from = out.size();
    const std::chrono::nanoseconds took = runner_->run(w, first, items, out);
    chunk_report report = tally(out, from, failures_);
    report.worker_time = took;
    if constexpr (requires(Runner & r) { r.take_retried(w); }) report.retried = runner_->take_retried(w);
    return report;
  }
  /// Async-signal-safe: lock-free atomics, and whatever the runner's own `interrupt` does. Callable
  /// from another thread while `finish()` runs: the runner is destroyed only once no interrupt is
  /// inside it.
  void interrupt() noexcept final {
    interrupted_.store(true);
    interrupting_.fetch_add(1);
    if (Runner* r = published_.load()) r->interrupt();
    interrupting_.fetch_sub(1);
  }
  void finish() noexcept final {
    threads_.join();
    drop_runner();
  }

protected:
  explicit runner_executor(failure_budget& failures) noexcept : failures_(failures) {}

  /// Makes the runner (not yet reachable by `interrupt()`).
  template <class... Args>
  Runner& make_runner(Args&&... args) {
    return runner_.emplace(std::forward<Args>(args)...);
  }
  /// From now on `interrupt()` reaches the runner itself; an interrupt that came before is passed on.
  void publish() noexcept {
    published_.store(&*runner_);
    if (interrupted_.load()) runner_->interrupt();
  }
  /// Unpublishes the runner, waits for an interrupt that may have reached it already (another
  /// thread's; a signal handler on this thread has returned before this goes on) and destroys it.
  /// Both sides are sequentially consistent: an interrupt either finds the runner unpublished or is
  /// counted before this looks.
  void drop_runner() noexcept {
    published_.store(nullptr);
    while (interrupting_.load() != 0)
      std::this_thread::yield(); // an interrupt is one write(2): a few microseconds
    runner_.reset();
  }
  /// The runner, once made.
  [[nodiscard]] Runner& runner() noexcept { return *runner_; }

private:
  failure_budget& failures_;
  worker_threads threads_;
  std::optional<Runner> runner_;
  // What a signal handler may touch: published once the runner exists, unpublished before it goes.
  std::atomic<bool> interrupted_{false};
  std::atomic<Runner*> published_{nullptr};
  std::atomic<int> interrupting_{0}; // interrupts that may be inside the published runner
  static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<Runner*>::is_always_lock_free &&
                std::atomic<int>::is_always_lock_free);
};

} // namespace parmill::detail
