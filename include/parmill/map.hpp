// parmill/map.hpp: a lazy, bounded parallel map over any input range, on any backend.
#pragma once

#include <iterator>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <utility>

#include "parmill/backend.hpp"
#include "parmill/detail/input_view.hpp"
#include "parmill/detail/map_engine.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/workers.hpp"

namespace parmill {

/// The range `parmill::map` returns: a single-pass input range of `outcome<R>`, one per item.
/// Nothing runs until `begin()`; the destructor joins every worker before it returns.
///
/// Leaving the loop stops the run: when the iterator `begin()` returned (or the one it was moved
/// into) is destroyed before the end, no item starts any more, as when the range is destroyed (on
/// processes, running items are killed); the range stays usable for `stop_requested()` (false:
/// leaving is not `stop()`) and `window()`, and `begin()` still may not be called again. The
/// iterator is move-only, so only one can hold the run; it may outlive the range (then it may only
/// be destroyed or assigned to).
///
/// It is a range, not a view (it owns the run, and cannot be copied), so it composes with
/// `std::views` both ways: `m | std::views::transform(f)` refers to a map `m` held in a variable
/// (`m` must outlive the result), and `parmill::map(...) | std::views::take(10)` owns the map.
/// A view over it yields the outcomes: `f` takes an `outcome<R>&` (or `const&`), `*r` is the value.
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
class map_range {
  struct run;

public:
  using engine = detail::map_engine<View, Worker>; ///< internal: the shared state of a run
  using result_type = typename engine::result;     ///< what the worker returns (monostate for void)

  /// An input iterator over the outcomes; `*it` is the current `outcome<result_type>&`, valid
  /// until the iterator is incremented. Move-only: destroying the iterator of a run before its end
  /// (leaving the loop) stops the run. Incrementing is lazy: the wait for the next outcome, and
  /// `item_failed` at a halting failure, come when the iterator is next compared with the end or
  /// dereferenced, so `std::views::take(n)` ends after the n-th outcome without waiting for (or
  /// consuming, or journaling) another.
  class iterator {
  public:
    /// A single-pass input iterator.
    using iterator_concept = std::input_iterator_tag;
    /// Required of an iterator; positions are never subtracted.
    using difference_type = std::ptrdiff_t;
    /// What `*it` refers to: the outcome of one item.
    using value_type = outcome<result_type>;

    /// An iterator of no run.
    iterator() = default;
    /// Takes the run over from `other`, which then belongs to no run.
    iterator(iterator&& other) noexcept
        : run_(std::exchange(other.run_, nullptr)), current_(std::exchange(other.current_, nullptr)),
          steps_(std::exchange(other.steps_, 0)) {
      attach();
    }
    /// Leaves this iterator's run (stopping it), then takes `other`'s over.
    iterator& operator=(iterator&& other) noexcept {
      if (this != &other) {
        leave();
        run_ = std::exchange(other.run_, nullptr);
        current_ = std::exchange(other.current_, nullptr);
        steps_ = std::exchange(other.steps_, 0);
        attach();
      }
      return *this;
    }
    /// Leaving the loop: before the end, the run stops (no item starts), as when the map is
    /// destroyed.
    ~iterator() { leave(); }

    /// The current outcome; may block until it is ready (see `operator==`).
    value_type& operator*() const { return *settled(); }
    /// Member access to the current outcome; may block as `operator*` does.
    value_type* operator->() const { return settled(); }
    /// Moves to the next outcome (lazily: nothing waits here).
    iterator& operator++() noexcept {
      ++steps_;
      return *this;
    }
    /// Moves to the next outcome, as `++it` does (returns nothing: the iterator is single-pass).
    void operator++(int) noexcept { ++*this; }
    /// True at the end. After an increment, waits until the next outcome is ready; throws
    /// `item_failed` at a halting failure (after which the iterator is at the end), and the
    /// input's own exception when reading it threw.
    friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.settled() == nullptr; }

  private:
    friend class map_range;
    explicit iterator(run* r) : run_(r) { attach(); }
    void attach() noexcept {
      if (run_) run_->loop = this;
    }
    void leave() noexcept {
      if (!run_) return;
      run_->loop = nullptr;
      run_->engine_.leave();
      run_ = nullptr;
    }
    /// The current outcome, or null at the end, once the increments not yet taken are.
    value_type* settled() const {
      if (steps_ != 0) settle();
      return current_;
    }
    void settle() const {
      for (; steps_ > 0 && current_ != nullptr; --steps_) {
        current_ = nullptr;
        current_ = run_->engine_.next();
      }
      steps_ = 0;
    }
    run* run_ = nullptr; // null once the map is destroyed
    // Settled lazily, by const members (a comparison with the end reads the next outcome).
    mutable value_type* current_ = nullptr;
    mutable std::size_t steps_ = 0; // increments not yet taken
  };

  /// Built by `parmill::map`.
  map_range(View view, Worker worker, const backend& where, map_options options)
      : run_(std::make_unique<run>(std::move(view), std::move(worker), where, std::move(options))) {}

  /// Starts the run and returns the first outcome's position. May be called once.
  iterator begin() {
    if (started_)
      throw std::logic_error("parmill::map: a map is a single-pass range; begin() was already called");
    if (run_->engine_.closed()) throw std::logic_error("parmill::map: begin() was called after close()");
    started_ = true;
    run_->engine_.start();
    iterator first(run_.get());
    first.current_ = run_->engine_.next();
    return first;
  }
  /// The end.
  std::default_sentinel_t end() const noexcept { return {}; }
  /// Internal: forks what must be forked before any thread of the run starts (see
  /// `map_engine::prepare`); `begin()` does it when it has not been done.
  void prepare() { run_->engine_.prepare(); }
  /// Internal (pipelines): records the run's chunks on `recorder`'s lanes from `first_lane` on.
  void attach_trace(std::shared_ptr<detail::trace_recorder> recorder, std::size_t first_lane) noexcept {
    run_->engine_.attach_trace(std::move(recorder), first_lane);
  }
  /// Internal: the run's workers.
  [[nodiscard]] std::size_t workers() const noexcept { return run_->engine_.workers(); }
  /// Most items in flight at once now (see `map_options::window`; automatic windows grow with the
  /// chunk size).
  [[nodiscard]] std::size_t window() const noexcept { return run_->engine_.window_now(); }

