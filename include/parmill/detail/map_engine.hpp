// parmill/detail/map_engine.hpp: the state a map shares between its consumer and its workers.
//
// Items are read in order, in chunks, by whichever worker needs work (under the input lock; see
// input_reader.hpp), and only while the window has room (chunk_sizing.hpp). A worker runs its chunk
// on the run's executor (executor.hpp; the engine never asks which backend it is) and hands the
// outcomes back as one chunk; the consumer takes chunks in input order or in completion order
// (completed_chunks.hpp). Locks are taken per chunk, never per item. A halting failure sets a
// cutoff (run_gate.hpp): items after it do not start, and iteration throws at it. On an executor
// that runs in place (inline) the consumer reads and runs each item itself: no lock, no hand-off.
//
// A stop from outside (map_range::stop) may come from a signal handler, so it only sets an atomic
// flag and, on processes, wakes the proxies through a pipe (they kill their worker processes). The
// rest is done by the threads that notice the flag: the consumer, which looks at it before every
// outcome and at least every `stop_watch_period` while it waits, and the workers, before every
// item; the first of them to notice requests the workers' stop token.
#pragma once

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <set>
#include <utility>
#include <vector>

#include "parmill/backend.hpp"
#include "parmill/codec.hpp"
#include "parmill/detail/chunk_sizing.hpp"
#include "parmill/detail/completed_chunks.hpp"
#include "parmill/detail/executor.hpp"
#include "parmill/detail/executors.hpp"
#include "parmill/detail/input_reader.hpp"
#include "parmill/detail/local_executor.hpp"
#include "parmill/detail/run_gate.hpp"
#include "parmill/detail/spin.hpp"
#include "parmill/detail/trace_recorder.hpp"
#include "parmill/detail/worker_slots.hpp"
#include "parmill/journal.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"
#include "parmill/progress.hpp"

namespace parmill::detail {

// How often at least a waiting consumer looks for a stop from outside (which cannot wake it: a
// signal handler may not notify a condition variable). Only a wait this long pays for it.
inline constexpr std::chrono::milliseconds stop_watch_period{10};

template <class View, class Worker>
class map_engine {
public:
  using input = std::ranges::range_value_t<View>;
  using slots = worker_slots<Worker, input>;
  using result = typename slots::result;

  /// True when items and results can cross a process boundary (the processes backend needs it).
  static constexpr bool crossable = crossable_v<input> && crossable_v<result>;

private:
  using journal = std::conditional_t<crossable_v<result>, journal_writer<result>, void*>;

public:
  map_engine(View view, Worker worker, const backend& where, map_options options)
      : view_(std::move(view)),
        options_(std::move(options)), gate_{.stop = {},
                                            .failures = failure_budget(options_.on_error == on_error::raise
                                                                           ? 0
                                                                           : options_.max_failures)},
        slots_(std::make_shared<slots>(std::move(worker))),
        executor_(make_executor<input, result>(where, slots_, gate_, limits_of(options_))),
        in_place_(executor_->in_place()), workers_(executor_->size()),
        // The window follows the workers that compute (busy), not those the executor drives: on
        // mpi each slot has requests queued ahead, and size() counts them too.
        sizing_(options_.chunk, options_.window, executor_->busy(), std::ranges::sized_range<View>),
        reader_(view_), completed_(options_.order), consumer_spin_(executor_->busy()) {
    slots_->set_workers(workers_);
    if (!options_.trace.empty()) {
      trace_ = std::make_shared<trace_recorder>(options_.trace);
      trace_lane_ = trace_->add_lanes(workers_);
      trace_->set_title("parmill::map on " + std::string(to_string(executor_->kind())) + ", " +
                        std::to_string(workers_) + (workers_ == 1 ? " worker" : " workers"));
      owns_trace_ = true;
    }
  }

  /// Internal (pipelines): records this run's chunks on `recorder`'s lanes from `first_lane` on
  /// (one per worker), instead of a trace of its own. Before `start()`.
  void attach_trace(std::shared_ptr<trace_recorder> recorder, std::size_t first_lane) noexcept {
    trace_ = std::move(recorder);
    trace_lane_ = first_lane;
    owns_trace_ = false;
  }
  /// The number of workers, hence of trace lanes.
  [[nodiscard]] std::size_t workers() const noexcept { return workers_; }

  map_engine(const map_engine&) = delete;
  map_engine& operator=(const map_engine&) = delete;

