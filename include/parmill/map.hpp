// parmill/map.hpp: a lazy, bounded parallel map over any input range, on any backend.
#pragma once

#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <utility>

#include "parmill/backend.hpp"
#include "parmill/detail/map_engine.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/workers.hpp"

namespace parmill {

/// The range `parmill::map` returns: a single-pass input range of `outcome<R>`, one per item.
/// Nothing runs until `begin()`; leaving the loop early, destroying the range or `stop()` stops
/// the work, and the destructor joins every worker before it returns. Movable, so it composes
/// with `std::views` (`parmill::map(...) | std::views::take(10)`).
///
/// Ctrl-C in a program that uses the library: let a SIGINT handler call `stop()`, and the loop
/// ends quietly, as if the input had ended (see examples/stop_on_ctrl_c.cpp):
///
///     auto m = parmill::map(parmill::processes(4), files, convert);
///     static std::atomic<decltype(m)*> to_stop{nullptr}; // lock-free: a handler may read it
///     to_stop = &m;
///     struct sigaction on_ctrl_c {}, previous {};
///     on_ctrl_c.sa_handler = [](int) { if (auto* running = to_stop.load()) running->stop(); };
///     sigemptyset(&on_ctrl_c.sa_mask);
///     sigaction(SIGINT, &on_ctrl_c, &previous);
///     for (auto& r : m) { ... }
///     sigaction(SIGINT, &previous, nullptr); // restore first, then forget the map
///     to_stop = nullptr;
///     if (m.stop_requested()) { ... the run was interrupted ... }
///
/// The threads a map makes (for `threads(n)`, and the proxies of `processes` and `mpi`; not those
/// of a `thread_pool` you pass) block SIGINT, SIGTERM, SIGHUP and SIGQUIT, so a handler of these
/// runs on one of the program's own threads. If the program has other threads that do not block
/// the signal, a handler may still be running on one of them after the pointer is cleared: block
/// it there, or keep the map alive until no handler can be running.
template <class View, class Worker>
class map_range : public std::ranges::view_interface<map_range<View, Worker>> {
public:
  using engine = detail::map_engine<View, Worker>; ///< internal: the shared state of a run
  using result_type = typename engine::result;     ///< what the worker returns (monostate for void)

  /// An input iterator over the outcomes; `*it` is the current `outcome<result_type>&`, valid
  /// until the iterator is incremented.
  class iterator {
  public:
    using iterator_concept = std::input_iterator_tag;
    using difference_type = std::ptrdiff_t;
    using value_type = outcome<result_type>;

    iterator() = default;
    value_type& operator*() const { return *current_; }
    value_type* operator->() const { return current_; }
    /// Moves to the next outcome; may block until one is ready. Throws `item_failed` at a
    /// halting failure (after which the iterator is at the end).
    iterator& operator++() {
      current_ = nullptr;
      current_ = engine_->next();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& it, std::default_sentinel_t) noexcept {
      return it.current_ == nullptr;
    }

  private:
    friend class map_range;
    iterator(engine* e, value_type* first) : engine_(e), current_(first) {}
    engine* engine_ = nullptr;
    value_type* current_ = nullptr;
  };

  /// Built by `parmill::map`.
  map_range(View view, Worker worker, const backend& where, map_options options)
      : engine_(std::make_unique<engine>(std::move(view), std::move(worker), where, std::move(options))) {}

  /// Starts the run and returns the first outcome's position. May be called once.
  iterator begin() {
    if (started_)
      throw std::logic_error("parmill::map: a map is a single-pass range; begin() was already called");
    started_ = true;
    engine_->start();
    return iterator(engine_.get(), engine_->next());
  }
  /// The end.
  std::default_sentinel_t end() const noexcept { return {}; }
  /// Internal: forks what must be forked before any thread of the run starts (see
  /// `map_engine::prepare`); `begin()` does it when it has not been done.
  void prepare() { engine_->prepare(); }
  /// Most items in flight at once now (see `map_options::window`; automatic windows grow with the
  /// chunk size).
  [[nodiscard]] std::size_t window() const noexcept { return engine_->window_now(); }