  /// Stops the run, from any thread and from a signal handler: it is async-signal-safe (it only
  /// stores to lock-free atomics and, on processes, writes a byte to a pipe; `errno` is kept).
  /// Callable before, during and after the iteration, and during `close()`, any number of times,
  /// while the range exists (not on a moved-from range, nor during or after its destruction).
  /// After it:
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
    if (run_) run_->engine_.ask_to_stop();
  }
  /// Ends the run and waits for it, as the destructor does, but while the range still exists, so
  /// that `stop()` from another thread or a signal handler can cut the wait short. That matters
  /// after a run that ended by itself: each worker then destroys its per-worker object to the end,
  /// and nothing else bounds that wait (on `processes`, a `.timeout` does). `stop()` during it
  /// kills, on `processes`, the workers still ending; on `threads` and `inline` a destructor that
  /// is running cannot be cut short. Before the end of the iteration, `close()` stops the run as
  /// leaving the loop does. After it the iteration is at its end (the outcome an iterator refers
  /// to stays valid; incrementing it reaches the end), `begin()` may not be called, and the
  /// destructor has nothing left to wait for. Idempotent. Call it from the thread that iterates,
  /// not while another thread uses this range's iterator.
  void close() {
    if (run_) run_->engine_.close();
  }
  /// True once `stop()` has been called on this range (even after the run had ended). Leaving the
  /// loop early does not make it true.
  [[nodiscard]] bool stop_requested() const noexcept { return run_ && run_->engine_.stop_was_asked(); }
  /// True when the next increment of the iterator moves to an outcome that is already there (no
  /// lock, no wait: the rest of the chunk being yielded), so a consumer that must not block (one
  /// holding a lock others need) can take several at once. False says nothing.
  [[nodiscard]] bool next_is_ready() const noexcept { return run_ && run_->engine_.next_is_ready(); }

private:
  // The engine and the iterator that holds the run, at an address that moving the range keeps.
  struct run {
    run(View view, Worker worker, const backend& where, map_options options)
        : engine_(std::move(view), std::move(worker), where, std::move(options)) {}
    run(const run&) = delete;
    run& operator=(const run&) = delete;
    ~run() { // before the engine stops and joins: an iterator left behind must not reach it
      if (loop) loop->run_ = nullptr;
    }
    engine engine_;
    iterator* loop = nullptr;
  };

  std::unique_ptr<run> run_;
  bool started_ = false;
};

/// Runs `worker` over every item of `inputs` on `where`, lazily and in bounded memory, yielding
/// one `outcome` per item (see `map_options` for order, window, chunks, errors, retries and
/// progress). `worker` is a function of one item (called with an lvalue of the item's value type)
/// or `parmill::per_worker(factory)`. Items are copied out of `inputs` as they are read (moved,
/// for move-only types); pass an lvalue range to have the map refer to it (it must outlive the
/// map) or an rvalue to have the map own it. On the threads backend a plain worker function is
/// called from several threads at once.
///
/// `inputs` is any `std::ranges::input_range`: containers, views, `std::views::istream`,
/// generators (move-only, held in a variable or not), ranges ended by a sentinel, iterators that
/// cannot be default-constructed or copied. The input is read from one thread at a time (not
/// always the same one). An item is handed to a worker as soon as it is read: the input is
/// stepped past it (`++`) and compared with its end only when the next item is wanted, so an
/// input that waits for data (a pipe) delays only the items after the one it waits for. With
/// `.chunk = 1` every item starts as soon as it is read and a worker is free; automatic chunks
/// start at one item and grow only while items are quick, and a chunk whose reading has taken
/// more than about a millisecond is handed on with the items read so far (looked at after each of
/// its first 8 items and every 64 after that: an input that slows down in the middle of a chunk
/// holds at most 63 more reads back; the chunks after it are handed on after one slow read).
template <class Inputs, class Worker>
requires detail::readable_input<Inputs>
[[nodiscard]] auto map(const backend& where, Inputs&& inputs, Worker worker, map_options options = {}) {
  using view = detail::input_view_t<Inputs>;
  return map_range<view, Worker>(detail::as_input_view(std::forward<Inputs>(inputs)), std::move(worker),
                                 where, std::move(options));
}

/// `map` on `parmill::processes(n)`: the same, after checking at compile time that the items and
/// the worker's results can cross a process boundary.
template <class Inputs, class Worker>
requires detail::readable_input<Inputs>
[[nodiscard]] auto map(const process_backend& where, Inputs&& inputs, Worker worker,
                       map_options options = {}) {
  using view = detail::input_view_t<Inputs>;
  static_assert(
      crossable_v<std::ranges::range_value_t<view>>,
      "parmill::map on processes: the items cannot cross a process boundary (see parmill/codec.hpp)");
  static_assert(map_range<view, Worker>::engine::crossable,
                "parmill::map on processes: the worker's result cannot cross a process boundary (see "
                "parmill/codec.hpp)");
  return map_range<view, Worker>(detail::as_input_view(std::forward<Inputs>(inputs)), std::move(worker),
                                 where, std::move(options));
}

} // namespace parmill