  /// Stops the workers and waits for them (see `close`); items in flight are dropped.
  ~map_engine() { close(); }

  /// `map_range::close`: ends the run and waits for it, as the destructor does, while the engine
  /// still exists, so that `ask_to_stop()` can cut the wait short. Before the end of the iteration
  /// it stops the run as leaving the loop does; afterwards `next()` finds nothing more. Idempotent;
  /// on the consumer's thread.
  void close() {
    if (closed_) return;
    leave();
    closed_ = true;
    position_ = current_.outcomes.size(); // the outcome the consumer holds stays valid
    stop_and_join();
  }
  /// True once `close()` has run (the destructor's own call aside).
  [[nodiscard]] bool closed() const noexcept { return closed_; }

  /// Starts reading and the workers. Called once, by the first `begin()`.
  void start() {
    switch (executor_->open(gate_.stop.asked())) {
    case run_role::skip: return; // stopped before begin: nothing starts
    case run_role::served: finished_ = true; return;
    case run_role::drive: break;
    }
    trace_live_ = owns_trace_; // only the process that drives the run writes its trace
    if (trace_live_) trace_->start_clock();
    reader_.open(open_journal());
    if constexpr (std::ranges::sized_range<View>) total_ = static_cast<std::size_t>(std::ranges::size(view_));
    if (!options_.progress.empty()) {
      std::optional<std::uint64_t> total;
      if constexpr (std::ranges::sized_range<View>)
        total = static_cast<std::uint64_t>(std::ranges::size(view_));
      bar_ = std::make_unique<progress_bar>(options_.progress, total);
    }
    if (in_place_) return; // the consumer runs every item itself
    prepare();
    running_ = workers_;
    try {
      executor_->start([this](std::size_t w) { worker_loop(w); });
    } catch (...) {
      running_ = 0; // none started
      throw;
    }
  }

  /// Does what must happen before any thread of the run exists: the executor's part (on
  /// processes, forking the spawner: a fork copies only the forking thread, so no other thread's
  /// lock may be held then), and preparing the input when it is a view with `prepare()` (a
  /// pipeline's stages before this one). Called by `start()`; a pipeline calls it on every stage
  /// before it starts any.
  void prepare() {
    if (prepared_) return;
    prepared_ = true;
    if constexpr (requires { view_.prepare(); }) view_.prepare();
    executor_->prepare();
  }

  /// `.journal`: opens it for appending and, with `.resume`, returns the items it has done.
  std::set<std::size_t> open_journal() {
    if (options_.journal.empty()) return {};
    if constexpr (crossable_v<result>) {
      std::set<std::size_t> done;
      if (options_.resume) done = journal_succeeded(options_.journal);
      journal_.emplace(options_.journal);
      return done;
    } else {
      throw std::logic_error(
          "parmill::map: a .journal needs results that can be encoded (see parmill/codec.hpp)");
    }
  }

  /// The window now: most items in flight at once (grows with automatic chunks).
  [[nodiscard]] std::size_t window_now() const noexcept { return sizing_.window(); }

  /// `map_range::stop`: async-signal-safe (lock-free atomic operations, and on processes one
  /// write(2) to the runner's wake-up pipe). The threads of the run do the rest when they notice.
  void ask_to_stop() noexcept {
    const int saved_errno = errno;
    gate_.stop.ask();
    executor_->interrupt();
    errno = saved_errno;
  }

  /// The consumer left the loop (its iterator is gone): unless the iteration had ended, the run
  /// stops as at destruction (no item starts; on processes and mpi, running items are
  /// interrupted), without joining, and without counting as `ask_to_stop()`. Nothing is yielded
  /// any more.
  void leave() noexcept {
    if (finished_) return;
    finished_ = true;
    gate_.stop.request();
    executor_->interrupt();
    {
      std::lock_guard lock(mutex_);
      space_.notify_all(); // workers waiting for room in the window find the run stopping
    }
    finish_progress();
  }

  /// True once `ask_to_stop()` has been called.
  [[nodiscard]] bool stop_was_asked() const noexcept { return gate_.stop.asked(); }

  /// True when `next()` returns the next outcome at once, with no lock and no wait: the chunk being
  /// yielded holds another outcome to yield. False says nothing (the next may be ready elsewhere).
  [[nodiscard]] bool next_is_ready() const noexcept {
    return !finished_ && position_ < current_.outcomes.size() &&
           !gate_.failures.past(current_.outcomes[position_].index()) && !gate_.stop.asked();
  }

