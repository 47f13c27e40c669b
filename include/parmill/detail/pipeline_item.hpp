// parmill/detail/pipeline_item.hpp: what travels between the stages of a pipeline, and the state
// that every stage of one pipeline shares (its stop, its first halting failure, its stats).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <sys/mman.h>

#include "parmill/codec.hpp"
#include "parmill/detail/pipeline_stats.hpp"
#include "parmill/detail/trace_recorder.hpp"
#include "parmill/map_options.hpp"
#include "parmill/outcome.hpp"

namespace parmill::detail {

/// An item a stage filtered out (its function returned an empty optional).
struct dropped_item {};

/// A failure travelling down the pipeline to the consumer: which stage, which worker, what.
struct stage_failure {
  std::string stage;
  std::size_t worker = 0;
  failure_kind kind = failure_kind::exception;
  std::string message;
  std::string type;             // the exception's type name (kept across processes)
  std::exception_ptr exception; // the exception itself, when thrown in this process

  /// The failure `e` (its index aside) as stage `stage`'s; `type` names its exception's type.
  [[nodiscard]] static stage_failure of(item_error e, std::string stage, std::string type = {}) {
    return stage_failure{.stage = std::move(stage),
                         .worker = e.worker,
                         .kind = e.kind,
                         .message = std::move(e.message),
                         .type = std::move(type),
                         .exception = std::move(e.exception)};
  }

  [[nodiscard]] item_error to_error(std::size_t index) const {
    std::exception_ptr e = exception;
    if (!e && kind == failure_kind::exception) e = std::make_exception_ptr(remote_error(type, message));
    return item_error{
        .index = index, .worker = worker, .kind = kind, .message = message, .exception = e, .stage = stage};
  }
};

/// A failure as carried: on the heap and shared (it is never changed once made), so that an item
/// is hardly bigger than its value.
using shared_failure = std::shared_ptr<const stage_failure>;

/// One item between stages: the index of the source item it came from (a batch: its first item's),
/// and its value, or that it was dropped, or how it failed.
template <class T>
struct carried {
  using value_type = T;
  std::size_t index = 0;
  std::optional<T> held; // the value, when there is one
  shared_failure failed; // the failure, when there is one; neither: the item was dropped
  // (An optional and a pointer rather than a variant: moving them needs no dispatch, and items
  // move several times on a pipeline's hot path.)

  carried(std::size_t i, T value) : index(i), held(std::in_place, std::move(value)) {}
  carried(std::size_t i, dropped_item) : index(i) {}
  carried(std::size_t i, stage_failure f)
      : index(i), failed(std::make_shared<const stage_failure>(std::move(f))) {}
  carried(std::size_t i, shared_failure f) : index(i), failed(std::move(f)) {}

  [[nodiscard]] bool ok() const noexcept { return held.has_value(); }
  [[nodiscard]] bool dropped() const noexcept { return !held && !failed; }
  [[nodiscard]] T& value() noexcept { return *held; }
  [[nodiscard]] const stage_failure& failure() const noexcept { return *failed; }

  /// The same failure or drop, carried as another type (values have no meaning there).
  template <class U>
  [[nodiscard]] carried<U> without_value() && {
    if (dropped()) return carried<U>{index, dropped_item{}};
    return carried<U>{index, std::move(failed)};
  }
};

/// No halting failure yet: every index is before the cutoff.
inline constexpr std::size_t no_failure_cutoff = std::numeric_limits<std::size_t>::max();

/// The words every stage reads before each call: whether the pipeline stops, and the index after
/// which no item starts. They live in memory shared with worker processes (mapped before any is
/// forked), so a stage on `processes` obeys them too. Lock-free atomics work across processes.
struct pipeline_signals {
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> cutoff{no_failure_cutoff};
  static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::size_t>::is_always_lock_free);
};

