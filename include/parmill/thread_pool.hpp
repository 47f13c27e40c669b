// parmill/thread_pool.hpp: a work-stealing thread pool with futures, bulk posting and a helping wait.
#pragma once

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "parmill/backend.hpp"
#include "parmill/detail/task.hpp"
#include "parmill/export.hpp"

namespace parmill {

/// Thrown by `future::get()` when the task never ran because its pool was shut down with
/// `cancel_pending = true`.
class PARMILL_API task_cancelled : public std::runtime_error {
public:
  task_cancelled() : std::runtime_error("parmill: the task was cancelled before it ran") {}
};

namespace detail {

class pool_core;

/// Blocks until `ready` is true. On a thread of a parmill pool it runs that pool's queued tasks
/// while it waits, so a task may wait for work it submitted without deadlocking the pool.
PARMILL_API void wait_until_ready(const std::atomic<bool>& ready);

/// The state a `future` shares with the task that fulfils it.
template <class T>
struct future_state {
  using stored = std::conditional_t<std::is_void_v<T>, bool, T>;
  std::atomic<bool> ready{false};
  std::optional<stored> value;
  std::exception_ptr error;

  template <class... V>
  void set_value(V&&... v) {
    value.emplace(std::forward<V>(v)...);
    publish();
  }
  void set_error(std::exception_ptr e) {
    error = std::move(e);
    publish();
  }

private:
  void publish() {
    ready.store(true, std::memory_order_release);
    ready.notify_all();
  }
};

/// The callable queued by `thread_pool::submit`: runs `fn`, fulfils the future, and marks the
/// future cancelled when destroyed without having run.
template <class T, class F>
struct submitted_call {
  std::shared_ptr<future_state<T>> state;
  F fn;

  submitted_call(std::shared_ptr<future_state<T>> s, F f) : state(std::move(s)), fn(std::move(f)) {}
  submitted_call(submitted_call&&) noexcept(std::is_nothrow_move_constructible_v<F>) = default;
  submitted_call& operator=(submitted_call&&) = delete;
  ~submitted_call() {
    if (state) state->set_error(std::make_exception_ptr(task_cancelled()));
  }

  void operator()() {
    auto s = std::move(state); // from here on, destruction does not cancel
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<T>) {
        std::invoke(fn);
        s->set_value(true);
      } else {
        s->set_value(std::invoke(fn));
      }
      return;
    } catch (...) {
      error = std::current_exception();
    }
    // Published only once the handler has ended: the in-flight exception's last reference then
    // goes with the future, and this thread touches the exception no more (its reference count is
    // invisible to ThreadSanitizer, which otherwise sees this thread free what the waiter read).
    s->set_error(std::move(error));
  }
};

} // namespace detail

/// The result of `thread_pool::submit`. Like std::future, but `get()` and `wait()` called on a
/// thread of a parmill pool run other queued tasks while they wait, so waiting from inside a
/// worker does not deadlock the pool. Move-only; `get()` may be called once.
template <class T>
class future {
public:
  future() noexcept = default; ///< an empty future; `valid()` is false

  /// True when the future refers to a task (until `get()` is called).
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }
  /// True when the task has finished (with a value or an exception); never blocks.
  [[nodiscard]] bool ready() const noexcept {
    return state_ && state_->ready.load(std::memory_order_acquire);
  }
  /// Waits for the task to finish.
  void wait() const {
    require_valid();
    detail::wait_until_ready(state_->ready);
  }
  /// Waits, then returns the task's result or rethrows its exception (`task_cancelled` when the
  /// task never ran). Leaves the future empty.
  T get() {
    wait();
    auto state = std::move(state_);
    // The exception leaves the state, so that the catching thread holds its last reference: were
    // the state released last by the task's thread, the exception would be destroyed there while
    // the catcher still reads it (libstdc++'s reference count is invisible to TSan, which then
    // reports a race).
    if (state->error) std::rethrow_exception(std::exchange(state->error, nullptr));
    if constexpr (!std::is_void_v<T>) return std::move(*state->value);
  }