  /// The next outcome, or null at the end. Throws `item_failed` at a halting failure, and the
  /// input's own exception when reading the input threw. After `ask_to_stop()`: null, quietly.
  outcome<result>* next() {
    for (;;) {
      if (gate_.stop.asked()) return end_by_stop();
      while (position_ < current_.outcomes.size()) {
        outcome<result>& o = current_.outcomes[position_++];
        if (gate_.failures.past(o.index())) continue; // not started because of a halting failure
        // In the order outcomes are yielded, the failure beyond the budget halts the run.
        if (!o.has_value() && !gate_.failures.yield_failure()) {
          finished_ = true;
          record(o);
          throw_item_failed(o.error());
        }
        record(o);
        return &o;
      }
      if (closed_) return nullptr;
      if (finished_ || !take_chunk()) {
        if (gate_.stop.asked()) return end_by_stop();
        const bool ran_to_end = !finished_;
        finished_ = true;
        finish_progress();
        // Every chunk was taken: the workers record nothing more, so the trace is complete.
        if (trace_live_ && !gate_.stop.asked()) trace_->write_once();
        if (reader_.failed()) std::rethrow_exception(reader_.take_error());
        if (ran_to_end) ran_to_end_.store(true, std::memory_order_release);
        return nullptr;
      }
    }
  }

private:
  /// Appends `o` to the journal, when there is one.
  void record(const outcome<result>& o) {
    if constexpr (crossable_v<result>) {
      if (journal_) journal_->write(o);
    }
  }

  struct input_chunk {
    std::size_t seq = 0;   // the chunk's number, in input order
    std::size_t first = 0; // the index of its first item
    std::vector<input> items;
  };
  struct result_chunk {
    std::size_t seq = 0;
    std::vector<outcome<result>> outcomes;
  };

  /// True when the run is stopping: asked from outside, or stopped from inside (the destructor, an
  /// engine failure).
  [[nodiscard]] bool stopping() const noexcept { return gate_.stop.stopping(); }

  /// Ends the iteration after `ask_to_stop()`: the workers' token is requested and workers waiting
  /// for room in the window wake (and find the run stopping); what is not yet yielded never is.
  outcome<result>* end_by_stop() {
    finished_ = true;
    gate_.stop.pass_on();
    {
      std::lock_guard lock(mutex_);
      space_.notify_all();
    }
    finish_progress();
    return nullptr;
  }

  /// Reads the next chunk when the window has room. False when there is nothing more to read.
  bool acquire(input_chunk& c) {
    std::lock_guard input_guard(input_mutex_);
    if (reader_.ended()) return false;
    std::optional<std::size_t> remaining;
    if constexpr (std::ranges::sized_range<View>) remaining = total_ - std::min(total_, reader_.next_index());
    std::size_t want = sizing_.want(remaining);
    {
      std::unique_lock lock(mutex_);
      want = sizing_.within_window(want);
      ++workers_waiting_;
      space_.wait(lock,
                  [&] { return stopping() || in_flight_ == 0 || in_flight_ + want <= sizing_.window(); });
      --workers_waiting_;
      if (stopping() || gate_.failures.halted()) return close_input(lock);
      in_flight_ += want;
    }
    const bool ended = read(c, want);
    std::unique_lock lock(mutex_);
    in_flight_ -= want - c.items.size();
    if (!c.items.empty()) c.seq = issued_++;
    if (ended) close_input(lock);
    return !c.items.empty();
  }

  /// Reads up to `want` items into `c` (the caller has the input to itself). True when the input
  /// has ended.
  bool read(input_chunk& c, std::size_t want) {
    const auto got = reader_.read(c.items, want);
    c.first = got.first;
    return got.ended;
  }

  // Called with both locks held.
  bool close_input(std::unique_lock<std::mutex>&) {
    reader_.close();
    input_closed_ = true;
    events_.fetch_add(1, std::memory_order_release);
    if (consumer_waiting_) ready_cv_.notify_one();
    return false;
  }

  /// The context of worker `w`, made once per worker (copying a stop token is an atomic add).
  worker_context context_of(std::size_t w) {
    return worker_context{
        .index = w, .count = workers_, .backend = executor_->kind(), .stop = gate_.stop.token()};
  }

