// The thread pool's scheduler: per-thread queues, stealing, spinning before sleeping, and a
// helping wait. See include/parmill/thread_pool.hpp for the guarantees.
#include "parmill/thread_pool.hpp"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "parmill/detail/spin.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace parmill::detail {
namespace {

/// A growable ring of tasks. Not synchronised: its owner guards it with a lock.
class task_ring {
public:
  task_ring() : slots_(64) {}
  [[nodiscard]] bool empty() const noexcept { return head_ == tail_; }
  [[nodiscard]] std::size_t size() const noexcept { return tail_ - head_; }
  void push(task&& t) {
    if (size() == slots_.size()) grow();
    slots_[tail_++ & (slots_.size() - 1)] = std::move(t);
  }
  task pop() { return std::move(slots_[head_++ & (slots_.size() - 1)]); }

private:
  void grow() {
    std::vector<task> bigger(slots_.size() * 2);
    for (std::size_t i = 0; head_ + i != tail_; ++i)
      bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    tail_ -= head_;
    head_ = 0;
    slots_ = std::move(bigger);
  }
  std::vector<task> slots_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
};

/// One thread's queue, on a cache line of its own. `queued` mirrors the ring's size so that
/// thieves skip empty queues without touching the lock.
struct alignas(64) worker_queue {
  spinlock lock;
  task_ring ring;
  std::atomic<std::size_t> queued{0};
  std::atomic<std::size_t> enqueued{0};              // written only under `lock`; read by all_done()
  alignas(64) std::atomic<std::size_t> completed{0}; // written only by the owning thread
};

thread_local pool_core* current_pool = nullptr;
thread_local std::size_t current_index = 0;
thread_local std::size_t external_round_robin = 0; // where this thread's next external post goes

constexpr std::size_t not_a_worker = static_cast<std::size_t>(-1);
// Sleeping and waking on a 32-bit word with the futex system call directly. With libstdc++ 12's
// std::atomic<unsigned>::wait/notify, a map test hung once with a task queued and the pool's only
// thread asleep; libstdc++'s notify skips the system call when its own waiter count says nobody
// waits, which is one more protocol to trust. The futex checks the word itself, atomically.
void futex_wait(const std::atomic<unsigned>& word, unsigned expected) noexcept {
  static_assert(sizeof(std::atomic<unsigned>) == sizeof(unsigned));
  ::syscall(SYS_futex, reinterpret_cast<const unsigned*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr,
            nullptr, 0);
}
void futex_wake(std::atomic<unsigned>& word, int count) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<unsigned*>(&word), FUTEX_WAKE_PRIVATE, count, nullptr, nullptr, 0);
}

constexpr int spins_before_sleep = 2000; // about 20-50 us of looking before a futex sleep

} // namespace

class pool_core {
public:
  explicit pool_core(std::size_t threads)
      : queues_(threads == 0 ? std::max(1U, std::thread::hardware_concurrency()) : threads) {
    threads_.reserve(queues_.size());
    try {
      for (std::size_t i = 0; i < queues_.size(); ++i)
        threads_.emplace_back([this, i] { run_worker(i); });
    } catch (...) {
      shutdown(true);
      throw;
    }
  }

  ~pool_core() { shutdown(false); }

  [[nodiscard]] std::size_t size() const noexcept { return queues_.size(); }
  [[nodiscard]] std::stop_token stop_token() const noexcept { return stop_.get_token(); }
  [[nodiscard]] bool is_own_thread() const noexcept { return current_pool == this; }
  [[nodiscard]] std::size_t own_index() const noexcept {
    return current_pool == this ? current_index : not_a_worker;
  }