private:
  friend class thread_pool;
  explicit future(std::shared_ptr<detail::future_state<T>> s) : state_(std::move(s)) {}
  void require_valid() const {
    if (!state_) throw std::logic_error("parmill::future: no state (empty, or get() already called)");
  }

  std::shared_ptr<detail::future_state<T>> state_;
};

/// A fixed set of threads that run tasks from per-thread queues, stealing from each other when
/// their own queue is empty. Long-lived: create one and pass it to many maps as a backend.
///
/// Guarantees: every task posted or submitted before `shutdown()` runs exactly once, unless it
/// is cancelled by `shutdown(true)` (a submitted task's future then throws `task_cancelled`); an
/// exception thrown by a posted task is rethrown by the next `wait()`; the destructor runs what is
/// queued, joins every thread and never throws. Not guaranteed: the order in which tasks run.
/// Posting from another thread while `shutdown()` runs is a race of the caller's making.
class PARMILL_API thread_pool {
public:
  /// Starts `threads` threads; 0 means one per hardware thread.
  explicit thread_pool(std::size_t threads = 0);
  /// Same as `shutdown(false)`: runs what is queued, then joins every thread.
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  /// How many threads the pool runs.
  [[nodiscard]] std::size_t size() const noexcept;

  /// Queues `f(args...)` and returns a future of its result; exceptions travel through it.
  /// `f` and `args` are copied or moved into the task, and passed to the call as rvalues.
  /// Throws std::logic_error after `shutdown()`.
  template <class F, class... Args>
  [[nodiscard]] auto submit(F&& f, Args&&... args) {
    using result = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
    auto state = std::make_shared<detail::future_state<result>>();
    auto call = bind(std::forward<F>(f), std::forward<Args>(args)...);
    enqueue(detail::submitted_call<result, decltype(call)>(state, std::move(call)));
    return future<result>(std::move(state));
  }

  /// Queues `f(args...)` with no future: the cheapest way to hand over bulk work. An exception
  /// it throws is kept and rethrown by the next `wait()` (the first one, if several threw).
  /// Throws std::logic_error after `shutdown()`.
  template <class F, class... Args>
  void post(F&& f, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) {
      enqueue(detail::task(std::forward<F>(f)));
    } else {
      enqueue(detail::task(bind(std::forward<F>(f), std::forward<Args>(args)...)));
    }
  }

  /// Waits until every task posted or submitted so far (and any they post) has finished, running
  /// queued tasks on the calling thread meanwhile; then rethrows the first exception a posted task
  /// threw since the last `wait()`. Throws std::logic_error when called from one of this pool's
  /// own threads, where it would wait for itself: wait on the futures of `submit` instead.
  void wait();

  /// Stops accepting work and joins every thread. With `cancel_pending` false, queued tasks run
  /// first; with it true, they are dropped (their futures throw `task_cancelled`) and the pool's
  /// stop token is requested, so running tasks that watch it can end early. Idempotent; throws
  /// std::logic_error when called from one of the pool's own threads.
  void shutdown(bool cancel_pending = false);

  /// The token that `shutdown(true)` requests; long-running tasks may watch it.
  [[nodiscard]] std::stop_token stop_token() const noexcept;

  /// The index (0 .. size()-1) of the calling thread in this pool, or nothing when the caller
  /// is not one of its threads.
  [[nodiscard]] std::optional<std::size_t> current_thread_index() const noexcept;

private:
  // Copies or moves `f` and `args` into a call that runs once, passing them on as rvalues (as
  // std::thread and std::async do).
  template <class F, class... Args>
  static auto bind(F&& f, Args&&... args) {
    return [fn = std::forward<F>(f), ... a = std::forward<Args>(args)]() mutable -> decltype(auto) {
      return std::invoke(std::move(fn), std::move(a)...);
    };
  }
  void enqueue(detail::task&& t);

  std::unique_ptr<detail::pool_core> core_;
};

inline backend::backend(thread_pool& pool) noexcept : where_(backends::on_threads{pool.size(), &pool}) {}

} // namespace parmill