  /// Runs the items of `c` on worker `w`, with retries and the error policy: in place, or on the
  /// executor's worker `w`.
  void process(std::size_t w, const worker_context& context, input_chunk& c, result_chunk& r) {
    r.seq = c.seq;
    r.outcomes.clear();
    r.outcomes.reserve(c.items.size());
    // Automatic chunks are sized from how long chunks take (in place, an item at a time, untimed).
    const bool timed = sizing_.automatic() && !in_place_;
    const bool traced = trace_ != nullptr;
    const auto started =
        timed || traced ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    const chunk_report report = in_place_
                                    ? run_items_here<input, result>(*slots_, gate_, options_.retries, w,
                                                                    context, c.first, c.items, r.outcomes)
                                    : executor_->run(w, context, c.first, c.items, r.outcomes);
    if (timed && !c.items.empty())
      sizing_.adapt(c.items.size(), report.worker_time.count() > 0
                                        ? report.worker_time
                                        : std::chrono::steady_clock::now() - started);
    if (traced)
      trace_->record(trace_lane_ + w, started, std::chrono::steady_clock::now(), c.first, c.items.size(),
                     report, r.outcomes);
    if (bar_) {
      bar_->fail(report.failed);
      bar_->advance(c.items.size() - report.failed - report.cancelled);
    }
  }