  /// Stops the run, from any thread and from a signal handler: it is async-signal-safe (it only
  /// stores to lock-free atomics and, on processes, writes a byte to a pipe; `errno` is kept).
  /// Callable before, during and after the iteration, any number of times, while the range
  /// exists (not on a moved-from range, nor during or after its destruction). After it:
  /// - the iteration ends quietly, as pipeline::stop() does: no exception (not even for a failure
  ///   or an input error the run had already met), and outcomes not yet yielded are never yielded
  ///   (nor written to the `.journal`, so `.resume` runs those items again). The end comes at the
  ///   next increment (or at `begin()`) when `stop()` ran before it, in the loop body say; while
  ///   the loop waits for an outcome, within about 10 ms.
  /// - no item starts, except that each worker may start the one item it was starting just then;
  /// - on `processes`, running items are killed at once, with their worker processes, even while
  ///   the loop body runs (the destructor reaps them, as when the loop is left early);
  /// - on `threads` and `inline`, running items finish: a thread cannot be stopped safely. Soon
  ///   after `stop()` (within about 10 ms while the loop waits, or when a worker finishes an item)
  ///   the workers' `worker_context::stop` token is requested, so a worker that watches it can
  ///   end early. On `inline` the item runs on the thread that iterates, so its token is
  ///   requested only after it returns; a blocking call in it (`poll`, `read`, `sleep`) returns
  ///   early with EINTR when the signal interrupts it (handler installed without `SA_RESTART`);
  /// - on `mpi` (rank 0, the rank that iterates), no chunk is sent to a rank any more and the
  ///   chunks being run finish (`.timeout` bounds them); on the other ranks it does nothing.
  /// The destructor still waits for running items on threads and inline, and for a read of the
  /// input that blocks.
  void stop() noexcept {
    if (engine_) engine_->ask_to_stop();
  }
  /// True once `stop()` has been called on this range (even after the run had ended).
  [[nodiscard]] bool stop_requested() const noexcept { return engine_ && engine_->stop_was_asked(); }

private:
  std::unique_ptr<engine> engine_;
  bool started_ = false;
};

/// Runs `worker` over every item of `inputs` on `where`, lazily and in bounded memory, yielding
/// one `outcome` per item (see `map_options` for order, window, chunks, errors, retries and
/// progress). `worker` is a function of one item (called with an lvalue of the item's value type)
/// or `parmill::per_worker(factory)`. Items are copied out of `inputs` as they are read (moved,
/// for move-only types); pass an lvalue range to have the map refer to it (it must outlive the
/// map) or an rvalue to have the map own it. On the threads backend a plain worker function is
/// called from several threads at once.
template <std::ranges::input_range Inputs, class Worker>
requires std::ranges::viewable_range<Inputs>
[[nodiscard]] auto map(const backend& where, Inputs&& inputs, Worker worker, map_options options = {}) {
  using view = std::views::all_t<Inputs>;
  return map_range<view, Worker>(std::views::all(std::forward<Inputs>(inputs)), std::move(worker), where,
                                 std::move(options));
}

/// `map` on `parmill::processes(n)`: the same, after checking at compile time that the items and
/// the worker's results can cross a process boundary.
template <std::ranges::input_range Inputs, class Worker>
requires std::ranges::viewable_range<Inputs>
[[nodiscard]] auto map(const process_backend& where, Inputs&& inputs, Worker worker,
                       map_options options = {}) {
  using view = std::views::all_t<Inputs>;
  static_assert(
      crossable_v<std::ranges::range_value_t<view>>,
      "parmill::map on processes: the items cannot cross a process boundary (see parmill/codec.hpp)");
  static_assert(map_range<view, Worker>::engine::crossable,
                "parmill::map on processes: the worker's result cannot cross a process boundary (see "
                "parmill/codec.hpp)");
  return map_range<view, Worker>(std::views::all(std::forward<Inputs>(inputs)), std::move(worker), where,
                                 std::move(options));
}

} // namespace parmill
