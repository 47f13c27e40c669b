// parmill/detail/pipeline_item.hpp: what travels between the stages of a pipeline, and the state
// that every stage of one pipeline shares (its stop, its first halting failure, its stats).
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <variant>

#include "parmill/codec.hpp"
#include "parmill/outcome.hpp"
#include "parmill/pipeline_report.hpp"

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

/// The state one pipeline's stages share. Lives as long as the longest-lived of its stages.
struct pipeline_control {
  std::stop_source stop;
  bool halt_on_failure = true; // on_error::raise
  pipeline_stats stats;

  [[nodiscard]] bool stopping() const noexcept { return stop.stop_requested(); }

  /// Records the run's halting failure (the first one recorded wins) and stops the pipeline.
  void halt(item_error error) {
    {
      std::lock_guard lock(mutex_);
      if (!halted_) halted_ = std::move(error);
    }
    stop.request_stop();
  }
  /// The halting failure, if there was one.
  [[nodiscard]] std::optional<item_error> halted() {
    std::lock_guard lock(mutex_);
    return halted_;
  }

private:
  std::mutex mutex_;
  std::optional<item_error> halted_;
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
