// parmill/detail/executor.hpp: the one seam between a map (or a pipeline stage) and the backend its
// workers run on. The map hands an executor chunks of items, one call per chunk (never per item),
// and never asks which backend it is; an executor runs the chunk on one of its workers (a thread,
// a worker process, a worker slot on another rank) and hands back one outcome per item.
//
// A run's life, as the map drives it:
//   open(stopped)      every process that takes part (collective on mpi); says who drives the run
//   prepare()          before any thread of the run exists (processes fork their spawner here)
//   start(main)        size() workers, each calling main(w) on a thread of the executor
//     run(w, ...)      from worker w's thread, chunk after chunk
//     retire(w, ...)   worker w has no more chunks
//   interrupt()        any time, from any thread or a signal handler: the run is stopping
//   finish()           once every worker has retired: threads joined, processes ended
// An executor that runs in place (inline) has no workers: the consumer runs each item itself, as
// it asks for it, with `run_items_here` (parmill/detail/local_executor.hpp), and start, run and
// retire are never called.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "parmill/outcome.hpp"
#include "parmill/thread_pool.hpp"
#include "parmill/worker_context.hpp"

namespace parmill::detail {

/// What a backend needs to know about each item of a run, and nothing more of the map's options.
struct item_limits {
  /// An item still running after this long fails as `timed_out` (zero: no limit). Only
  /// executors that can stop a running item accept one.
  std::chrono::nanoseconds timeout{0};
  /// How many more times a failed item is tried before its failure counts.
  std::size_t retries = 0;
  /// A worker process is replaced after this many items (zero: never).
  std::size_t max_items_per_worker = 0;
};

/// What running a chunk reports besides its outcomes.
struct chunk_report {
  /// How long the worker itself took, when it knows that better than the caller's clock (a slot on
  /// another rank, whose round trip includes the network); zero: the caller times the call.
  std::chrono::nanoseconds worker_time{0};
  std::size_t failed = 0;    ///< outcomes that are failures other than cancellations
  std::size_t cancelled = 0; ///< outcomes of items that did not run to their end: the run stopped
  /// Failed attempts that were tried again (`.retries`), where the executor sees them: exceptions on
  /// inline and threads, crashes and timeouts on processes (a worker process retries an exception
  /// itself, unseen). Only a `.trace` reads it.
  std::size_t retried = 0;
};

/// What this process does in a run, as `executor::open` decides.
enum class run_role {
  drive,  ///< it reads the input, hands out chunks and yields the outcomes
  served, ///< it served workers for another process's run, which has ended: it has no outcomes
  skip,   ///< the run was stopped before it began: nothing starts
};

/// Where the chunks of a run go. Thread-safety: `run(w, ...)` and `retire(w, ...)` are called only
/// from worker w's thread; `interrupt()` from anywhere, including a signal handler; the rest from
/// the thread that drives the run.
template <class In, class Result>
class executor {
public:
  virtual ~executor() = default;

  /// Workers the map drives, each from a thread of the executor (1 when running in place).
  [[nodiscard]] virtual std::size_t size() const noexcept = 0;
  /// How many workers compute at once: the default window holds four chunks for each of them, and
  /// a consumer spins only while they leave a core idle. At most `size()` (mpi drives more workers
  /// than compute, to keep requests queued ahead of each slot).
  [[nodiscard]] virtual std::size_t busy() const noexcept = 0;
  /// Where the workers run, as their `worker_context` says.
  [[nodiscard]] virtual backend_kind kind() const noexcept = 0;
  /// True when the consumer runs each item itself as it asks for it, with no thread and no
  /// hand-off (inline): `start`, `run` and `retire` are then never called.
  [[nodiscard]] virtual bool in_place() const noexcept = 0;

  /// Takes part in opening the run. `stopped`: the run was stopped before it began. Throws when the
  /// run cannot use this backend (the caller's own pool thread, types that cannot cross).
  [[nodiscard]] virtual run_role open(bool stopped) = 0;
  /// Does what must happen before any thread of the run exists (a fork copies only the forking
  /// thread). Called once, before `start`, possibly long before (a pipeline prepares every stage
  /// before it starts any).
  virtual void prepare() = 0;
  /// Starts `size()` workers, each calling `worker_main(w)` once on a thread of the executor.
  /// Throws, having started none, when the run's limits cannot be kept (a `.timeout` on threads).
  virtual void start(std::function<void(std::size_t)> worker_main) = 0;
  /// Runs `items` (the first has index `first`) on worker `w`, whose context is `context`,
  /// appending one outcome per item to `out`, in order. Failures are recorded in the run's failure
  /// budget as they are found. Throws only when the run cannot go on (a rank is lost).
  virtual chunk_report run(std::size_t w, const worker_context& context, std::size_t first,
                           std::vector<In>& items, std::vector<outcome<Result>>& out) = 0;
  /// Worker `w` has no more chunks (`stopping`: because the run is stopping).
  virtual void retire(std::size_t w, bool stopping) = 0;
  /// The run is stopping: running items are stopped where that is possible, and no chunk starts
  /// any more. Async-signal-safe; may come before `prepare` and after `finish`.
  virtual void interrupt() noexcept = 0;
  /// Once every started worker has returned: joins the executor's threads and ends its processes
  /// and channels. Called once, also when the run never started.
  virtual void finish() noexcept = 0;
};

/// The threads a run drives its workers from: the caller's pool, or threads of its own made with
/// SIGINT, SIGTERM, SIGHUP and SIGQUIT blocked (a thread inherits its creator's mask), so that the
/// program's handler of these signals runs on one of its own threads, never on one of the run's.
class worker_threads {
public:
  /// Threads of the run's own (`pool` null), or `pool`'s, which the caller keeps alive.
  explicit worker_threads(thread_pool* pool = nullptr) noexcept : pool_(pool) {}

  /// The caller's pool, or null.
  [[nodiscard]] thread_pool* borrowed() const noexcept { return pool_; }

  /// Calls `worker_main(w)` for w in 0 .. n-1, each on a thread.
  void start(std::size_t n, std::function<void(std::size_t)> worker_main) {
    main_ = std::move(worker_main);
    thread_pool* pool = pool_ != nullptr ? pool_ : &make_own(n);
    for (std::size_t w = 0; w < n; ++w)
      pool->post([this, w] { main_(w); });
  }
  /// Joins the threads of the run's own (the caller's pool is left as it is).
  void join() noexcept { own_.reset(); }

private:
  thread_pool& make_own(std::size_t n) {
    sigset_t terminal_signals, previous;
    sigemptyset(&terminal_signals);
    for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT})
      sigaddset(&terminal_signals, s);
    ::pthread_sigmask(SIG_BLOCK, &terminal_signals, &previous);
    try {
      own_.emplace(n);
    } catch (...) {
      ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      throw;
    }
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    return *own_;
  }

  thread_pool* pool_;
  std::function<void(std::size_t)> main_;
  std::optional<thread_pool> own_;
};

} // namespace parmill::detail