  void enqueue(task&& t) {
    if (closed_.load(std::memory_order_acquire)) {
      // Running tasks may still post while shutdown drains the queues; anyone else may not.
      if (!is_own_thread()) throw std::logic_error("parmill::thread_pool: work posted after shutdown()");
      if (cancelling_.load(std::memory_order_acquire)) {
        t.reset(); // shutdown(true): cancelled like the rest of the queued work
        return;
      }
    }
    // A task posted from one of the pool's threads stays local; others are dealt round robin.
    std::size_t target = own_index();
    if (target == not_a_worker) target = external_round_robin++ % queues_.size();
    worker_queue& q = queues_[target];
    {
      std::lock_guard guard(q.lock);
      q.ring.push(std::move(t));
      q.queued.store(q.ring.size(), std::memory_order_relaxed);
      q.enqueued.store(q.enqueued.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    // Dekker with a sleeper that registers, then looks at the queues once more before sleeping.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) > 0) wake_one();
  }

  /// Runs one queued task on this thread (own queue first, then stealing); false if none.
  bool run_one(std::size_t self) {
    task t;
    if (!take(self, t)) return false;
    run(t, self);
    return true;
  }

  void wait() {
    if (is_own_thread())
      throw std::logic_error(
          "parmill::thread_pool::wait() called from one of its own threads, where it would wait "
          "for itself; wait on the futures returned by submit() instead");
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    for (;;) {
      while (run_one(not_a_worker)) {
      }
      const auto epoch = done_epoch_.load(std::memory_order_acquire);
      if (all_done()) break;
      bool found = false;
      for (int spin = 0; spin < spins_before_sleep && !found; ++spin) {
        cpu_relax();
        found = any_queued() || all_done();
      }
      if (!found) futex_wait(done_epoch_, epoch);
    }
    waiters_.fetch_sub(1, std::memory_order_relaxed);
    std::exception_ptr error;
    {
      std::lock_guard guard(error_mutex_);
      error = std::exchange(first_error_, nullptr);
    }
    if (error) std::rethrow_exception(error);
  }

  void shutdown(bool cancel_pending) {
    if (is_own_thread())
      throw std::logic_error("parmill::thread_pool::shutdown() called from one of its own threads");
    std::lock_guard guard(shutdown_mutex_);
    closed_.store(true, std::memory_order_seq_cst);
    if (cancel_pending) {
      cancelling_.store(true, std::memory_order_seq_cst);
      // Drop before requesting stop: stop callbacks run right here and may free threads that
      // would otherwise start the queued tasks.
      drop_queued();
      stop_.request_stop();
    }
    stopping_.store(true, std::memory_order_seq_cst);
    wake_all();
    for (auto& th : threads_)
      if (th.joinable()) th.join();
    threads_.clear();
    drop_queued(); // nothing can be queued now, but never leave a future hanging
    std::lock_guard error_guard(error_mutex_);
    if (first_error_ && !reported_at_shutdown_) {
      reported_at_shutdown_ = true;
      report_unobserved(first_error_);
    }
  }

  void help_until(const std::atomic<bool>& ready) {
    const std::size_t self = own_index();
    while (!ready.load(std::memory_order_acquire)) {
      if (run_one(self)) continue;
      // Nothing queued: the awaited task is running on another thread, so block until it is done.
      for (int spin = 0; spin < spins_before_sleep; ++spin) {
        if (ready.load(std::memory_order_acquire) || any_queued()) break;
        cpu_relax();
      }
      if (!ready.load(std::memory_order_acquire) && !any_queued())
        ready.wait(false, std::memory_order_acquire);
    }
  }

private:
  void run_worker(std::size_t self) {
    current_pool = this;
    current_index = self;
    int idle = 0;
    for (;;) {
      if (run_one(self)) {
        idle = 0;
        continue;
      }
      if (idle == 0) notify_waiters_if_done();
      if (stopping_.load(std::memory_order_acquire) && !any_queued()) break;
      if (++idle < spins_before_sleep) {
        cpu_relax();
        if (idle % 64 == 0) std::this_thread::yield();
        continue;
      }
      sleep();
      idle = 0;
    }
    notify_waiters_if_done();
    current_pool = nullptr;
  }

  bool take(std::size_t self, task& out) {
    const std::size_t n = queues_.size();
    const std::size_t start = self == not_a_worker ? external_round_robin++ : self;
    for (std::size_t k = 0; k < n; ++k) {
      worker_queue& q = queues_[(start + k) % n];
      if (q.queued.load(std::memory_order_relaxed) == 0) continue;
      std::lock_guard guard(q.lock);
      if (q.ring.empty()) continue;
      out = q.ring.pop();
      q.queued.store(q.ring.size(), std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  void run(task& t, std::size_t self) {
    pool_core* const outer_pool = current_pool;
    const std::size_t outer_index = current_index;
    current_pool = this; // tasks run by a helping external thread may post and wait too
    current_index = self;
    try {
      t();
    } catch (...) {
      std::lock_guard guard(error_mutex_);
      if (!first_error_) first_error_ = std::current_exception();
    }
    t.reset();
    current_pool = outer_pool;
    current_index = outer_index;
    if (self == not_a_worker) {
      external_completed_.fetch_add(1, std::memory_order_release);
    } else {
      auto& c = queues_[self].completed;
      c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
  }

  [[nodiscard]] bool any_queued() const noexcept {
    return std::any_of(queues_.begin(), queues_.end(),
                       [](const worker_queue& q) { return q.queued.load(std::memory_order_relaxed) != 0; });
  }

  // Completions are read before submissions: a task counts as submitted before it can complete,
  // so equal sums read in this order mean that nothing submitted was still pending.
  [[nodiscard]] bool all_done() const noexcept {
    std::size_t done = external_completed_.load(std::memory_order_acquire);
    for (const auto& q : queues_)
      done += q.completed.load(std::memory_order_acquire);
    std::size_t submitted = 0;
    for (const auto& q : queues_)
      submitted += q.enqueued.load(std::memory_order_acquire);
    return done == submitted;
  }

  void notify_waiters_if_done() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (waiters_.load(std::memory_order_relaxed) > 0 && all_done()) {
      done_epoch_.fetch_add(1, std::memory_order_release);
      futex_wake(done_epoch_, INT_MAX);
    }
  }

  void sleep() {
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    const auto epoch = wake_epoch_.load(std::memory_order_acquire);
    if (!any_queued() && !stopping_.load(std::memory_order_seq_cst)) futex_wait(wake_epoch_, epoch);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

  void wake_one() {
    wake_epoch_.fetch_add(1, std::memory_order_release);
    futex_wake(wake_epoch_, 1);
  }
  void wake_all() {
    wake_epoch_.fetch_add(1, std::memory_order_release);
    futex_wake(wake_epoch_, INT_MAX);
  }

  void drop_queued() {
    for (auto& q : queues_) {
      std::size_t dropped = 0;
      {
        std::lock_guard guard(q.lock);
        while (!q.ring.empty()) {
          task t = q.ring.pop();
          t.reset(); // a submitted task's future learns it was cancelled
          ++dropped;
        }
        q.queued.store(0, std::memory_order_relaxed);
      }
      external_completed_.fetch_add(dropped, std::memory_order_release);
    }
    done_epoch_.fetch_add(1, std::memory_order_release);
    futex_wake(done_epoch_, INT_MAX);
  }

  static void report_unobserved(const std::exception_ptr& error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "parmill::thread_pool: a posted task threw and no wait() rethrew it: %s\n",
                   e.what());
    } catch (...) {
      std::fprintf(
          stderr,
          "parmill::thread_pool: a posted task threw a non-standard exception and no wait() rethrew it\n");
    }
  }

  std::vector<worker_queue> queues_;
  std::vector<std::thread> threads_;
  std::stop_source stop_;
  alignas(64) std::atomic<std::size_t> external_completed_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<unsigned> wake_epoch_{0};
  alignas(64) std::atomic<int> waiters_{0};
  std::atomic<unsigned> done_epoch_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cancelling_{false};
  std::mutex error_mutex_;
  std::exception_ptr first_error_;
  bool reported_at_shutdown_ = false;
  std::mutex shutdown_mutex_;
};

void wait_until_ready(const std::atomic<bool>& ready) {
  if (ready.load(std::memory_order_acquire)) return;
  if (current_pool != nullptr) {
    current_pool->help_until(ready);
  } else {
    ready.wait(false, std::memory_order_acquire);
  }
}

} // namespace parmill::detail

namespace parmill {

thread_pool::thread_pool(std::size_t threads) : core_(std::make_unique<detail::pool_core>(threads)) {}
thread_pool::~thread_pool() = default;
std::size_t thread_pool::size() const noexcept { return core_->size(); }
void thread_pool::enqueue(detail::task&& t) { core_->enqueue(std::move(t)); }
void thread_pool::wait() { core_->wait(); }
void thread_pool::shutdown(bool cancel_pending) { core_->shutdown(cancel_pending); }
std::stop_token thread_pool::stop_token() const noexcept { return core_->stop_token(); }
std::optional<std::size_t> thread_pool::current_thread_index() const noexcept {
  const std::size_t i = core_->own_index();
  if (i == detail::not_a_worker) return std::nullopt;
  return i;
}

} // namespace parmill