  /// Hands `r` to the consumer and gives `r` a spent buffer back, so chunks reuse their memory.
  void complete(result_chunk& r) {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      const std::size_t seq = r.seq;
      wake = completed_.add(seq, std::move(r)) && consumer_waiting_;
      events_.fetch_add(1, std::memory_order_release);
      r = result_chunk{};
      if (!spare_.empty()) {
        r.outcomes = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    if (wake) ready_cv_.notify_one(); // after unlocking, so the consumer does not wake into a held lock
  }

  void worker_loop(std::size_t w) {
    try {
      const worker_context context = context_of(w);
      input_chunk c;
      result_chunk r;
      while (acquire(c)) {
        process(w, context, c, r);
        complete(r);
      }
    } catch (...) {
      // Not an item's failure (those are outcomes): the engine itself failed, e.g. out of memory.
      // Its chunk is lost, so the run stops and the consumer rethrows this.
      std::lock_guard lock(mutex_);
      if (!engine_error_) engine_error_ = std::current_exception();
      gate_.stop.request();
    }
    // After a run that ended by itself, a worker still ending is not killed by the destructor's stop:
    // its per-worker object is destroyed to the end (as on threads).
    executor_->retire(w, stopping() && !ran_to_end_.load(std::memory_order_acquire));
    slots_->release(w); // the worker's own object is destroyed on its own thread
    std::lock_guard lock(mutex_);
    --running_;
    events_.fetch_add(1, std::memory_order_release);
    ready_cv_.notify_all();
    space_.notify_all();
  }

  /// Makes the next chunk current; false at the end of the run.
  bool take_chunk() {
    if (in_place_) return run_inline_item();
    std::unique_lock lock(mutex_);
    in_flight_ -= current_.outcomes.size(); // the consumer is done with the current chunk
    current_.outcomes.clear();
    if (current_.outcomes.capacity() != 0 && spare_.size() < workers_ * chunks_per_worker_in_window)
      spare_.push_back(std::move(current_.outcomes));
    position_ = 0;
    if (workers_waiting_) space_.notify_one();
    for (;;) {
      if (gate_.stop.asked()) return false;
      if (engine_error_) std::rethrow_exception(engine_error_);
      if (completed_.take(current_)) return true;
      if (input_closed_ && completed_.taken() == issued_) return false;
      const auto wait_started = std::chrono::steady_clock::now();
      const std::uint64_t seen = events_.load(std::memory_order_acquire);
      lock.unlock();
      const bool arrived =
          consumer_spin_.spin([&] { return events_.load(std::memory_order_acquire) != seen; });
      lock.lock();
      // An event after the spin gave up found no waiting consumer to wake: look again first.
      if (!arrived && events_.load(std::memory_order_acquire) == seen) {
        consumer_waiting_ = true;
        ready_cv_.wait_for(lock, stop_watch_period); // a stop from outside cannot notify it
        consumer_waiting_ = false;
      }
      consumer_spin_.record(std::chrono::steady_clock::now() - wait_started);
    }
  }

  /// The inline backend: the consumer reads the next item and runs it itself, with no lock and no
  /// hand-off (there is no other thread), and makes its outcome current. False at the end.
  bool run_inline_item() {
    position_ = 0;
    current_.outcomes.clear();
    if (reader_.ended()) return false;
    if (stopping() || gate_.failures.halted(std::memory_order_relaxed)) {
      reader_.close();
      return false;
    }
    if (!inline_context_) inline_context_.emplace(context_of(0));
    read(inline_item_, 1);
    if (inline_item_.items.empty()) return false;
    process(0, *inline_context_, inline_item_, current_);
    return true;
  }

  void finish_progress() {
    if (bar_) bar_->finish();
  }

  void stop_and_join() {
    gate_.stop.request();
    // A run that ended by itself is not interrupted: its workers end as they would have (a stop
    // asked or a loop left before the end has interrupted it already).
    if (!ran_to_end_.load(std::memory_order_acquire)) executor_->interrupt();
    {
      std::unique_lock lock(mutex_);
      space_.notify_all();
      ready_cv_.wait(lock, [&] { return running_ == 0; });
    }
    executor_->finish(); // joins its threads, ends its processes, drains its channels
    finish_progress();
    if (trace_live_) trace_->write_once(); // never throws: a failure is reported on stderr
  }

  /// What the backend needs of the options.
  static item_limits limits_of(const map_options& options) noexcept {
    return item_limits{.timeout = options.timeout,
                       .retries = options.retries,
                       .max_items_per_worker = options.max_items_per_worker};
  }

  View view_;
  map_options options_;
  // The run's stop and failure budget. Its stop may be asked from a signal handler (lock-free).
  run_gate gate_;
  // The workers' function (and per-worker objects). Shared: a call the mpi backend abandons after
  // its time limit goes on using it after the run has ended.
  std::shared_ptr<slots> slots_;
  // Where chunks run; it says how many workers there are (the slots are sized after it).
  std::unique_ptr<executor<input, result>> executor_;
  const bool in_place_; // the consumer runs every item itself (inline)
  std::size_t workers_;
  chunk_sizing sizing_;
  std::unique_ptr<progress_bar> bar_;
  std::optional<journal> journal_;        // .journal
  std::shared_ptr<trace_recorder> trace_; // .trace, or a pipeline's recorder; null: not recorded
  std::size_t trace_lane_ = 0;            // the trace lane of worker 0
  bool owns_trace_ = false;               // this run writes the trace (a map's own, not a pipeline's)
  bool trace_live_ = false;               // it owns the trace and drives the run: it writes the file
  bool prepared_ = false;

  std::mutex input_mutex_;    // guards the reader
  input_reader<View> reader_; // from start()
  std::size_t total_ = 0;     // the input's size, when it is a sized range

  std::mutex mutex_;                 // guards what follows
  std::condition_variable space_;    // workers wait here for room in the window
  std::condition_variable ready_cv_; // the consumer waits here for outcomes; the destructor for workers
  std::size_t in_flight_ = 0;
  std::size_t issued_ = 0; // chunks handed to workers
  std::size_t running_ = 0;
  std::size_t workers_waiting_ = 0;
  bool consumer_waiting_ = false;
  bool input_closed_ = false; // no chunk will be issued after `issued_`
  std::exception_ptr engine_error_;
  completed_chunks<result_chunk> completed_;        // chunks done and not yet taken by the consumer
  std::vector<std::vector<outcome<result>>> spare_; // spent outcome buffers, for reuse

  // Changes whenever something the consumer may wait for happens (a chunk completes, the input
  // closes, a worker ends), always under mutex_: the consumer's spin watches it, and it looks at it
  // again under the lock before sleeping, so no such event can slip between its spin and its sleep.
  std::atomic<std::uint64_t> events_{0};
  adaptive_spin consumer_spin_; // a consumer whose waits are short spins instead of sleeping

  // In place (inline) only: the item being run, and the consumer's worker context.
  input_chunk inline_item_;
  std::optional<worker_context> inline_context_;

  // The consumer's own (no lock): the chunk being yielded.
  result_chunk current_;
  std::size_t position_ = 0;
  bool finished_ = false;
  bool closed_ = false; // close() has run: the run is over and joined
  // Set by the consumer when it found every chunk taken (not at a stop, a failure or an error);
  // read by the workers as they retire and by the destructor.
  std::atomic<bool> ran_to_end_{false};
};

} // namespace parmill::detail