/// The state one pipeline's stages share. Lives as long as the longest-lived of its stages.
///
/// Errors follow map's policies: the failures of every stage are counted by the source index of
/// their item; once more than `max_failures` are known, the (max_failures+1)-th smallest failing
/// index is the cutoff (failures found later can only lower it): no item after it starts in any
/// stage, items before it go on to the consumer, and the consumer throws when it meets the failure
/// beyond its budget. A stop (the loop left, `stop()`, the destructor) ends every stage at once.
class pipeline_control {
public:
  /// `max_failures`: 0 for `raise`, `unlimited` for a `yield` run that never halts.
  explicit pipeline_control(std::size_t max_failures) : max_failures_(max_failures) {
    void* memory =
        ::mmap(nullptr, sizeof(pipeline_signals), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    signals_ = new (memory) pipeline_signals();
  }
  ~pipeline_control() {
    signals_->~pipeline_signals();
    ::munmap(signals_, sizeof(pipeline_signals));
  }
  pipeline_control(const pipeline_control&) = delete;
  pipeline_control& operator=(const pipeline_control&) = delete;

  pipeline_stats stats; ///< every stage's counters
  /// `.trace`: every stage's workers record their chunks here, one lane each; null when off.
  std::shared_ptr<trace_recorder> trace;

  /// True once the pipeline is stopping: no call starts and every puller answers "the end".
  [[nodiscard]] bool stopping() const noexcept { return signals_->stopped.load(std::memory_order_relaxed); }
  /// Stops every stage (from any thread, and from the consumer when it leaves the loop).
  void request_stop() noexcept { signals_->stopped.store(true, std::memory_order_relaxed); }
  /// The consumer met the end of the run, with no stop and no halting failure: the stages' workers
  /// then end by themselves when the pipeline is destroyed (each destroys its per-worker object to
  /// the end); otherwise they are stopped, killed on processes.
  void mark_ran_to_end() noexcept { ran_to_end_.store(true, std::memory_order_release); }
  /// True once `mark_ran_to_end()` was called.
  [[nodiscard]] bool ran_to_end() const noexcept { return ran_to_end_.load(std::memory_order_acquire); }

  /// True when the item from source index `index` must not start: it comes after a halting failure.
  [[nodiscard]] bool past_cutoff(std::size_t index) const noexcept {
    return index > signals_->cutoff.load(std::memory_order_relaxed);
  }
  /// True when failures can halt the run (`raise`, or `yield` with a `max_failures`).
  [[nodiscard]] bool halts() const noexcept { return max_failures_ != unlimited; }
  /// Most failures the consumer yields before the next one halts the run.
  [[nodiscard]] std::size_t max_failures() const noexcept { return max_failures_; }

  /// Notes the failure of the item from source index `error.index` (idempotent per index) and
  /// lowers the cutoff once the budget is exceeded. In a worker process only the shared cutoff
  /// is seen by the others; the parent records the failure again when it comes back.
  void record_failure(const item_error& error) {
    if (!halts()) return;
    std::size_t cutoff = no_failure_cutoff;
    {
      std::lock_guard lock(mutex_);
      failures_.emplace(error.index, error);
      if (failures_.size() > max_failures_ + 1) failures_.erase(std::prev(failures_.end()));
      if (failures_.size() == max_failures_ + 1) cutoff = failures_.rbegin()->first;
    }
    std::size_t now = signals_->cutoff.load(std::memory_order_relaxed);
    while (cutoff < now && !signals_->cutoff.compare_exchange_weak(now, cutoff, std::memory_order_relaxed)) {
    }
  }
  /// The failure the run halts at, once the budget is exceeded.
  [[nodiscard]] std::optional<item_error> halted() {
    std::lock_guard lock(mutex_);
    if (!halts() || failures_.size() != max_failures_ + 1) return std::nullopt;
    return failures_.rbegin()->second;
  }

private:
  std::size_t max_failures_;
  pipeline_signals* signals_ = nullptr;
  std::atomic<bool> ran_to_end_{false};
  std::mutex mutex_;
  std::map<std::size_t, item_error> failures_; // the smallest max_failures+1 failing indices
};

} // namespace parmill::detail

namespace parmill {

/// A pipeline's items cross process boundaries (a stage on `processes(n)`) with their failures.
template <class T>
struct codec<detail::carried<T>, std::enable_if_t<crossable_v<T>>> {
  static void encode(writer& w, const detail::carried<T>& c) {
    w.raw(static_cast<std::uint64_t>(c.index));
    w.raw(static_cast<std::uint8_t>(c.ok() ? 0 : c.dropped() ? 1 : 2));
    if (c.held) parmill::encode(w, *c.held);
    if (c.failed) {
      const detail::stage_failure* f = c.failed.get();
      parmill::encode(w, f->stage);
      parmill::encode(w, static_cast<std::uint64_t>(f->worker));
      parmill::encode(w, f->kind);
      parmill::encode(w, f->message);
      parmill::encode(w, f->type);
    }
  }
  static detail::carried<T> decode(reader& r) {
    const auto index = static_cast<std::size_t>(r.raw<std::uint64_t>());
    switch (r.raw<std::uint8_t>()) {
    case 0: return {index, parmill::decode<T>(r)};
    case 1: return {index, detail::dropped_item{}};
    case 2: {
      detail::stage_failure f;
      f.stage = parmill::decode<std::string>(r);
      f.worker = static_cast<std::size_t>(parmill::decode<std::uint64_t>(r));
      f.kind = parmill::decode<failure_kind>(r);
      f.message = parmill::decode<std::string>(r);
      f.type = parmill::decode<std::string>(r);
      return {index, std::move(f)};
    }
    default: throw codec_error("parmill::codec: a pipeline item is corrupt");
    }
  }
};

} // namespace parmill
