// parmill/detail/worker_slots.hpp: runs one item on worker i, building its state on first use.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

#include "parmill/worker_context.hpp"
#include "parmill/workers.hpp"

namespace parmill::detail {

/// What a worker returns, with `void` turned into `std::monostate` so every item has a value.
template <class R>
using stored_result_t = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

/// Calls `f(args...)`, giving `std::monostate` for a `void` result.
template <class F, class... A>
stored_result_t<std::invoke_result_t<F, A...>> call_storing(F&& f, A&&... a) {
  if constexpr (std::is_void_v<std::invoke_result_t<F, A...>>) {
    std::invoke(std::forward<F>(f), std::forward<A>(a)...);
    return {};
  } else {
    return std::invoke(std::forward<F>(f), std::forward<A>(a)...);
  }
}

/// A plain function as a worker: stateless, shared by every worker.
template <class Worker, class In>
class worker_slots {
public:
  using result = stored_result_t<std::invoke_result_t<const Worker&, In&>>;
  explicit worker_slots(Worker w, std::size_t /*workers*/ = 0) : worker_(std::move(w)) {}
  /// Sets the number of workers (a plain function needs no room per worker).
  void set_workers(std::size_t) noexcept {}
  result call(std::size_t, const worker_context&, In& item) const { return call_storing(worker_, item); }
  void release(std::size_t) noexcept {}

  /// A worker's state kept apart from the slots (see the per_worker form); a plain function has none.
  struct holder {};
  /// Runs `item` with the state in `h`.
  result call_with(holder&, const worker_context&, In& item) const { return call_storing(worker_, item); }

private:
  Worker worker_;
};

/// A `per_worker` factory as a worker: worker i's object is built by the factory inside worker i,
/// the first time it gets an item, and destroyed by `release(i)` (called by worker i as it ends).
template <class Factory, class In>
class worker_slots<per_worker_factory<Factory>, In> {
public:
  using object = std::invoke_result_t<Factory&, const worker_context&>;
  using result = stored_result_t<std::invoke_result_t<object&, In&>>;

  explicit worker_slots(per_worker_factory<Factory> w, std::size_t workers = 0)
      : factory_(std::move(w.factory)), slots_(workers) {}
  /// Makes room for `workers` objects, none built; only before any call.
  void set_workers(std::size_t workers) { slots_ = std::vector<slot>(workers); }

  result call(std::size_t i, const worker_context& context, In& item) {
    auto& built_object = slots_[i].value;
    if (!built_object)
      built_object.emplace(built{factory_, context}); // a failure here fails this item; retried next
    return call_storing(*built_object, item);
  }
  void release(std::size_t i) noexcept { slots_[i].value.reset(); }

  /// A worker's object kept apart from the slots, for a thread that replaces one whose call never
  /// returned (the mpi backend after a timeout): the abandoned call keeps its object, and the
  /// replacement builds its own in a fresh holder, on its first item.
  struct holder {
    std::optional<object> value;
  };
  /// Runs `item` on the object in `h`, building it first if it is not built yet.
  result call_with(holder& h, const worker_context& context, In& item) {
    if (!h.value) h.value.emplace(built{factory_, context}); // a failure here fails this item
    return call_storing(*h.value, item);
  }

private:
  // Converts to the object by calling the factory, so the object is built in place (no move).
  struct built {
    Factory& factory;
    const worker_context& context;
    operator object() const { return factory(context); } // NOLINT(google-explicit-constructor)
  };
  struct alignas(64) slot {
    std::optional<object> value;
  };
  Factory factory_;
  std::vector<slot> slots_;
};

} // namespace parmill::detail
