// parmill/detail/local_executor.hpp: running items in this process: on the caller's thread
// (inline, in place) or on threads (a thread pool of the run's own, or the caller's).
#pragma once

#include <cstddef>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "parmill/detail/executor.hpp"
#include "parmill/detail/failures.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/outcome.hpp"
#include "parmill/thread_pool.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// Runs `items` (the first has index `first`) on worker `w` of `slots`, in this thread, appending
/// one outcome per item to `out`: an item starts only while `gate` lets it (else it is cancelled,
/// "not started"), a throwing item is tried `retries` more times (unless the run is stopping), and
/// a failure is recorded in the gate's budget at once, so that later items see its cutoff.
template <class In, class Result, class Slots>
chunk_report run_items_here(Slots& slots, run_gate& gate, std::size_t retries, std::size_t w,
                            const worker_context& context, std::size_t first, std::vector<In>& items,
                            std::vector<outcome<Result>>& out) {
  chunk_report report;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::size_t index = first + i;
    if (gate.closed_to(index)) {
      gate.stop.pass_on();
      out.emplace_back(cancelled_error(index, w, "not started: the run stopped"));
      ++report.cancelled;
      continue;
    }
    for (std::size_t attempt = 0;; ++attempt) {
      try {
        out.emplace_back(index, slots.call(w, context, items[i]));
        break;
      } catch (...) {
        if (attempt < retries && !gate.stop.stopping()) {
          ++report.retried;
          continue;
        }
        ++report.failed;
        gate.failures.record(index);
        out.emplace_back(current_exception_error(index, w));
        break;
      }
    }
  }
  return report;
}

/// The inline and threads backends: items run in this process, with nothing to encode. Inline runs
/// in place (the consumer runs each item itself, worker 0); threads run a worker per thread.
template <class In, class Result, class Slots>
class local_executor final : public executor<In, Result> {
public:
  /// In place when `in_place`; otherwise `workers` workers on `pool`'s threads, or on threads of
  /// the run's own when `pool` is null.
  local_executor(Slots& slots, run_gate& gate, const item_limits& limits, bool in_place, std::size_t workers,
                 thread_pool* pool)
      : slots_(slots), gate_(gate), limits_(limits), in_place_(in_place),
        workers_(in_place ? 1 : std::max<std::size_t>(1, workers)), threads_(pool) {}

  [[nodiscard]] std::size_t size() const noexcept override { return workers_; }
  [[nodiscard]] std::size_t busy() const noexcept override { return workers_; }
  [[nodiscard]] backend_kind kind() const noexcept override {
    return in_place_ ? backend_kind::inline_ : backend_kind::threads;
  }
  [[nodiscard]] bool in_place() const noexcept override { return in_place_; }

  /// Refuses a `.timeout` (on inline as on threads) before any item runs.
  run_role open(bool stopped) override {
    if (limits_.timeout.count() > 0)
      throw std::invalid_argument("parmill::map: .timeout needs the processes or mpi backend (a thread that "
                                  "runs too long cannot be stopped safely)");
    if (threads_.borrowed() != nullptr && threads_.borrowed()->current_thread_index())
      throw std::logic_error(
          "parmill::map: a map on a thread_pool cannot be iterated from one of that "
          "pool's own threads (its workers would wait for the thread that waits for them)");
    return stopped ? run_role::skip : run_role::drive;
  }
  void prepare() override {}
  void start(std::function<void(std::size_t)> worker_main) override {
    threads_.start(workers_, std::move(worker_main));
  }
  chunk_report run(std::size_t w, const worker_context& context, std::size_t first, std::vector<In>& items,
                   std::vector<outcome<Result>>& out) override {
    return run_items_here<In, Result>(slots_, gate_, limits_.retries, w, context, first, items, out);
  }
  void retire(std::size_t, bool) override {}
  void interrupt() noexcept override {} // a thread cannot be stopped: its items finish
  void finish() noexcept override {
    threads_.join();
    if (in_place_) slots_.release(0); // the consumer's own worker
  }

private:
  Slots& slots_;
  run_gate& gate_;
  item_limits limits_;
  bool in_place_;
  std::size_t workers_;
  worker_threads threads_;
};

} // namespace parmill::detail
